/**
 * The portable kernel: plain TypeScript, one 256-byte row of the
 * multiplication table per coefficient. It runs everywhere and is the
 * reference the faster kernels are compared against byte for byte.
 */
import { fieldMultiplicationTable } from "./galois.ts";
import type { MatrixKernel, PreparedMultiply } from "./matrix-kernel.ts";

/** Bytes per slice: an output slice plus an input slice and the 64 KiB table stay within L2, the output slice within L1. */
const sliceBytes = 16 * 1024;

/** The kernel in plain TypeScript. */
export const portableKernel: MatrixKernel = {
  name: "portable",
  prepare(matrix: Uint8Array, rows: number, columns: number): PreparedMultiply {
    const coefficients = matrix.slice(0, rows * columns);
    const table = fieldMultiplicationTable();
    return {
      rows,
      columns,
      multiply(inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void {
        // Slices keep one output slice in L1 cache while every input is
        // folded into it, instead of streaming the whole output k times.
        for (let start = 0; start < length; start += sliceBytes) {
          const end = Math.min(length, start + sliceBytes);
          for (let row = 0; row < rows; row += 1) {
            const output = outputs[row]!;
            let written = false;
            for (let column = 0; column < columns; column += 1) {
              const coefficient = coefficients[row * columns + column]!;
              // A zero coefficient contributes nothing; a one is a plain copy
              // or XOR, which skips the table lookup.
              if (coefficient === 0) continue;
              const input = inputs[column]!;
              if (!written) {
                if (coefficient === 1) output.set(input.subarray(start, end), start);
                else multiplyInto(table, coefficient << 8, input, output, start, end);
                written = true;
              } else if (coefficient === 1) {
                xorInto(input, output, start, end);
              } else {
                multiplyXorInto(table, coefficient << 8, input, output, start, end);
              }
            }
            if (!written) output.fill(0, start, end);
          }
        }
      },
    };
  },
};

function multiplyInto(table: Uint8Array, rowOffset: number, input: Uint8Array, output: Uint8Array, start: number, end: number): void {
  for (let index = start; index < end; index += 1) output[index] = table[rowOffset + input[index]!]!;
}

function multiplyXorInto(table: Uint8Array, rowOffset: number, input: Uint8Array, output: Uint8Array, start: number, end: number): void {
  for (let index = start; index < end; index += 1) output[index] = output[index]! ^ table[rowOffset + input[index]!]!;
}

function xorInto(input: Uint8Array, output: Uint8Array, start: number, end: number): void {
  for (let index = start; index < end; index += 1) output[index] = output[index]! ^ input[index]!;
}
