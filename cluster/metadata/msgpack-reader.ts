/**
 * A reader for the part of MessagePack that `record-codec.ts` writes for
 * plain records, faster than `msgpackr` on the small records a listing
 * decodes by the thousand (1,000 object records from LMDB: ~1.1 ms instead
 * of ~2.7 ms at best on the bench machine, with less garbage).
 *
 * It changes no stored byte: it reads the same encoding `msgpackr` writes,
 * and it answers "not mine" (`undefined` from `readMessagePack`) for anything
 * outside the subset below, so the caller decodes that value with `msgpackr`
 * exactly as before. The subset, by first byte:
 *
 * | first byte        | type                  | read as                               |
 * |-------------------|-----------------------|---------------------------------------|
 * | 0x00-0x7f         | positive fixint       | number                                |
 * | 0x80-0x8f         | fixmap                | plain object (string keys only)       |
 * | 0x90-0x9f         | fixarray              | array                                 |
 * | 0xa0-0xbf         | fixstr                | string                                |
 * | 0xc0              | nil                   | null                                  |
 * | 0xc2, 0xc3        | false, true           | boolean                               |
 * | 0xcb              | float 64              | number                                |
 * | 0xcc, 0xcd, 0xce  | uint 8 / 16 / 32      | number                                |
 * | 0xd0, 0xd1, 0xd2  | int 8 / 16 / 32       | number                                |
 * | 0xd9, 0xda, 0xdb  | str 8 / 16 / 32       | string                                |
 * | 0xdc, 0xdd        | array 16 / 32         | array                                 |
 * | 0xde, 0xdf        | map 16 / 32           | plain object (string keys only)       |
 * | 0xe0-0xff         | negative fixint       | number                                |
 *
 * Everything else (bin, ext and fixext — which includes msgpackr's
 * `undefined` —, float 32, 64-bit integers, non-string or `__proto__` map
 * keys, nesting deeper than `depthMax`, trailing bytes, truncation) is left
 * to `msgpackr`, whose answers for those differ in ways not worth copying.
 *
 * Strings: short ASCII strings are built from their char codes (and short
 * strings that repeat come from a small cache); any other string goes through
 * `TextDecoder`, which equals msgpackr's own decoding for well-formed UTF-8
 * (the only kind its encoder writes for strings without lone surrogates).
 */

/** Nesting at most this deep is read here; deeper values (never written by this codebase) go to msgpackr. */
const depthMax = 32;
/** Strings at most this long are looked up in `stringCache` instead of being built anew. */
const cachedStringBytesMax = 24;
const stringCacheSlots = 1_024;
/** ASCII strings at most this long are built from an array of char codes; longer ones by `TextDecoder`. */
const charCodesMax = 64;

/** Thrown inside the reader to give the whole value back to the fallback; never escapes this file. */
const notMine: unique symbol = Symbol("msgpack value outside the subset");

const utf8Decoder = new TextDecoder();

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;

/**
 * Node's `Buffer#latin1Slice`, which Bun also applies to a plain Uint8Array:
 * one native call builds an ASCII string faster than any JavaScript loop
 * (a page of 1,000 records: ~20% less decoding time, measured). Used only if
 * it answers correctly here; otherwise strings are built from char codes.
 */
