/**
 * The on-disk record format of a volume file. A volume is a plain sequence of
 * records with no file header; every record starts on an 8-byte boundary.
 *
 * Record, format version 1 (all integers little-endian):
 *
 * | offset      | size            | field          | meaning                                                    |
 * |-------------|-----------------|----------------|------------------------------------------------------------|
 * | 0           | 4               | magic          | ASCII `CRNR` (bytes 0x43 0x52 0x4E 0x52)                   |
 * | 4           | 2               | version        | u16 format version; 1 is the only one written so far       |
 * | 6           | 2               | flags          | u16: 0x0001 live, 0x0002 tombstone; exactly one is set     |
 * | 8           | 2               | keyLength      | u16 length of the shard key in UTF-8 bytes (K)             |
 * | 10          | 2               | reserved       | u16, zero in version 1                                     |
 * | 12          | 4               | payloadLength  | u32 payload length in bytes (P); 0 for a tombstone         |
 * | 16          | 4               | payloadCrc32c  | u32 CRC32C of the P payload bytes                          |
 * | 20          | 4               | headerCrc32c   | u32 CRC32C of bytes [0, 20) followed by the K key bytes    |
 * | 24          | K               | key            | the shard key, UTF-8                                       |
 * | 24 + K      | P               | payload        | the shard bytes                                            |
 * | 24 + K + P  | 0..7            | padding        | zero bytes up to the next multiple of 8; not checksummed   |
 *
 * Why two checksums: the header CRC makes the record's length trustworthy, so
 * a scan can step from record to record and tell a torn tail (the header does
 * not verify, or the record runs past the end of the file) from bit rot inside
 * a payload (the header verifies, the payload CRC does not). The header CRC
 * covers the payload CRC field, so the chain header → payload is closed.
 *
 * Readers accept every version in `formatVersionsReadable`; a new version is
 * added there and never removed.
 */
import { crc32c } from "@node-rs/crc32";
import { assert } from "../../../runtime/index.ts";

/** Bytes of the fixed part of a record header (before the key). */
export const recordHeaderBytes = 24;
/** Every record starts and ends on a multiple of this. */
export const recordAlignmentBytes = 8;
/** The largest key the header can describe (u16). */
export const recordKeyBytesMax = 0xffff;
/** The largest payload the header can describe (u32). */
export const recordPayloadBytesMax = 0xffff_ffff;
/** The version this code writes. */
export const formatVersionCurrent = 1;
/** Every version ever written; readers accept all of them. */
export const formatVersionsReadable: readonly number[] = [1];

const magicBytes = Uint8Array.of(0x43, 0x52, 0x4e, 0x52);
const flagLive = 0x0001;
const flagTombstone = 0x0002;
const paddingZeros = new Uint8Array(recordAlignmentBytes);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** A live record carries a payload; a tombstone removes its key. */
export type RecordKind = "live" | "tombstone";

/** The verified fields of a record header. */
export interface RecordHeader {
  readonly version: number;
  readonly kind: RecordKind;
  readonly keyBytes: number;
  readonly payloadBytes: number;
  readonly payloadCrc32c: number;
  readonly headerCrc32c: number;
  /** Whole record including header, key, payload and padding. */
  readonly recordBytes: number;
}

/** A record ready to be written as three consecutive pieces (for `writev`). */
export interface EncodedRecord {
  /** Fixed header followed by the key bytes. */
  readonly head: Uint8Array;
  readonly payload: Uint8Array;
  /** Zero bytes up to the next 8-byte boundary (possibly empty). */
  readonly padding: Uint8Array;
  readonly recordBytes: number;
}

/** Outcome of decoding a header; `short` means the bytes end before the header and key do. */
export type HeaderDecode =
  | { readonly status: "valid"; readonly header: RecordHeader; readonly key: string }
  | { readonly status: "short"; readonly bytesNeeded: number }
  | { readonly status: "invalidHeader"; readonly reason: string };

/**
 * Outcome of decoding a whole record. `invalidHeader` and `short` mean the
 * record's bounds cannot be trusted (torn or garbage); `payloadCorrupt` means
 * the header verified but the payload did not.
 */
export type RecordDecode =
  | { readonly status: "valid"; readonly header: RecordHeader; readonly key: string; readonly payload: Uint8Array }
  | { readonly status: "short"; readonly bytesNeeded: number }
  | { readonly status: "invalidHeader"; readonly reason: string }
  | { readonly status: "payloadCorrupt"; readonly header: RecordHeader; readonly key: string };

/** Total bytes of a record with a key and payload of these sizes, padding included. */
export function recordBytesFor(keyBytes: number, payloadBytes: number): number {
  const unpadded = recordHeaderBytes + keyBytes + payloadBytes;
  return Math.ceil(unpadded / recordAlignmentBytes) * recordAlignmentBytes;
}

/** UTF-8 bytes of a shard key. */
export function encodeKey(key: string): Uint8Array {
  return textEncoder.encode(key);
}

/**
 * Encodes one record. The payload is not copied: the returned pieces are
 * meant for one `writev`.
 */
