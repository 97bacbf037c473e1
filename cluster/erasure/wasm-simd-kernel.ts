/**
 * The WebAssembly SIMD kernel: loads `wasm-simd-kernel.wasm` (built from
 * `wasm-simd-kernel.wat`, see that file for the loop) synchronously and feeds
 * it shards.
 *
 * WebAssembly code sees only its own linear memory, so each multiplication
 * copies its inputs in and its outputs out. Shards are taken in slices of at
 * most `sliceBytesMax` so that (a) the working set of one pass, k + rows
 * slices, stays in the core's L2 cache while the kernel reads what was just
 * copied in, and (b) the linear memory stays bounded whatever the shard
 * length. The copies are `TypedArray.set`, i.e. memcpy.
 *
 * Linear memory layout (byte offsets):
 *
 * | offset                        | bytes                  | holds                          |
 * |-------------------------------|------------------------|--------------------------------|
 * | 0                             | tablesBytesMax (8 KiB) | nibble tables of the matrix    |
 * | tablesBytesMax                | columns × stride       | input slices                   |
 * | tablesBytesMax + columns × st | rows × stride          | output slices                  |
 *
 * One module instance serves every codec in the process (or worker): calls are
 * synchronous, so two multiplications never share the memory at once.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assert } from "../../runtime/index.ts";
import { fieldMultiply } from "./galois.ts";
import type { MatrixKernel, PreparedMultiply } from "./matrix-kernel.ts";

/** Shards are multiplied in slices of this many bytes (a multiple of the 32-byte step). */
export const sliceBytesMax = 16 * 1024;
/** Every row × column pair of a k + m ≤ 32 scheme fits: rows · columns ≤ 16 · 16 pairs of 32 bytes. */
const tablesBytesMax = 16 * 16 * 32;
/** The kernel's loop consumes 32 bytes per step; lengths and strides are rounded up to it. */
const stepBytes = 32;
const pageBytes = 65536;

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  readonly multiply: (tables: number, rows: number, columns: number, inputs: number, outputs: number, stride: number, length: number) => void;
}

let compiled: WebAssembly.Module | null | undefined;
let instance: KernelExports | undefined;
let memoryBytes: Uint8Array = new Uint8Array(0);

/** The path of the built kernel, next to this file. */
export const wasmSimdKernelPath = fileURLToPath(new URL("./wasm-simd-kernel.wasm", import.meta.url));

/**
 * Whether this runtime can run the kernel: it compiles only where
 * WebAssembly SIMD is supported. The file itself is part of the source tree;
 * a missing file is a broken checkout and throws.
 */
export function wasmSimdAvailable(): boolean {
  if (compiled === undefined) {
    const bytes = readFileSync(wasmSimdKernelPath);
    compiled = typeof WebAssembly === "object" && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled !== null;
}

function kernelExports(): KernelExports {
  if (instance === undefined) {
    if (!wasmSimdAvailable()) throw new Error('erasure: kernel "wasm-simd" is not available: this runtime lacks WebAssembly SIMD');
    instance = new WebAssembly.Instance(compiled!).exports as unknown as KernelExports;
  }
  return instance;
}

/** The size of the kernel's linear memory now (0 before first use): it is bounded by the slice size, not the shard length. */
export function wasmSimdMemoryBytes(): number {
  return instance === undefined ? 0 : instance.memory.buffer.byteLength;
}

/** The memory as bytes, at least `bytes` long; growing detaches the old view, so it is re-made. */
function memoryOfAtLeast(exports: KernelExports, bytes: number): Uint8Array {
  const buffer = exports.memory.buffer;
  if (buffer.byteLength < bytes) exports.memory.grow(Math.ceil((bytes - buffer.byteLength) / pageBytes));
  if (memoryBytes.buffer !== exports.memory.buffer) memoryBytes = new Uint8Array(exports.memory.buffer);
  return memoryBytes;
}

/** The kernel on WebAssembly SIMD (i8x16.swizzle nibble tables). */
export const wasmSimdKernel: MatrixKernel = {
  name: "wasm-simd",
  prepare(matrix: Uint8Array, rows: number, columns: number): PreparedMultiply {
    assert(rows * columns * 32 <= tablesBytesMax, "wasm-simd: matrix too large for the table area");
    const exports = kernelExports();
    const tables = nibbleTables(matrix, rows, columns);
    return {
      rows,
      columns,
      multiply(inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void {
        if (rows === 0 || length === 0) return;
        const stride = Math.min(sliceBytesMax, roundUp(length, stepBytes));
        const inputsOffset = tablesBytesMax;
        const outputsOffset = inputsOffset + columns * stride;
        const memory = memoryOfAtLeast(exports, outputsOffset + rows * stride);
        // Tables are re-copied on every call because the memory is shared by
        // every prepared matrix; at most 8 KiB, usually a few hundred bytes.
        memory.set(tables, 0);
        for (let offset = 0; offset < length; offset += stride) {
          const sliceBytes = Math.min(stride, length - offset);
          for (let column = 0; column < columns; column += 1) {
            memory.set(inputs[column]!.subarray(offset, offset + sliceBytes), inputsOffset + column * stride);
          }
          // The bytes between sliceBytes and the next step boundary are stale
          // input from an earlier slice; they only produce output bytes past
          // sliceBytes, which are never copied out.
          exports.multiply(0, rows, columns, inputsOffset, outputsOffset, stride, roundUp(sliceBytes, stepBytes));
          for (let row = 0; row < rows; row += 1) {
            const start = outputsOffset + row * stride;
            outputs[row]!.set(memory.subarray(start, start + sliceBytes), offset);
          }
        }
      },
    };
  },
};

/**
 * The kernel's tables for `matrix`: for input j and output r, at (j·rows + r)·32,
 * sixteen bytes c·x then sixteen bytes c·(x << 4), x in [0, 16).
 */
export function nibbleTables(matrix: Uint8Array, rows: number, columns: number): Uint8Array {
  const tables = new Uint8Array(rows * columns * 32);
  for (let column = 0; column < columns; column += 1) {
    for (let row = 0; row < rows; row += 1) {
      const coefficient = matrix[row * columns + column]!;
      const base = (column * rows + row) * 32;
      for (let nibble = 0; nibble < 16; nibble += 1) {
        tables[base + nibble] = fieldMultiply(coefficient, nibble);
        tables[base + 16 + nibble] = fieldMultiply(coefficient, nibble << 4);
      }
    }
  }
  return tables;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