const latin1Slice: Latin1Slice | undefined = ((): Latin1Slice | undefined => {
  const candidate = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;
  if (typeof candidate !== "function") return undefined;
  try {
    return candidate.call(new Uint8Array([0x6f, 0x6b, 0x21]), 1, 3) === "k!" ? candidate : undefined;
  } catch {
    return undefined;
  }
})();
/** Big-endian float 64 bytes are copied here in reverse and read as one little-endian double. */
const floatBytes = new Uint8Array(8);
const floatView = new Float64Array(floatBytes.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Each slot remembers the last short string whose bytes hashed there, so a
 * repeated string costs a hash and a byte comparison, and no new string.
 * Its bytes sit at `slot * cachedStringBytesMax` in one preallocated array,
 * so a miss (a key or data id seen once) allocates nothing but its string.
 */
const stringCacheBytes = new Uint8Array(stringCacheSlots * cachedStringBytesMax);
/** Byte length of each slot's string; -1 for an empty slot. */
const stringCacheLengths = new Int32Array(stringCacheSlots).fill(-1);
const stringCacheStrings: string[] = new Array<string>(stringCacheSlots).fill("");

interface Cursor {
  bytes: Uint8Array;
  position: number;
  end: number;
}

/**
 * The value encoded in `bytes[start, bytes.length)`, or `undefined` when it
 * uses anything outside this file's subset (MessagePack has no `undefined`
 * inside the subset, so the answer is unambiguous): the caller then decodes
 * it with msgpackr.
 */
export function readMessagePack(bytes: Uint8Array, start: number): unknown {
  const cursor: Cursor = { bytes, position: start, end: bytes.length };
  try {
    const value = readValue(cursor, 0);
    return cursor.position === cursor.end ? value : undefined;
  } catch (error) {
    if (error === notMine) return undefined;
    throw error;
  }
}

function readValue(cursor: Cursor, depth: number): unknown {
  const { bytes } = cursor;
  if (cursor.position >= cursor.end) throw notMine;
  const type = bytes[cursor.position++] as number;
  if (type < 0x80) return type;
  if (type < 0x90) return readMap(cursor, type & 0x0f, depth);
  if (type < 0xa0) return readArray(cursor, type & 0x0f, depth);
  if (type < 0xc0) return readString(cursor, type & 0x1f);
  if (type >= 0xe0) return type - 0x100;
  switch (type) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcb:
      return readFloat64(cursor);
    case 0xcc:
      return readUnsigned(cursor, 1);
    case 0xcd:
      return readUnsigned(cursor, 2);
    case 0xce:
      return readUnsigned(cursor, 4);
    case 0xd0:
      return (readUnsigned(cursor, 1) << 24) >> 24;
    case 0xd1:
      return (readUnsigned(cursor, 2) << 16) >> 16;
    case 0xd2:
      return readUnsigned(cursor, 4) | 0;
    case 0xd9:
      return readString(cursor, readUnsigned(cursor, 1));
    case 0xda:
      return readString(cursor, readUnsigned(cursor, 2));
    case 0xdb:
      return readString(cursor, readUnsigned(cursor, 4));
    case 0xdc:
      return readArray(cursor, readUnsigned(cursor, 2), depth);
    case 0xdd:
      return readArray(cursor, readUnsigned(cursor, 4), depth);
    case 0xde:
      return readMap(cursor, readUnsigned(cursor, 2), depth);
    case 0xdf:
      return readMap(cursor, readUnsigned(cursor, 4), depth);
    default:
      throw notMine;
  }
}

/** A big-endian unsigned integer of 1, 2 or 4 bytes. */
function readUnsigned(cursor: Cursor, width: 1 | 2 | 4): number {
  const { bytes, position } = cursor;
  if (position + width > cursor.end) throw notMine;
  cursor.position = position + width;
  if (width === 1) return bytes[position] as number;
  if (width === 2) return ((bytes[position] as number) << 8) | (bytes[position + 1] as number);
  return (
    (bytes[position] as number) * 0x1000000 +
    (((bytes[position + 1] as number) << 16) | ((bytes[position + 2] as number) << 8) | (bytes[position + 3] as number))
  );
}

function readFloat64(cursor: Cursor): number {
  const { bytes, position } = cursor;
  if (position + 8 > cursor.end) throw notMine;
  cursor.position = position + 8;
  for (let index = 0; index < 8; index++) {
    floatBytes[littleEndian ? 7 - index : index] = bytes[position + index] as number;
  }
  return floatView[0] as number;
}

function readMap(cursor: Cursor, count: number, depth: number): Record<string, unknown> {
  if (depth >= depthMax) throw notMine;
  const out: Record<string, unknown> = {};
  for (let index = 0; index < count; index++) {
    const key = readKey(cursor);
    // msgpackr renames this key; leave such a value to it.
    if (key === "__proto__") throw notMine;
    out[key] = readValue(cursor, depth + 1);
  }
  return out;
}

