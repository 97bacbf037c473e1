/**
 * Arithmetic in GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1
 * (0x11d), the field ISA-L, Linux's RAID-6 and most Reed-Solomon storage codes
 * use. Addition is XOR; multiplication goes through log/exp tables built once
 * at module load from the generator 2.
 *
 * These are the slow, obviously-correct building blocks: the matrix code and
 * the kernels' table builders use them; the bulk loops never call them per
 * byte.
 */

/** The reducing polynomial, with its x^8 bit. */
export const fieldPolynomial = 0x11d;

/** exp[i] = 2^i for i in [0, 510): doubled so `exp[log a + log b]` needs no modulo. */
const expTable = new Uint8Array(510);
/** log[a] for a in [1, 256); log[0] is unused (zero has no logarithm). */
const logTable = new Uint8Array(256);

{
  let value = 1;
  for (let power = 0; power < 255; power += 1) {
    expTable[power] = value;
    expTable[power + 255] = value;
    logTable[value] = power;
    value <<= 1;
    if (value & 0x100) value ^= fieldPolynomial;
  }
}

/** The product a·b in GF(2^8); a and b are integers in [0, 256). */
export function fieldMultiply(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return expTable[logTable[a]! + logTable[b]!]!;
}

/** The multiplicative inverse of a non-zero a in GF(2^8). */
export function fieldInverse(a: number): number {
  if (a === 0) throw new RangeError("fieldInverse: zero has no inverse in GF(2^8)");
  return expTable[255 - logTable[a]!]!;
}

/**
 * The full 256×256 multiplication table, row c at offset c·256 holding c·x for
 * every x. The portable kernel multiplies a whole shard by one coefficient with
 * a single 256-byte row, which is faster in JavaScript than two log lookups and
 * an exp lookup per byte. Built on first use (64 KiB) and shared.
 */
export function fieldMultiplicationTable(): Uint8Array {
  if (multiplicationTable === undefined) {
    const table = new Uint8Array(256 * 256);
    for (let c = 1; c < 256; c += 1) {
      for (let x = 1; x < 256; x += 1) table[c * 256 + x] = fieldMultiply(c, x);
    }
    multiplicationTable = table;
  }
  return multiplicationTable;
}

let multiplicationTable: Uint8Array | undefined;
