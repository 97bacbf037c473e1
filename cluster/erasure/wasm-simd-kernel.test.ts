import { describe, expect, test } from "bun:test";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { fieldMultiply } from "./galois.ts";
import { portableKernel } from "./portable-kernel.ts";
import { nibbleTables, sliceBytesMax, wasmSimdAvailable, wasmSimdKernel, wasmSimdMemoryBytes } from "./wasm-simd-kernel.ts";

describe("wasm-simd kernel", () => {
  test("nibble tables: low[x] = c·x, high[x] = c·(x << 4), input-major", () => {
    const matrix = Uint8Array.from([3, 7, 0x8e, 1, 0, 255]);
    const tables = nibbleTables(matrix, 2, 3);
    for (let column = 0; column < 3; column += 1) {
      for (let row = 0; row < 2; row += 1) {
        const base = (column * 2 + row) * 32;
        for (let nibble = 0; nibble < 16; nibble += 1) {
          expect(tables[base + nibble]).toBe(fieldMultiply(matrix[row * 3 + column]!, nibble));
          expect(tables[base + 16 + nibble]).toBe(fieldMultiply(matrix[row * 3 + column]!, nibble << 4));
        }
      }
    }
  });

  if (!wasmSimdAvailable()) {
    console.log("wasm-simd: skipped (this runtime lacks WebAssembly SIMD)");
    test.skip("wasm-simd: skipped (this runtime lacks WebAssembly SIMD)", () => {});
    return;
  }

  test("equals the portable kernel for 1 to 16 rows (groups of four and the rest) across slice boundaries", () => {
    const seed = process.env.ERASURE_SEED === undefined ? randomSeed() : Number(process.env.ERASURE_SEED);
    console.log(`wasm-simd kernel seed=${seed} (replay: ERASURE_SEED=${seed} bun test cluster/erasure/)`);
    const random = seededRandom(seed);
    const lengths = [1, 31, 32, 33, 95, sliceBytesMax - 1, sliceBytesMax, sliceBytesMax + 1, 2 * sliceBytesMax + 37];
    for (let rows = 1; rows <= 16; rows += 1) {
      const columns = 1 + random.integer(16);
      const length = lengths[random.integer(lengths.length)]!;
      const matrix = random.bytes(rows * columns);
      const inputs = Array.from({ length: columns }, () => random.bytes(length));
      const expected = Array.from({ length: rows }, () => new Uint8Array(length));
      portableKernel.prepare(matrix, rows, columns).multiply(inputs, expected, length);
      // Outputs longer than `length` keep their tail: the kernel writes
      // exactly `length` bytes although it computes in 32-byte steps.
      const outputs = Array.from({ length: rows }, () => new Uint8Array(length + 5).fill(0xcc));
      wasmSimdKernel.prepare(matrix, rows, columns).multiply(inputs, outputs, length);
      outputs.forEach((output, row) => {
        expect(Buffer.compare(output.subarray(0, length), expected[row]!), `seed=${seed} rows ${rows} columns ${columns} length ${length}`).toBe(0);
        expect(Array.from(output.subarray(length))).toEqual([0xcc, 0xcc, 0xcc, 0xcc, 0xcc]);
      });
    }
  });

  test("linear memory stays bounded whatever the shard length", () => {
    const rows = 16;
    const columns = 16;
    const length = 8 * sliceBytesMax + 3;
    const inputs = Array.from({ length: columns }, () => new Uint8Array(length).fill(1));
    const outputs = Array.from({ length: rows }, () => new Uint8Array(length));
    const matrix = new Uint8Array(rows * columns).fill(1);
    wasmSimdKernel.prepare(matrix, rows, columns).multiply(inputs, outputs, length);
    // Sixteen ones XORed together cancel.
    expect(outputs.every((output) => output.every((byte) => byte === 0))).toBe(true);
    // 16 input and 16 output slices plus the tables, rounded up to a page.
    expect(wasmSimdMemoryBytes()).toBeLessThanOrEqual(Math.ceil((8192 + 32 * sliceBytesMax) / 65536) * 65536);
  });
});
