import { describe, expect, test } from "bun:test";
import { AssertionError } from "./assert.ts";
import { randomSeed, seededRandom } from "./random.ts";

function draws(seed: number, count: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => random.next());
}

describe("seededRandom", () => {
  test("the same seed gives the same sequence; different seeds differ", () => {
    expect(draws(42, 100)).toEqual(draws(42, 100));
    expect(draws(42, 100)).not.toEqual(draws(43, 100));
    // Neighbouring small seeds must not give related sequences.
    expect(draws(0, 1)[0]).not.toBe(draws(1, 1)[0]);
    expect(seededRandom(7).seed).toBe(7);
  });

  test("next stays in [0, 1) and spreads over it", () => {
    const values = draws(2024, 20_000);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    const buckets = new Array<number>(10).fill(0);
    for (const value of values) buckets[Math.floor(value * 10)]! += 1;
    // Each bucket expects 2000; a generator stuck in a corner fails this by far.
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(300);
  });

  test("integer is in range, reaches every value, and accepts bounds beyond 2^32", () => {
    const random = seededRandom(9);
    const seen = new Set<number>();
    for (let draw = 0; draw < 5_000; draw += 1) {
      const value = random.integer(7);
      expect(Number.isInteger(value) && value >= 0 && value < 7).toBe(true);
      seen.add(value);
    }
    expect(seen.size).toBe(7);
    expect(random.integer(1)).toBe(0);
    const bound = 2 ** 40 + 3;
    for (let draw = 0; draw < 100; draw += 1) {
      const value = random.integer(bound);
      expect(Number.isSafeInteger(value) && value >= 0 && value < bound).toBe(true);
    }
    expect(() => random.integer(0)).toThrow(AssertionError);
    expect(() => random.integer(2.5)).toThrow(AssertionError);
  });

  test("bytes are deterministic and of the asked length", () => {
    expect(seededRandom(5).bytes(13)).toEqual(seededRandom(5).bytes(13));
    expect(seededRandom(5).bytes(13)).not.toEqual(seededRandom(6).bytes(13));
    expect(seededRandom(5).bytes(0).length).toBe(0);
    const bytes = seededRandom(5).bytes(4096);
    expect(new Set(bytes).size).toBeGreaterThan(200);
  });

  test("fork is fixed by seed and label, not by how much the parent drew", () => {
    const parent = seededRandom(11);
    const first = parent.fork("disk-0");
    parent.next();
    parent.integer(100);
    const again = parent.fork("disk-0");
    expect(first.seed).toBe(again.seed);
    expect([first.next(), first.next()]).toEqual([again.next(), again.next()]);

    const other = seededRandom(11).fork("disk-1");
    expect(other.seed).not.toBe(first.seed);
    expect(seededRandom(11).fork("disk-0").next()).not.toBe(seededRandom(11).fork("disk-1").next());
    // The same label under another parent seed gives another child.
    expect(seededRandom(12).fork("disk-0").seed).not.toBe(first.seed);
    // A child differs from its parent.
    expect(seededRandom(11).fork("x").next()).not.toBe(seededRandom(11).next());
  });

  test("seeds outside [0, 2^32) or not integers are refused", () => {
    expect(() => seededRandom(-1)).toThrow(AssertionError);
    expect(() => seededRandom(2 ** 32)).toThrow(AssertionError);
    expect(() => seededRandom(1.5)).toThrow(AssertionError);
  });

  test("randomSeed gives a usable uint32 seed", () => {
    const seed = randomSeed();
    expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    expect(seededRandom(seed).seed).toBe(seed);
  });
});
