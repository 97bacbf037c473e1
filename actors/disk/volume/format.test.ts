import { describe, expect, test } from "bun:test";
import { crc32c } from "@node-rs/crc32";
import {
  decodeHeader,
  decodeRecord,
  encodeRecord,
  encodeRecordBytes,
  formatVersionCurrent,
  formatVersionsReadable,
  recordAlignmentBytes,
  recordBytesFor,
  recordHeaderBytes,
} from "./format.ts";

const payload = new TextEncoder().encode("the quick brown fox jumps over the lazy dog");
const key = "bucket/object/7";

// Rewrites the header CRC after editing fixed header bytes, so a test can check a field's own validation
// rather than only the CRC.
function resealHeader(bytes: Uint8Array, keyBytes: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fixed = Buffer.from(bytes.subarray(0, 20));
  const keyPart = Buffer.from(bytes.subarray(recordHeaderBytes, recordHeaderBytes + keyBytes));
  view.setUint32(20, crc32c(keyPart, crc32c(fixed)) >>> 0, true);
}

describe("record format", () => {
  test("a live record round-trips", () => {
    const bytes = encodeRecordBytes("live", key, payload);
    expect(bytes.length % recordAlignmentBytes).toBe(0);
    expect(bytes.length).toBe(recordBytesFor(key.length, payload.length));
    const decoded = decodeRecord(bytes);
    expect(decoded.status).toBe("valid");
    if (decoded.status !== "valid") return;
    expect(decoded.key).toBe(key);
    expect(decoded.header.kind).toBe("live");
    expect(decoded.header.version).toBe(formatVersionCurrent);
    expect(decoded.header.payloadBytes).toBe(payload.length);
    expect(Buffer.from(decoded.payload).equals(Buffer.from(payload))).toBe(true);
  });

  test("a tombstone and an empty payload round-trip; multibyte keys count bytes", () => {
    const tombstone = decodeRecord(encodeRecordBytes("tombstone", "ключ", new Uint8Array(0)));
    expect(tombstone.status).toBe("valid");
    if (tombstone.status !== "valid") return;
    expect(tombstone.header.kind).toBe("tombstone");
    expect(tombstone.key).toBe("ключ");
    expect(tombstone.header.keyBytes).toBe(8);
    const empty = decodeRecord(encodeRecordBytes("live", "k", new Uint8Array(0)));
    expect(empty.status).toBe("valid");
  });

  test("the pieces for writev concatenate to the contiguous encoding", () => {
    const encoded = encodeRecord("live", key, payload);
    const joined = Buffer.concat([encoded.head, encoded.payload, encoded.padding]);
    expect(joined.length).toBe(encoded.recordBytes);
    expect(joined.equals(Buffer.from(encodeRecordBytes("live", key, payload)))).toBe(true);
  });

  test("a flipped bit in any header or key byte is an invalid header", () => {
    const original = encodeRecordBytes("live", key, payload);
    for (let index = 0; index < recordHeaderBytes + key.length; index += 1) {
      for (const bit of [0x01, 0x80]) {
        const bytes = original.slice();
        bytes[index] = (bytes[index] ?? 0) ^ bit;
        const status = decodeRecord(bytes).status;
        // A flip in the key length may make the record claim more bytes than exist ("short"): also not trusted.
        expect({ index, bit, trusted: status === "valid" || status === "payloadCorrupt" }).toEqual({
          index,
          bit,
          trusted: false,
        });
      }
    }
  });

  test("each field is validated on its own, not only through the header CRC", () => {
    const cases: { name: string; offset: number; value: number; reason: RegExp }[] = [
      { name: "version", offset: 4, value: 99, reason: /version/ },
      { name: "flags (none)", offset: 6, value: 0, reason: /flags/ },
      { name: "flags (both)", offset: 6, value: 3, reason: /flags/ },
      { name: "reserved", offset: 10, value: 1, reason: /reserved/ },
    ];
    for (const testCase of cases) {
      const bytes = encodeRecordBytes("live", key, payload);
      new DataView(bytes.buffer).setUint16(testCase.offset, testCase.value, true);
      resealHeader(bytes, key.length);
      const decoded = decodeHeader(bytes);
      expect(decoded.status).toBe("invalidHeader");
      if (decoded.status === "invalidHeader") expect(decoded.reason).toMatch(testCase.reason);
    }
    const badMagic = encodeRecordBytes("live", key, payload);
    badMagic[0] = 0x00;
    resealHeader(badMagic, key.length);
    expect(decodeHeader(badMagic)).toEqual({ status: "invalidHeader", reason: "bad magic" });
  });

  test("a flipped payload byte is a payload CRC mismatch with the header still trusted", () => {
    const bytes = encodeRecordBytes("live", key, payload);
    const payloadStart = recordHeaderBytes + key.length;
    bytes[payloadStart + 5] = (bytes[payloadStart + 5] ?? 0) ^ 0x10;
    const decoded = decodeRecord(bytes);
    expect(decoded.status).toBe("payloadCorrupt");
    if (decoded.status === "payloadCorrupt") expect(decoded.key).toBe(key);
    // The same bytes as a header alone still verify: the key and length are known.
    expect(decodeHeader(bytes).status).toBe("valid");
  });

  test("a corrupted payload CRC field is caught by the header CRC", () => {
    const bytes = encodeRecordBytes("live", key, payload);
    bytes[17] = (bytes[17] ?? 0) ^ 0x01;
    expect(decodeRecord(bytes).status).toBe("invalidHeader");
  });

  test("truncated bytes are short, never valid", () => {
    const bytes = encodeRecordBytes("live", key, payload);
    const payloadEnd = recordHeaderBytes + key.length + payload.length;
    for (const length of [0, 10, recordHeaderBytes, recordHeaderBytes + 3, payloadEnd - 1]) {
      const decoded = decodeRecord(bytes.subarray(0, length));
      expect({ length, status: decoded.status }).toEqual({ length, status: "short" });
    }
    // Padding is not needed to decode.
    expect(decodeRecord(bytes.subarray(0, payloadEnd)).status).toBe("valid");
  });

  test("every readable version decodes; the current one is readable", () => {
    expect(formatVersionsReadable).toContain(formatVersionCurrent);
    for (const version of formatVersionsReadable) {
      const bytes = encodeRecordBytes("live", key, payload);
      new DataView(bytes.buffer).setUint16(4, version, true);
      resealHeader(bytes, key.length);
      const decoded = decodeRecord(bytes);
      expect(decoded.status).toBe("valid");
      if (decoded.status === "valid") expect(decoded.header.version).toBe(version);
    }
  });

  test("the byte layout matches the table", () => {
    const bytes = encodeRecordBytes("live", "ab", Uint8Array.of(9, 8, 7));
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("CRNR");
    expect(view.getUint16(4, true)).toBe(1);
    expect(view.getUint16(6, true)).toBe(1);
    expect(view.getUint16(8, true)).toBe(2);
    expect(view.getUint16(10, true)).toBe(0);
    expect(view.getUint32(12, true)).toBe(3);
    expect(view.getUint32(16, true)).toBe(crc32c(Buffer.of(9, 8, 7)) >>> 0);
    expect(Array.from(bytes.subarray(24, 29))).toEqual([0x61, 0x62, 9, 8, 7]);
    expect(bytes.length).toBe(32);
    expect(Array.from(bytes.subarray(29))).toEqual([0, 0, 0]);
  });
});
