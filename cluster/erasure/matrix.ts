/**
 * The coding matrices. A matrix is a row-major `Uint8Array` of GF(2^8)
 * elements with its dimensions passed alongside; the sizes here are at most
 * 32×32, so nothing cleverer is needed.
 *
 * The encoding matrix has k + m rows and k columns: the identity on top (the
 * code is systematic: data shards are stored as they are) and a Cauchy matrix
 * below, row k + i column j holding 1 / ((k + i) XOR j). This is exactly
 * ISA-L's `gf_gen_cauchy1_matrix`, so parity is byte-identical to what ISA-L
 * users get from it. The x values (k + i) and y values (j) are distinct field
 * elements, and every square submatrix of a Cauchy matrix is invertible;
 * any k rows of [I; C] therefore form an invertible matrix (expanding along
 * the identity rows leaves a square submatrix of C), which is the MDS
 * property: any k of the k + m shards rebuild the stripe. A Vandermonde
 * matrix on top of the identity would not guarantee this in general.
 */
import { assert } from "../../runtime/index.ts";
import { fieldInverse, fieldMultiply } from "./galois.ts";

/** The (k + m) × k systematic encoding matrix: identity rows, then Cauchy rows 1 / ((k + i) XOR j). */
export function encodingMatrix(dataShards: number, parityShards: number): Uint8Array {
  assert(dataShards >= 1 && parityShards >= 0 && dataShards + parityShards <= 256, "encodingMatrix: scheme out of range");
  const matrix = new Uint8Array((dataShards + parityShards) * dataShards);
  for (let row = 0; row < dataShards; row += 1) matrix[row * dataShards + row] = 1;
  for (let row = dataShards; row < dataShards + parityShards; row += 1) {
    for (let column = 0; column < dataShards; column += 1) {
      matrix[row * dataShards + column] = fieldInverse(row ^ column);
    }
  }
  return matrix;
}

/**
 * The inverse of the n × n matrix `matrix` by Gauss-Jordan elimination.
 * Throws a RangeError when the matrix is singular; for submatrices of the
 * encoding matrix that would be a bug in its construction.
 */
export function invertMatrix(matrix: Uint8Array, size: number): Uint8Array {
  assert(matrix.length === size * size, "invertMatrix: matrix is not size × size");
  const work = matrix.slice();
  const inverse = new Uint8Array(size * size);
  for (let index = 0; index < size; index += 1) inverse[index * size + index] = 1;
  for (let column = 0; column < size; column += 1) {
    let pivotRow = column;
    while (pivotRow < size && work[pivotRow * size + column] === 0) pivotRow += 1;
    if (pivotRow === size) throw new RangeError("invertMatrix: matrix is singular");
    if (pivotRow !== column) {
      swapRows(work, size, pivotRow, column);
      swapRows(inverse, size, pivotRow, column);
    }
    const scale = fieldInverse(work[column * size + column]!);
    scaleRow(work, size, column, scale);
    scaleRow(inverse, size, column, scale);
    for (let row = 0; row < size; row += 1) {
      const factor = work[row * size + column]!;
      if (row === column || factor === 0) continue;
      addScaledRow(work, size, column, row, factor);
      addScaledRow(inverse, size, column, row, factor);
    }
  }
  return inverse;
}

/** The product of a (rows × inner) and b (inner × columns). */
export function multiplyMatrices(a: Uint8Array, b: Uint8Array, rows: number, inner: number, columns: number): Uint8Array {
  assert(a.length === rows * inner && b.length === inner * columns, "multiplyMatrices: dimensions do not match");
  const product = new Uint8Array(rows * columns);
  for (let row = 0; row < rows; row += 1) {
    for (let column = 0; column < columns; column += 1) {
      let sum = 0;
      for (let index = 0; index < inner; index += 1) sum ^= fieldMultiply(a[row * inner + index]!, b[index * columns + column]!);
      product[row * columns + column] = sum;
    }
  }
  return product;
}

/**
 * How to rebuild a set of shards: `matrix` (targets.length × k) times the
 * shards listed in `sources` (k of them, in that order) gives the shards listed
 * in `targets`.
 */
export interface RecoveryPlan {
  readonly sources: readonly number[];
  readonly targets: readonly number[];
  readonly matrix: Uint8Array;
}

/**
 * The plan that rebuilds `targets` from the first k shards not in `missing`.
 * Data shard rows come straight from the inverse of the surviving rows'
 * submatrix; a parity row is its encoding row times that inverse, so both
 * kinds come out of one multiplication over the same k sources.
 */
export function recoveryPlan(
  encoding: Uint8Array,
  dataShards: number,
  parityShards: number,
  missing: readonly number[],
  targets: readonly number[],
): RecoveryPlan {
  const missingSet = new Set(missing);
  const sources: number[] = [];
  for (let shard = 0; shard < dataShards + parityShards && sources.length < dataShards; shard += 1) {
    if (!missingSet.has(shard)) sources.push(shard);
  }
  assert(sources.length === dataShards, "recoveryPlan: fewer than k shards survive");
  const survivors = new Uint8Array(dataShards * dataShards);
  sources.forEach((shard, row) => survivors.set(encoding.subarray(shard * dataShards, (shard + 1) * dataShards), row * dataShards));
  const decoding = invertMatrix(survivors, dataShards);
  const matrix = new Uint8Array(targets.length * dataShards);
  targets.forEach((shard, row) => {
    const encodingRow = encoding.subarray(shard * dataShards, (shard + 1) * dataShards);
    matrix.set(multiplyMatrices(encodingRow, decoding, 1, dataShards, dataShards), row * dataShards);
  });
  return { sources, targets, matrix };
}

function swapRows(matrix: Uint8Array, size: number, a: number, b: number): void {
  for (let column = 0; column < size; column += 1) {
    const held = matrix[a * size + column]!;
    matrix[a * size + column] = matrix[b * size + column]!;
    matrix[b * size + column] = held;
  }
}

function scaleRow(matrix: Uint8Array, size: number, row: number, factor: number): void {
  for (let column = 0; column < size; column += 1) {
    matrix[row * size + column] = fieldMultiply(matrix[row * size + column]!, factor);
  }
}

/** Row `to` += factor · row `from` (addition is XOR in GF(2^8)). */
function addScaledRow(matrix: Uint8Array, size: number, from: number, to: number, factor: number): void {
  for (let column = 0; column < size; column += 1) {
    matrix[to * size + column]! ^= fieldMultiply(matrix[from * size + column]!, factor);
  }
}
