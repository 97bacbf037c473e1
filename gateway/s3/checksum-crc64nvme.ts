/**
 * CRC-64/NVME, the checksum S3 computes for every object by default.
 *
 * Parameters (as catalogued by Greg Cook's CRC RevEng): width 64, polynomial
 * 0xad93d23594c93659 (reflected: 0x9a6c9329ac4bc9b5), init 0xffffffffffffffff,
 * reflected input and output, xorout 0xffffffffffffffff, check ("123456789")
 * 0xae8b14860a799888.
 *
 * JavaScript has no fast 64-bit integers (BigInt allocates), so the register
 * is kept as two unsigned 32-bit halves and the tables hold each half
 * separately. Slicing-by-8: eight tables let one step consume eight bytes
 * (read as two aligned little-endian words), several times faster than a
 * byte at a time.
 */

import { strict as assert } from "node:assert";

// The bulk loop reads 32-bit words in platform order; the tables assume little-endian (x86-64, arm64).
assert(new Uint8Array(new Uint32Array([1]).buffer)[0] === 1, "CRC-64/NVME's word loop needs a little-endian platform");

const reflectedPolyHi = 0x9a6c9329;
const reflectedPolyLo = 0xac4bc9b5;
const slices = 8;

/** tableLo[k * 256 + b] / tableHi[…]: the CRC of byte b followed by k zero bytes. */
const tableLo = new Uint32Array(256 * slices);
const tableHi = new Uint32Array(256 * slices);

for (let byte = 0; byte < 256; byte += 1) {
  let lo = byte;
  let hi = 0;
  for (let bit = 0; bit < 8; bit += 1) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry !== 0) {
      lo = (lo ^ reflectedPolyLo) >>> 0;
      hi = (hi ^ reflectedPolyHi) >>> 0;
    }
  }
  tableLo[byte] = lo;
  tableHi[byte] = hi;
}
for (let slice = 1; slice < slices; slice += 1) {
  for (let byte = 0; byte < 256; byte += 1) {
    const previousLo = tableLo[(slice - 1) * 256 + byte]!;
    const previousHi = tableHi[(slice - 1) * 256 + byte]!;
    const index = previousLo & 0xff;
    tableLo[slice * 256 + byte] = (((previousLo >>> 8) | (previousHi << 24)) ^ tableLo[index]!) >>> 0;
    tableHi[slice * 256 + byte] = ((previousHi >>> 8) ^ tableHi[index]!) >>> 0;
  }
}

/** An incremental CRC-64/NVME. */
export class Crc64Nvme {
  // The register, pre-inverted (init 0xffff…); inverted again on digest.
  #lo = 0xffffffff;
  #hi = 0xffffffff;

  update(bytes: Uint8Array): void {
    let lo = this.#lo;
    let hi = this.#hi;
    let offset = 0;
    // Byte at a time up to a 4-byte boundary, so the bulk can be read as aligned 32-bit words.
    const misaligned = (4 - (bytes.byteOffset % 4)) % 4;
    for (; offset < Math.min(misaligned, bytes.length); offset += 1) {
      const index = (lo ^ bytes[offset]!) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ tableLo[index]!) >>> 0;
      hi = ((hi >>> 8) ^ tableHi[index]!) >>> 0;
    }
    const wordCount = Math.floor((bytes.length - offset) / 8) * 2;
    // (A body shorter than its misalignment leaves `offset` unaligned, but then wordCount is 0.)
    const words = wordCount === 0 ? new Uint32Array(0) : new Uint32Array(bytes.buffer, bytes.byteOffset + offset, wordCount);
    for (let word = 0; word < wordCount; word += 2) {
      const a = (lo ^ words[word]!) >>> 0;
      const b = (hi ^ words[word + 1]!) >>> 0;
      const i7 = 7 * 256 + (a & 0xff);
      const i6 = 6 * 256 + ((a >>> 8) & 0xff);
      const i5 = 5 * 256 + ((a >>> 16) & 0xff);
      const i4 = 4 * 256 + (a >>> 24);
      const i3 = 3 * 256 + (b & 0xff);
      const i2 = 2 * 256 + ((b >>> 8) & 0xff);
      const i1 = 256 + ((b >>> 16) & 0xff);
      const i0 = b >>> 24;
      lo = (tableLo[i7]! ^ tableLo[i6]! ^ tableLo[i5]! ^ tableLo[i4]! ^ tableLo[i3]! ^ tableLo[i2]! ^ tableLo[i1]! ^ tableLo[i0]!) >>> 0;
      hi = (tableHi[i7]! ^ tableHi[i6]! ^ tableHi[i5]! ^ tableHi[i4]! ^ tableHi[i3]! ^ tableHi[i2]! ^ tableHi[i1]! ^ tableHi[i0]!) >>> 0;
    }
    offset += wordCount * 4;
    for (; offset < bytes.length; offset += 1) {
      const index = (lo ^ bytes[offset]!) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ tableLo[index]!) >>> 0;
      hi = ((hi >>> 8) ^ tableHi[index]!) >>> 0;
    }
    this.#lo = lo;
    this.#hi = hi;
  }

  /** The CRC as 8 big-endian bytes (the order S3 base64-encodes). */
  digest(): Uint8Array {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, (this.#hi ^ 0xffffffff) >>> 0);
    view.setUint32(4, (this.#lo ^ 0xffffffff) >>> 0);
    return out;
  }
}

/** CRC-64/NVME of `bytes` as 8 big-endian bytes. */
export function crc64Nvme(bytes: Uint8Array): Uint8Array {
  const crc = new Crc64Nvme();
  crc.update(bytes);
  return crc.digest();
}
