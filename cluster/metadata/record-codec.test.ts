import { describe, expect, test } from "bun:test";
import { decodeRecord, decodeRecordOf, encodeRecord, recordKinds } from "./record-codec.ts";

describe("record codec", () => {
  test("round-trips a value with its kind and version in the first two bytes", () => {
    const value = { name: "bucket", createdMs: 1_700_000_000_000, nested: { list: [1, "two"] } };
    const bytes = encodeRecord("bucket", 3, value);
    expect(bytes[0]).toBe(recordKinds.bucket);
    expect(bytes[1]).toBe(3);
    expect(decodeRecord(bytes)).toEqual({ kind: "bucket", version: 3, value });
  });

  test("refuses unknown kinds, version 0, short input and the wrong kind", () => {
    const bytes = encodeRecord("object", 1, { a: 1 });
    const unknownKind = bytes.slice();
    unknownKind[0] = 200;
    expect(() => decodeRecord(unknownKind)).toThrow();
    const versionZero = bytes.slice();
    versionZero[1] = 0;
    expect(() => decodeRecord(versionZero)).toThrow();
    expect(() => decodeRecord(new Uint8Array([2, 1]))).toThrow();
    expect(() => decodeRecordOf("bucket", bytes)).toThrow();
    expect(decodeRecordOf("object", bytes).value).toEqual({ a: 1 });
    expect(() => encodeRecord("object", 0, {})).toThrow();
    expect(() => encodeRecord("object", 256, {})).toThrow();
  });

  test("kind ids are distinct", () => {
    const ids = Object.values(recordKinds);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
