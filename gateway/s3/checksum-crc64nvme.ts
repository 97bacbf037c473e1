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
 * separately. Slicing-by-8: eight tables let one step consume eight bytes,
 * which is several times faster than a byte at a time.
 */

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
    const end8 = bytes.length - (bytes.length % 8);
    while (offset < end8) {
      const a = (lo ^ (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24))) >>> 0;
      const b = (hi ^ (bytes[offset + 4]! | (bytes[offset + 5]! << 8) | (bytes[offset + 6]! << 16) | (bytes[offset + 7]! << 24))) >>> 0;
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
      offset += 8;
    }
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
