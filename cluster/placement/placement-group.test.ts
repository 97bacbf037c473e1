import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../runtime/index.ts";
import { objectHash, placementGroupCountMax, placementGroupOf } from "./placement-group.ts";
import { xxHash32 } from "./xxhash32.ts";

describe("placementGroupOf", () => {
  test("is XXH32 (seed 0) of UTF-8(bucket) ‖ 0x00 ‖ UTF-8(key), then multiply-shift", () => {
    const input = new TextEncoder().encode("photos\u00002024/cat.jpg");
    expect(objectHash("photos", "2024/cat.jpg")).toBe(xxHash32(input, 0));
    const hash = objectHash("photos", "2024/cat.jpg");
    expect(placementGroupOf("photos", "2024/cat.jpg", 128)).toBe(Math.floor((hash * 128) / 2 ** 32));
  });

  test("pinned values: these are a stored format and must never change", () => {
    // Changing any of these moves every object in every existing pool.
    const pinned: [bucket: string, key: string, hash: number, of128: number, of100: number][] = [
      ["photos", "2024/cat.jpg", 0x0e0d907b, 7, 5],
      ["photos", "", 0x2526e6c5, 18, 14],
      ["a", "bc", 0x6c5d1ffb, 54, 42],
      ["ab", "c", 0x18af0b94, 12, 9],
      ["backups", "db/ünïcødé-☃.tar", 0x71a4c64b, 56, 44],
      ["logs", "x".repeat(40), 0xc3011eee, 97, 76],
    ];
    for (const [bucket, key, hash, of128, of100] of pinned) {
      expect([objectHash(bucket, key), placementGroupOf(bucket, key, 128), placementGroupOf(bucket, key, 100)]).toEqual([hash, of128, of100]);
    }
  });

  test("the separator keeps (bucket, key) pairs with the same concatenation apart", () => {
    expect(objectHash("a", "bc")).not.toBe(objectHash("ab", "c"));
    expect(objectHash("", "abc")).not.toBe(objectHash("abc", ""));
  });

  test("spreads 100,000 sequential keys evenly (chi-square)", () => {
    // Fixed inputs, so the statistic is a fixed number: the bound below is
    // the chi-square quantile far in the tail (p ≈ 1e-6), which an XXH32
    // that works lies well under and a broken or biased mapping far over.
    for (const [count, bound] of [
      [128, 220],
      [100, 180],
    ] as const) {
      const keys = 100_000;
      const groups = new Array<number>(count).fill(0);
      for (let index = 0; index < keys; index += 1) groups[placementGroupOf("photos", `2024/06/img-${String(index).padStart(6, "0")}.jpg`, count)]! += 1;
      const expected = keys / count;
      const chiSquare = groups.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
      const deviationMax = Math.max(...groups.map((observed) => Math.abs(observed / expected - 1)));
      console.log(`placementGroupOf over ${keys} keys into ${count} groups: chi-square ${chiSquare.toFixed(1)} (${count - 1} degrees of freedom), largest deviation ${(100 * deviationMax).toFixed(1)}%`);
      expect(chiSquare).toBeLessThan(bound);
      expect(deviationMax).toBeLessThan(0.15);
    }
  });

  test("a count outside [1, placementGroupCountMax] is a bug", () => {
    for (const count of [0, -1, 1.5, Number.NaN, placementGroupCountMax + 1]) {
      expect(() => placementGroupOf("b", "k", count)).toThrow(AssertionError);
    }
    expect(placementGroupOf("b", "k", 1)).toBe(0);
    const top = placementGroupOf("b", "k", placementGroupCountMax);
    expect(Number.isInteger(top) && top >= 0 && top < placementGroupCountMax).toBe(true);
  });
});
