import { describe, expect, test } from "bun:test";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { fieldInverse } from "./galois.ts";
import { encodingMatrix, invertMatrix, multiplyMatrices, recoveryPlan } from "./matrix.ts";

function identity(size: number): Uint8Array {
  const matrix = new Uint8Array(size * size);
  for (let index = 0; index < size; index += 1) matrix[index * size + index] = 1;
  return matrix;
}

/** Every size-element subset of [0, count), in lexicographic order. */
function* subsets(count: number, size: number, from = 0, chosen: number[] = []): Generator<number[]> {
  if (chosen.length === size) {
    yield [...chosen];
    return;
  }
  for (let index = from; index < count; index += 1) {
    chosen.push(index);
    yield* subsets(count, size, index + 1, chosen);
    chosen.pop();
  }
}

function rowsOf(matrix: Uint8Array, columns: number, rows: readonly number[]): Uint8Array {
  const selected = new Uint8Array(rows.length * columns);
  rows.forEach((row, index) => selected.set(matrix.subarray(row * columns, (row + 1) * columns), index * columns));
  return selected;
}

describe("encoding matrix", () => {
  test("identity on top, ISA-L's gf_gen_cauchy1_matrix below", () => {
    const matrix = encodingMatrix(4, 3);
    expect(rowsOf(matrix, 4, [0, 1, 2, 3])).toEqual(identity(4));
    for (let row = 4; row < 7; row += 1) {
      for (let column = 0; column < 4; column += 1) expect(matrix[row * 4 + column]).toBe(fieldInverse(row ^ column));
    }
    // A fixed corner, so a change of construction cannot pass unnoticed:
    // stored parity depends on these bytes.
    expect(Array.from(matrix.subarray(16, 20))).toEqual([0x47, 0xa7, 0x7a, 0xba]);
  });

  test("every k×k submatrix is invertible (MDS) for every scheme with k + m ≤ 12", () => {
    for (let total = 2; total <= 12; total += 1) {
      for (let dataShards = 1; dataShards < total; dataShards += 1) {
        const matrix = encodingMatrix(dataShards, total - dataShards);
        for (const rows of subsets(total, dataShards)) {
          const square = rowsOf(matrix, dataShards, rows);
          const inverse = invertMatrix(square, dataShards);
          expect(multiplyMatrices(square, inverse, dataShards, dataShards, dataShards)).toEqual(identity(dataShards));
        }
      }
    }
  });

  test("random k×k submatrices of large schemes are invertible", () => {
    const seed = process.env.ERASURE_SEED === undefined ? randomSeed() : Number(process.env.ERASURE_SEED);
    console.log(`matrix MDS sample seed=${seed} (replay: ERASURE_SEED=${seed} bun test cluster/erasure/)`);
    const random = seededRandom(seed);
    for (const [dataShards, parityShards] of [[16, 16], [20, 12], [24, 8], [28, 4], [31, 1]] as const) {
      const total = dataShards + parityShards;
      const matrix = encodingMatrix(dataShards, parityShards);
      for (let round = 0; round < 40; round += 1) {
        const rows = Array.from({ length: total }, (_, index) => index);
        for (let index = total - 1; index > 0; index -= 1) {
          const other = random.integer(index + 1);
          [rows[index], rows[other]] = [rows[other]!, rows[index]!];
        }
        const chosen = rows.slice(0, dataShards).sort((a, b) => a - b);
        const square = rowsOf(matrix, dataShards, chosen);
        const product = multiplyMatrices(square, invertMatrix(square, dataShards), dataShards, dataShards, dataShards);
        expect(product, `seed=${seed} ${dataShards}+${parityShards} rows ${chosen.join(",")}`).toEqual(identity(dataShards));
      }
    }
  });

  test("a singular matrix is refused", () => {
    expect(() => invertMatrix(new Uint8Array([1, 2, 1, 2]), 2)).toThrow(RangeError);
    expect(() => invertMatrix(new Uint8Array(9), 3)).toThrow(RangeError);
  });
});

describe("recovery plans", () => {
  test("sources are the first k survivors; rows rebuild data and parity alike", () => {
    const encoding = encodingMatrix(4, 2);
    const plan = recoveryPlan(encoding, 4, 2, [1, 4], [1, 4]);
    expect(plan.sources).toEqual([0, 2, 3, 5]);
    expect(plan.targets).toEqual([1, 4]);
    // Multiplying the plan by the sources' encoding rows must give the
    // targets' encoding rows: then it maps any stripe's sources to its targets.
    const sourceRows = rowsOf(encoding, 4, plan.sources);
    expect(multiplyMatrices(plan.matrix, sourceRows, 2, 4, 4)).toEqual(rowsOf(encoding, 4, plan.targets));
  });
});