function readArray(cursor: Cursor, count: number, depth: number): unknown[] {
  if (depth >= depthMax) throw notMine;
  // Each element takes at least one byte, so a count beyond the input is corruption: msgpackr's to report.
  if (count > cursor.end - cursor.position) throw notMine;
  const out: unknown[] = [];
  for (let index = 0; index < count; index++) out.push(readValue(cursor, depth + 1));
  return out;
}

/** A map key: a string (any other type is msgpackr's). */
function readKey(cursor: Cursor): string {
  const { bytes } = cursor;
  if (cursor.position >= cursor.end) throw notMine;
  const type = bytes[cursor.position++] as number;
  let length: number;
  if (type >= 0xa0 && type < 0xc0) length = type & 0x1f;
  else if (type === 0xd9) length = readUnsigned(cursor, 1);
  else if (type === 0xda) length = readUnsigned(cursor, 2);
  else if (type === 0xdb) length = readUnsigned(cursor, 4);
  else throw notMine;
  return readString(cursor, length);
}

/**
 * A string of `length` bytes. Short ones come from `stringCache` when their
 * bytes were seen last in the same slot: field names, and values such as
 * the storage class, the layout kind, the content type or "null" repeat in
 * every record, and building a string costs more than hashing its bytes.
 */
function readString(cursor: Cursor, length: number): string {
  const { bytes } = cursor;
  const start = cursor.position;
  if (start + length > cursor.end) throw notMine;
  if (length > cachedStringBytesMax) return buildString(cursor, length);
  // The slot comes from the length and three bytes, not every byte: hashing
  // whole strings cost as much again as the byte comparison that follows
  // (which alone decides whether the slot holds this string).
  let hash = length;
  if (length > 0) {
    hash = Math.imul(hash, 31) + (bytes[start] as number);
    hash = Math.imul(hash, 31) + (bytes[start + (length >> 1)] as number);
    hash = Math.imul(hash, 31) + (bytes[start + length - 1] as number);
  }
  const slot = (hash >>> 0) % stringCacheSlots;
  const slotStart = slot * cachedStringBytesMax;
  if (stringCacheLengths[slot] === length) {
    let same = true;
    for (let index = 0; index < length; index++) {
      if (stringCacheBytes[slotStart + index] !== bytes[start + index]) {
        same = false;
        break;
      }
    }
    if (same) {
      cursor.position = start + length;
      return stringCacheStrings[slot] as string;
    }
  }
  const built = buildString(cursor, length);
  for (let index = 0; index < length; index++) stringCacheBytes[slotStart + index] = bytes[start + index] as number;
  stringCacheLengths[slot] = length;
  stringCacheStrings[slot] = built;
  return built;
}

/**
 * The string of `bytes[start, end)` when every byte is ASCII other than 0x00,
 * else undefined: a fast path for callers reading keys out of stored bytes.
 */
export function asciiText(bytes: Uint8Array, start: number, end: number): string | undefined {
  for (let index = start; index < end; index++) {
    const byte = bytes[index] as number;
    if (byte === 0x00 || byte >= 0x80) return undefined;
  }
  if (latin1Slice !== undefined) return latin1Slice.call(bytes, start, end);
  let out = "";
  for (let index = start; index < end; index++) out += String.fromCharCode(bytes[index] as number);
  return out;
}

/** A new string from the next `length` bytes (bounds already checked). */
function buildString(cursor: Cursor, length: number): string {
  const { bytes } = cursor;
  const start = cursor.position;
  const end = start + length;
  cursor.position = end;
  if (length > charCodesMax) return utf8Decoder.decode(bytes.subarray(start, end));
  for (let index = start; index < end; index++) {
    // Not ASCII: the whole string goes through the UTF-8 decoder.
    if ((bytes[index] as number) >= 0x80) return utf8Decoder.decode(bytes.subarray(start, end));
  }
  if (latin1Slice !== undefined) return latin1Slice.call(bytes, start, end);
  // One call over an array of codes: faster than joining characters one by one (measured).
  const codes = new Array<number>(length);
  for (let index = 0; index < length; index++) codes[index] = bytes[start + index] as number;
  return String.fromCharCode.apply(null, codes);
}
