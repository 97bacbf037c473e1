import { describe, expect, test } from "bun:test";
import { logUniform, straw2Draw, straw2Hash, straw2HashSeed } from "./straw2.ts";
import { xxHash32 } from "./xxhash32.ts";

const encoder = new TextEncoder();

function hashOf(placementGroupId: number, position: number, diskId: string): number {
  const idBytes = encoder.encode(diskId);
  const scratch = new Uint8Array(8 + idBytes.length);
  scratch.set(idBytes, 8);
  return straw2Hash(placementGroupId, position, scratch);
}

describe("logUniform", () => {
  test("pinned values, bit for bit: every node must compute the same draws", () => {
    const pinned: [hash: number, value: number][] = [
      [0, -22.873856958478193],
      [1, -21.775244669810085],
      [123456789, -3.549308007700232],
      [0x7fffffff, -0.6931471807927759],
      [0x80000000, -0.6931471803271146],
      [0xb504f333, -0.34657359043672264],
      [0xfffffffe, -3.492459655417908e-10],
      [0xffffffff, -1.1641532183371108e-10],
    ];
    for (const [hash, value] of pinned) expect(logUniform(hash)).toBe(value);
  });

  test("is within 1e-15 of Math.log across the uint32 range, negative, and increasing along it", () => {
    let previous = -Infinity;
    let errorMax = 0;
    let outOfOrder = 0;
    let nonNegative = 0;
    // 2^20 evenly spaced hashes, then both ends and the first few: every binade.
    const sampled = new Set([0, 1, 2, 3, 0xfffffffe, 0xffffffff, ...Array.from({ length: 1 << 20 }, (_, step) => step * 4096 + 2048)]);
    const hashes = [...sampled].sort((left, right) => left - right);
    for (const hash of hashes) {
      const value = logUniform(hash);
      const reference = Math.log((hash + 0.5) / 2 ** 32);
      errorMax = Math.max(errorMax, Math.abs(value - reference) / Math.abs(reference));
      if (value <= previous) outOfOrder += 1;
      if (value >= 0) nonNegative += 1;
      previous = value;
    }
    console.log(`logUniform: largest relative difference from Math.log ${errorMax.toExponential(2)}`);
    expect(errorMax).toBeLessThan(1e-15);
    expect(outOfOrder).toBe(0);
    expect(nonNegative).toBe(0);
  });
});

describe("straw2Hash", () => {
  test("is XXH32 with seed STR2 over LE32(pg) ‖ LE32(position) ‖ UTF-8(diskId)", () => {
    const input = new Uint8Array([0x7f, 0, 0, 0, 5, 0, 0, 0, ...encoder.encode("node-2/disk-3")]);
    expect(hashOf(127, 5, "node-2/disk-3")).toBe(xxHash32(input, straw2HashSeed));
    expect(straw2HashSeed).toBe(0x53545232);
  });

  test("pinned values", () => {
    expect(hashOf(0, 0, "node-1/disk-1")).toBe(0xc1da6d9f);
    expect(hashOf(1, 0, "node-1/disk-1")).toBe(0x0ae8b8a6);
    expect(hashOf(0, 1, "node-1/disk-1")).toBe(0x28e0c0b8);
    expect(hashOf(127, 5, "node-2/disk-3")).toBe(0x2ef58492);
    expect(hashOf(2 ** 21 - 1, 31, "x")).toBe(hashOf(2 ** 21 - 1, 31, "x"));
  });

  test("mixes neighbouring placement groups and positions: every output bit is fair", () => {
    // Sequential PG ids and positions are exactly the inputs straw2 sees; a
    // weak mix would leave some output bit stuck or biased. 60,000 samples:
    // a fair bit stays within ±1.5% of one half (6 standard deviations).
    const ones = new Array<number>(32).fill(0);
    let samples = 0;
    for (let placementGroupId = 0; placementGroupId < 10_000; placementGroupId += 1) {
      for (let position = 0; position < 6; position += 1) {
        const hash = hashOf(placementGroupId, position, "node-1/disk-1");
        for (let bit = 0; bit < 32; bit += 1) ones[bit]! += (hash >>> bit) & 1;
        samples += 1;
      }
    }
    for (const count of ones) expect(Math.abs(count / samples - 0.5)).toBeLessThan(0.015);
  });
});

describe("straw2Draw", () => {
  test("a heavier candidate draws higher from the same hash, and the draw is ln(U) / weight", () => {
    const hash = 0x12345678;
    expect(straw2Draw(hash, 2)).toBeGreaterThan(straw2Draw(hash, 1));
    expect(straw2Draw(hash, 4)).toBe(logUniform(hash) / 4);
  });

  test("picks each candidate with probability weight / total weight", () => {
    // One straw2 choice per PG among four disks weighted 1:2:3:4, 40,000 PGs.
    const weights = [1, 2, 3, 4];
    const wins = new Array<number>(weights.length).fill(0);
    const draws = 40_000;
    for (let placementGroupId = 0; placementGroupId < draws; placementGroupId += 1) {
      let best = 0;
      let bestDraw = -Infinity;
      weights.forEach((weight, index) => {
        const draw = straw2Draw(hashOf(placementGroupId, 0, `disk-${index}`), weight);
        if (draw > bestDraw) {
          bestDraw = draw;
          best = index;
        }
      });
      wins[best]! += 1;
    }
    const shares = wins.map((count, index) => count / draws / (weights[index]! / 10));
    console.log(`straw2: win share / weight share for weights 1:2:3:4 = ${shares.map((share) => share.toFixed(3)).join(", ")}`);
    // The lightest disk expects 4,000 wins (standard deviation 1.5%); 6% is 4 deviations.
    for (const share of shares) expect(Math.abs(share - 1)).toBeLessThan(0.06);
  });
});
