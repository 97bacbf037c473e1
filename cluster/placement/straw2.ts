/**
 * Straw2 draws (Ceph CRUSH's straw2 bucket): every candidate disk draws
 * ln(U) / weight with U uniform in (0, 1) from a hash, and the highest draw
 * wins. Because −ln(U) / weight is exponentially distributed with rate
 * `weight`, the winner is each candidate with probability weight / Σweight,
 * and a candidate's draw depends on nothing but itself: adding, removing or
 * reweighting one candidate can only move wins to or from that candidate.
 *
 * Format facts (changing any of them moves every stored object):
 *
 * | step | definition |
 * |---|---|
 * | hash input | LE32(placement group id) ‖ LE32(position) ‖ UTF-8(diskId) |
 * | hash | XXH32 of the input, seed `straw2HashSeed` = 0x53545232 ("STR2") |
 * | U | (hash + 0.5) / 2^32, strictly inside (0, 1) |
 * | draw | `logUniform(hash)` / weight, in IEEE 754 binary64 |
 *
 * Hashing the disk id's bytes, rather than a 32-bit hash of the id, means two
 * disks can never share every draw.
 *
 * Why not `Math.log`: ECMA-262 lets each engine approximate it (Bun's
 * JavaScriptCore and V8 may round differently, and both may change), and two
 * nodes that disagree in the last bit on a close race would compute
 * different acting sets. ECMAScript does fix +, −, × and ÷ to IEEE 754
 * binary64 with round-to-nearest-even (no fused multiply-add, no extended
 * precision), so `logUniform` computes the logarithm from those alone and is
 * bit-identical on every engine and platform. Ceph gets the same guarantee
 * from its fixed-point `crush_ln`; dividing by the weight is one IEEE
 * division, exact to the last bit everywhere too.
 */
import { xxHash32 } from "./xxhash32.ts";

/** XXH32 seed of the straw2 draw hash: the ASCII bytes "STR2". */
export const straw2HashSeed = 0x53545232;

const ln2 = 0.6931471805599453;
const sqrt2 = 1.4142135623730951;

/** 1/21, 1/19, …, 1/3: the atanh series coefficients, Horner order. Each quotient is one IEEE division. */
const seriesCoefficients = [21, 19, 17, 15, 13, 11, 9, 7, 5, 3].map((denominator) => 1 / denominator);

/** 2^0, 2^-1, …, 2^-32, built by exact halving (`**` and `Math.pow` are engine-approximated). */
const inversePowersOfTwo: readonly number[] = (() => {
  const powers: number[] = [];
  let power = 1;
  for (let exponent = 0; exponent <= 32; exponent += 1) {
    powers.push(power);
    power *= 0.5;
  }
  return powers;
})();

/**
 * ln((hash + 0.5) / 2^32) for a uint32 `hash`: the straw2 logarithm, in
 * (−22.9, 0), within 1e-15 relative of the true value, using only
 * IEEE-exact arithmetic (see the note at the top of this file).
 */
export function logUniform(hash: number): number {
  // Write hash + 0.5 = m · 2^exponent with m in [1, 2): both steps are exact.
  let exponent = hash === 0 ? -1 : 31 - Math.clz32(hash);
  let mantissa = hash === 0 ? 1 : (hash + 0.5) * inversePowersOfTwo[exponent]!;
  // Centre m on 1 (m in (1/√2, √2]) so the series below converges in ten terms.
  if (mantissa > sqrt2) {
    mantissa *= 0.5;
    exponent += 1;
  }
  // ln m = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …) with s = (m − 1)/(m + 1), |s| < 0.172;
  // the first omitted term, s²³/23, is below 2^-53 of the sum.
  const s = (mantissa - 1) / (mantissa + 1);
  const sSquared = s * s;
  let series = seriesCoefficients[0]!;
  for (let index = 1; index < seriesCoefficients.length; index += 1) series = series * sSquared + seriesCoefficients[index]!;
  series = series * sSquared + 1;
  // (exponent − 32) is 0 for the largest hashes, so U near 1 keeps full relative precision.
  return (exponent - 32) * ln2 + 2 * s * series;
}

/**
 * The straw2 draw hash of (`placementGroupId`, `position`, disk id bytes), a
 * uint32. `scratch` must hold `8 + diskIdBytes.length` bytes and already carry
 * the disk id from offset 8 (the caller writes it once per disk and reuses it
 * for every position); this writes the first 8 bytes.
 */
export function straw2Hash(placementGroupId: number, position: number, scratch: Uint8Array): number {
  writeWord(scratch, 0, placementGroupId);
  writeWord(scratch, 4, position);
  return xxHash32(scratch, straw2HashSeed);
}

/** The straw2 draw of one candidate: higher wins; −∞ < draw < 0 for finite positive weights. */
export function straw2Draw(hash: number, weight: number): number {
  return logUniform(hash) / weight;
}

function writeWord(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}
