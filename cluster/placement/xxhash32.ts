/**
 * XXH32, Yann Collet's 32-bit xxHash (https://github.com/Cyan4973/xxHash,
 * `doc/xxhash_spec.md`), in portable TypeScript.
 *
 * Placement hashes are format facts: every object's placement group and every
 * straw2 draw come from this function, so its output must never change across
 * versions, runtimes or platforms. XXH32 is specified bit for bit, passes
 * SMHasher's distribution and avalanche tests, and uses only 32-bit integer
 * arithmetic (`Math.imul`, shifts, `| 0`), which every JavaScript engine
 * computes identically. CRC32C (which the volume format already uses) was not
 * chosen: it is linear over GF(2), so inputs that differ in a few bits (keys
 * `photo-0001`, `photo-0002`, …) give outputs related by fixed XOR patterns,
 * and mapping those to placement groups clusters them.
 *
 * `xxhash32.test.ts` checks this implementation against the reference
 * vectors and against Bun's native `Bun.hash.xxHash32`.
 */

const prime1 = 0x9e3779b1;
const prime2 = 0x85ebca77;
const prime3 = 0xc2b2ae3d;
const prime4 = 0x27d4eb2f;
const prime5 = 0x165667b1;

/** XXH32 of `bytes` with `seed` (a uint32), as a uint32. */
export function xxHash32(bytes: Uint8Array, seed: number): number {
  const length = bytes.length;
  let offset = 0;
  let accumulator: number;
  if (length >= 16) {
    let lane1 = (seed + prime1 + prime2) | 0;
    let lane2 = (seed + prime2) | 0;
    let lane3 = seed | 0;
    let lane4 = (seed - prime1) | 0;
    const stripeLimit = length - 16;
    for (; offset <= stripeLimit; offset += 16) {
      lane1 = round(lane1, readWord(bytes, offset));
      lane2 = round(lane2, readWord(bytes, offset + 4));
      lane3 = round(lane3, readWord(bytes, offset + 8));
      lane4 = round(lane4, readWord(bytes, offset + 12));
    }
    accumulator = (rotateLeft(lane1, 1) + rotateLeft(lane2, 7) + rotateLeft(lane3, 12) + rotateLeft(lane4, 18)) | 0;
  } else {
    accumulator = (seed + prime5) | 0;
  }
  // The specification adds the length modulo 2^32.
  accumulator = (accumulator + length) | 0;
  for (; offset + 4 <= length; offset += 4) {
    accumulator = Math.imul(rotateLeft((accumulator + Math.imul(readWord(bytes, offset), prime3)) | 0, 17), prime4);
  }
  for (; offset < length; offset += 1) {
    accumulator = Math.imul(rotateLeft((accumulator + Math.imul(bytes[offset]!, prime5)) | 0, 11), prime1);
  }
  accumulator ^= accumulator >>> 15;
  accumulator = Math.imul(accumulator, prime2);
  accumulator ^= accumulator >>> 13;
  accumulator = Math.imul(accumulator, prime3);
  accumulator ^= accumulator >>> 16;
  return accumulator >>> 0;
}

function round(lane: number, input: number): number {
  return Math.imul(rotateLeft((lane + Math.imul(input, prime2)) | 0, 13), prime1);
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** The little-endian 32-bit word at `offset`, as the specification reads input. */
function readWord(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24);
}
