import { expect, test } from "bun:test";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { fieldMultiply } from "./galois.ts";
import { portableKernel } from "./portable-kernel.ts";

test("portable multiply equals the definition, with 0 and 1 coefficients and slice boundaries", () => {
  const seed = process.env.ERASURE_SEED === undefined ? randomSeed() : Number(process.env.ERASURE_SEED);
  console.log(`portable kernel seed=${seed} (replay: ERASURE_SEED=${seed} bun test cluster/erasure/)`);
  const random = seededRandom(seed);
  for (let round = 0; round < 30; round += 1) {
    const rows = 1 + random.integer(6);
    const columns = 1 + random.integer(8);
    const length = [0, 1, 17, 16 * 1024, 16 * 1024 + 1, 40_000][random.integer(6)]!;
    // Half the coefficients are 0 or 1, the kernel's shortcuts; a row of
    // zeros must come out as zeros.
    const matrix = Uint8Array.from({ length: rows * columns }, () => (random.integer(2) === 0 ? random.integer(2) : random.integer(256)));
    if (round === 0) matrix.fill(0, 0, columns);
    const inputs = Array.from({ length: columns }, () => random.bytes(length));
    const outputs = Array.from({ length: rows }, () => new Uint8Array(length).fill(0x5a));
    portableKernel.prepare(matrix, rows, columns).multiply(inputs, outputs, length);
    for (let row = 0; row < rows; row += 1) {
      const expected = new Uint8Array(length);
      for (let column = 0; column < columns; column += 1) {
        for (let index = 0; index < length; index += 1) expected[index]! ^= fieldMultiply(matrix[row * columns + column]!, inputs[column]![index]!);
      }
      expect(Buffer.compare(outputs[row]!, expected), `seed=${seed} round ${round} row ${row}`).toBe(0);
    }
  }
});