export function encodeRecord(kind: RecordKind, key: string, payload: Uint8Array): EncodedRecord {
  const keyBytes = encodeKey(key);
  assert(
    keyBytes.length >= 1 && keyBytes.length <= recordKeyBytesMax,
    `record key must be 1..${recordKeyBytesMax} bytes, got ${keyBytes.length}`,
  );
  assert(payload.length <= recordPayloadBytesMax, `record payload of ${payload.length} bytes is too large`);
  assert(kind === "live" || payload.length === 0, "a tombstone carries no payload");
  const head = new Uint8Array(recordHeaderBytes + keyBytes.length);
  const view = new DataView(head.buffer);
  head.set(magicBytes, 0);
  view.setUint16(4, formatVersionCurrent, true);
  view.setUint16(6, kind === "live" ? flagLive : flagTombstone, true);
  view.setUint16(8, keyBytes.length, true);
  view.setUint16(10, 0, true);
  view.setUint32(12, payload.length, true);
  view.setUint32(16, checksum(payload), true);
  head.set(keyBytes, recordHeaderBytes);
  view.setUint32(20, headerChecksum(head.subarray(0, 20), keyBytes), true);
  const recordBytes = recordBytesFor(keyBytes.length, payload.length);
  const paddingBytes = recordBytes - head.length - payload.length;
  return { head, payload, padding: paddingZeros.subarray(0, paddingBytes), recordBytes };
}

/** Encodes one record into a single contiguous buffer (tests and small writes). */
export function encodeRecordBytes(kind: RecordKind, key: string, payload: Uint8Array): Uint8Array {
  const encoded = encodeRecord(kind, key, payload);
  const bytes = new Uint8Array(encoded.recordBytes);
  bytes.set(encoded.head, 0);
  bytes.set(encoded.payload, encoded.head.length);
  return bytes;
}

/**
 * Decodes and verifies a record header. `bytes` starts at the record; it may
 * be shorter than the record (only the header and key are needed).
 */
export function decodeHeader(bytes: Uint8Array): HeaderDecode {
  if (bytes.length < recordHeaderBytes) {
    return { status: "short", bytesNeeded: recordHeaderBytes };
  }
  for (let index = 0; index < magicBytes.length; index += 1) {
    if (bytes[index] !== magicBytes[index]) return { status: "invalidHeader", reason: "bad magic" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (!formatVersionsReadable.includes(version)) {
    return { status: "invalidHeader", reason: `unknown format version ${version}` };
  }
  const flags = view.getUint16(6, true);
  let kind: RecordKind;
  if (flags === flagLive) kind = "live";
  else if (flags === flagTombstone) kind = "tombstone";
  else return { status: "invalidHeader", reason: `bad flags 0x${flags.toString(16)}` };
  const keyBytes = view.getUint16(8, true);
  if (view.getUint16(10, true) !== 0) return { status: "invalidHeader", reason: "reserved field is not zero" };
  if (keyBytes === 0) return { status: "invalidHeader", reason: "empty key" };
  const payloadBytes = view.getUint32(12, true);
  const payloadCrc32c = view.getUint32(16, true);
  const headerCrc32c = view.getUint32(20, true);
  if (bytes.length < recordHeaderBytes + keyBytes) {
    return { status: "short", bytesNeeded: recordHeaderBytes + keyBytes };
  }
  const key = bytes.subarray(recordHeaderBytes, recordHeaderBytes + keyBytes);
  if (headerChecksum(bytes.subarray(0, 20), key) !== headerCrc32c) {
    return { status: "invalidHeader", reason: "header CRC32C mismatch" };
  }
  // Checked after the CRC: only a verified header may be trusted to describe a tombstone.
  if (kind === "tombstone" && payloadBytes !== 0) {
    return { status: "invalidHeader", reason: "tombstone with a payload" };
  }
  let keyText: string;
  try {
    keyText = textDecoder.decode(key);
  } catch {
    return { status: "invalidHeader", reason: "key is not UTF-8" };
  }
  return {
    status: "valid",
    key: keyText,
    header: {
      version,
      kind,
      keyBytes,
      payloadBytes,
      payloadCrc32c,
      headerCrc32c,
      recordBytes: recordBytesFor(keyBytes, payloadBytes),
    },
  };
}

/**
 * Decodes and verifies a whole record: header, key and payload. Padding is not
 * required to be present, so a reader may read exactly header + key + payload.
 */
export function decodeRecord(bytes: Uint8Array): RecordDecode {
  const decoded = decodeHeader(bytes);
  if (decoded.status !== "valid") return decoded;
  const { header, key } = decoded;
  const payloadStart = recordHeaderBytes + header.keyBytes;
  const payloadEnd = payloadStart + header.payloadBytes;
  if (bytes.length < payloadEnd) return { status: "short", bytesNeeded: payloadEnd };
  const payload = bytes.subarray(payloadStart, payloadEnd);
  if (checksum(payload) !== header.payloadCrc32c) return { status: "payloadCorrupt", header, key };
  return { status: "valid", header, key, payload };
}

/** True when `payload` matches the payload CRC32C recorded in `header`. */
export function payloadMatches(header: RecordHeader, payload: Uint8Array): boolean {
  return payload.length === header.payloadBytes && checksum(payload) === header.payloadCrc32c;
}

/** True when the 4 bytes at `offset` are the record magic (a cheap pre-check before decoding). */
export function hasMagicAt(bytes: Uint8Array, offset: number): boolean {
  return (
    bytes[offset] === magicBytes[0] &&
    bytes[offset + 1] === magicBytes[1] &&
    bytes[offset + 2] === magicBytes[2] &&
    bytes[offset + 3] === magicBytes[3]
  );
}

function checksum(bytes: Uint8Array): number {
  return crc32c(asBuffer(bytes)) >>> 0;
}

function headerChecksum(fixed: Uint8Array, key: Uint8Array): number {
  return crc32c(asBuffer(key), crc32c(asBuffer(fixed))) >>> 0;
}

// The binding takes a Buffer; wrapping shares memory rather than copying.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
