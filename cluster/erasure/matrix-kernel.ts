/**
 * What a kernel does: multiply a small GF(2^8) matrix by a set of equally long
 * byte shards. Encoding is the parity rows times the data shards; rebuilding
 * is a recovery matrix times k surviving shards. The codec does all the
 * bookkeeping; a kernel only runs this loop, as fast as it can.
 */
import type { ErasureKernel } from "./codec.ts";

/** A kernel: turns a coefficient matrix into a ready-to-run multiplication. */
export interface MatrixKernel {
  readonly name: ErasureKernel;
  /**
   * Precomputes whatever the kernel needs for `matrix` (rows × columns,
   * row-major), once, so repeated stripes pay only for the byte loop.
   */
  prepare(matrix: Uint8Array, rows: number, columns: number): PreparedMultiply;
}

/** A matrix ready to multiply shards. */
export interface PreparedMultiply {
  readonly rows: number;
  readonly columns: number;
  /**
   * outputs[r][i] = XOR over j of matrix[r][j] · inputs[j][i], for i < length.
   * `inputs` has `columns` shards and `outputs` has `rows`, each at least
   * `length` bytes long; outputs are overwritten and must not overlap inputs.
   */
  multiply(inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void;
}
