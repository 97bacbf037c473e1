/**
 * The CRC of a concatenation from its pieces' CRCs and lengths, without the
 * bytes: what a FULL_OBJECT checksum of a multipart upload is made of (each
 * part arrives with its own CRC; the object's is their combination).
 *
 * The three CRCs S3 offers (CRC32, CRC32C, CRC64NVME) are reflected, with
 * an all-ones initial value and final XOR. For those, appending n zero bytes
 * to a message is a linear map on the CRC register, and
 * crc(A ‖ B) = Z(|B|)·crc(A) ⊕ crc(B), where Z(n) is that map for n zero
 * bytes (the initial value's effect on B cancels with the final XOR). Z(n)
 * is a w×w matrix over GF(2), built by squaring from the one-zero-bit map
 * (zlib's crc32_combine does the same for CRC32). A matrix is w column
 * vectors, each a BigInt of w bits; maps for the lengths seen are cached,
 * since a multipart upload's parts mostly share one length.
 */
import type { ChecksumAlgorithm } from "../backend.ts";

type CombinableAlgorithm = Extract<ChecksumAlgorithm, "CRC32" | "CRC32C" | "CRC64NVME">;

/** Width in bits and reflected polynomial of each CRC. */
const crcParameters: Readonly<Record<CombinableAlgorithm, { readonly width: number; readonly polynomial: bigint }>> = {
  CRC32: { width: 32, polynomial: 0xedb88320n },
  CRC32C: { width: 32, polynomial: 0x82f63b78n },
  // CRC-64/NVME's polynomial 0xad93d23594c93659, bit-reversed.
  CRC64NVME: { width: 64, polynomial: 0x9a6c9329ac4bc9b5n },
};

export function isCombinable(algorithm: ChecksumAlgorithm): algorithm is CombinableAlgorithm {
  return algorithm === "CRC32" || algorithm === "CRC32C" || algorithm === "CRC64NVME";
}

type Matrix = readonly bigint[];

/** Distinct lengths whose zero-byte maps are kept per algorithm: a completion has few, a bound keeps the cache small. */
const cachedLengthsMax = 64;
const zeroMaps = new Map<CombinableAlgorithm, Map<number, Matrix>>();

function times(matrix: Matrix, vector: bigint): bigint {
  let sum = 0n;
  for (let index = 0; vector !== 0n; index += 1, vector >>= 1n) {
    if ((vector & 1n) === 1n) sum ^= matrix[index]!;
  }
  return sum;
}

/** `outer` after `inner`: the map that applies `inner`, then `outer`. */
function compose(outer: Matrix, inner: Matrix): Matrix {
  return inner.map((column) => times(outer, column));
}

/** The map of one zero bit through the reflected register: shift right, and fold the polynomial in when the low bit was set. */
function oneZeroBit(width: number, polynomial: bigint): Matrix {
  return Array.from({ length: width }, (_, index) => (index === 0 ? polynomial : 1n << BigInt(index - 1)));
}

/** Z(lengthBytes): the map of `lengthBytes` zero bytes, by binary powers of the one-byte map. */
function zeroBytesMap(algorithm: CombinableAlgorithm, lengthBytes: number): Matrix {
  let cache = zeroMaps.get(algorithm);
  if (cache === undefined) zeroMaps.set(algorithm, (cache = new Map()));
  const cached = cache.get(lengthBytes);
  if (cached !== undefined) return cached;
  const { width, polynomial } = crcParameters[algorithm];
  let power = oneZeroBit(width, polynomial);
  for (let bit = 0; bit < 3; bit += 1) power = compose(power, power); // 8 zero bits: one byte
  let result: Matrix | undefined;
  for (let remaining = lengthBytes; remaining > 0; remaining = Math.floor(remaining / 2)) {
    if (remaining % 2 === 1) result = result === undefined ? power : compose(power, result);
    if (remaining > 1) power = compose(power, power);
  }
  const map = result ?? Array.from({ length: width }, (_, index) => 1n << BigInt(index));
  if (cache.size >= cachedLengthsMax) cache.clear();
  cache.set(lengthBytes, map);
  return map;
}

/** crc(A ‖ B) from crc(A), crc(B) and B's length in bytes (CRC values as unsigned integers). */
export function combineCrc(algorithm: CombinableAlgorithm, crcA: bigint, crcB: bigint, lengthBytesB: number): bigint {
  if (lengthBytesB === 0) return crcA;
  return times(zeroBytesMap(algorithm, lengthBytesB), crcA) ^ crcB;
}

/**
 * The CRC of the pieces' concatenation, in order, from each piece's big-endian
 * digest and length; the digest of the same width comes back.
 */
export function combineCrcDigests(algorithm: CombinableAlgorithm, pieces: readonly { readonly digest: Uint8Array; readonly lengthBytes: number }[]): Uint8Array {
  const { width } = crcParameters[algorithm];
  const toBigInt = (digest: Uint8Array): bigint => digest.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
  let crc: bigint | undefined;
  for (const piece of pieces) {
    const value = toBigInt(piece.digest);
    crc = crc === undefined ? value : combineCrc(algorithm, crc, value, piece.lengthBytes);
  }
  const digest = new Uint8Array(width / 8);
  let rest = crc ?? 0n;
  for (let index = digest.length - 1; index >= 0; index -= 1, rest >>= 8n) digest[index] = Number(rest & 0xffn);
  return digest;
}
