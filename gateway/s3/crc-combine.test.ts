/**
 * CRC combination against the CRCs of the whole: for each of S3's three CRCs,
 * bodies cut into pieces of seeded lengths (empty ones, one byte, odd sizes,
 * equal runs) combine to the checksum computed over the concatenation.
 */
import { expect, test } from "bun:test";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { checksumOf } from "./checksum.ts";
import { combineCrcDigests } from "./crc-combine.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`crc-combine: seed ${seed} (replay with CAIRN_TEST_SEED=${seed})`);

for (const algorithm of ["CRC32", "CRC32C", "CRC64NVME"] as const) {
  test(`${algorithm}: the combination of the pieces' CRCs is the CRC of the whole`, () => {
    const random = seededRandom(seed + algorithm.length);
    const cases: number[][] = [[0], [1], [0, 0], [7, 0, 5], [1, 1, 1], [4096, 4096, 4096, 13], [65_537, 1], [3, 100_000]];
    for (let extra = 0; extra < 6; extra += 1) cases.push(Array.from({ length: 1 + random.integer(8) }, () => random.integer(20_000)));
    for (const lengths of cases) {
      const pieces = lengths.map((length) => random.bytes(length));
      const whole = Buffer.concat(pieces);
      const combined = combineCrcDigests(
        algorithm,
        pieces.map((piece) => ({ digest: Buffer.from(checksumOf(algorithm, piece), "base64"), lengthBytes: piece.byteLength })),
      );
      expect({ lengths, value: Buffer.from(combined).toString("base64") }).toEqual({ lengths, value: checksumOf(algorithm, whole) });
    }
  });
}
