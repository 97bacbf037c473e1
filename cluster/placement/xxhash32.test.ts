import { describe, expect, test } from "bun:test";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { xxHash32 } from "./xxhash32.ts";

const encoder = new TextEncoder();

describe("xxHash32", () => {
  test("matches the reference implementation's published values", () => {
    // From the xxHash reference (xxhsum -H0) and python-xxhash's documentation.
    expect(xxHash32(new Uint8Array(0), 0)).toBe(0x02cc5d05);
    expect(xxHash32(encoder.encode("a"), 0)).toBe(0x550d7456);
    expect(xxHash32(encoder.encode("abc"), 0)).toBe(0x32d153ff);
    expect(xxHash32(encoder.encode("Nobody inspects the spammish repetition"), 0)).toBe(0xe2293b2f);
  });

  test("agrees with Bun's native XXH32 on every length from 0 to 100 and on random seeds", () => {
    const seed = process.env.PLACEMENT_SEED === undefined ? randomSeed() : Number(process.env.PLACEMENT_SEED);
    console.log(`xxhash32 cross-check: seed ${seed} (replay: PLACEMENT_SEED=${seed} bun test cluster/placement/xxhash32.test.ts)`);
    const random = seededRandom(seed);
    for (let length = 0; length <= 100; length += 1) {
      for (let sample = 0; sample < 20; sample += 1) {
        const bytes = random.bytes(length);
        const hashSeed = random.integer(0x1_0000_0000);
        expect(xxHash32(bytes, hashSeed)).toBe(Number(Bun.hash.xxHash32(bytes, hashSeed)));
      }
    }
  });
});
