import { describe, expect, test } from "bun:test";
import { fieldInverse, fieldMultiplicationTable, fieldMultiply, fieldPolynomial } from "./galois.ts";

/** Carry-less multiplication reduced by the field polynomial, bit by bit: the definition, with no tables. */
function slowMultiply(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit += 1) {
    if (b & (1 << bit)) product ^= a << bit;
  }
  for (let bit = 15; bit >= 8; bit -= 1) {
    if (product & (1 << bit)) product ^= fieldPolynomial << (bit - 8);
  }
  return product;
}

describe("GF(2^8) with polynomial 0x11d", () => {
  test("table multiplication equals the bitwise definition for every pair", () => {
    const table = fieldMultiplicationTable();
    for (let a = 0; a < 256; a += 1) {
      for (let b = 0; b < 256; b += 1) {
        const expected = slowMultiply(a, b);
        if (fieldMultiply(a, b) !== expected || table[a * 256 + b] !== expected) {
          throw new Error(`${a}·${b}: expected ${expected}, got ${fieldMultiply(a, b)} / ${table[a * 256 + b]}`);
        }
      }
    }
  });

  test("known products: 2·0x80 wraps to 0x1d, 2 generates the whole group", () => {
    expect(fieldMultiply(2, 0x80)).toBe(0x1d);
    const seen = new Set<number>();
    let value = 1;
    for (let power = 0; power < 255; power += 1) {
      seen.add(value);
      value = fieldMultiply(value, 2);
    }
    expect(seen.size).toBe(255);
    expect(value).toBe(1);
  });

  test("every non-zero element has an inverse; zero has none", () => {
    for (let a = 1; a < 256; a += 1) expect(fieldMultiply(a, fieldInverse(a))).toBe(1);
    expect(() => fieldInverse(0)).toThrow(RangeError);
  });
});
