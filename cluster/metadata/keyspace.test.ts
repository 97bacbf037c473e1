import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compareBytes } from "./bytes.ts";
import {
  multipartPartKey,
  multipartPartRange,
  multipartUploadKey,
  multipartUploadRange,
  bucketKey,
  bucketRange,
  garbageRange,
  objectKey,
  objectKeyFromStoredKey,
  objectKeyPrefix,
  objectPrefixRange,
  objectRange,
  nodeKey,
  nodeLeaseKey,
  nodeLeaseRange,
  nodeRange,
  partitionUnitFromStoredKey,
  partitionUnitKey,
  partitionUnitRange,
  pendingKey,
  pendingRange,
  strinc,
} from "./keyspace.ts";

const within = (key: Uint8Array, range: { begin: Uint8Array; end: Uint8Array }): boolean =>
  Buffer.compare(Buffer.from(range.begin), Buffer.from(key)) <= 0 &&
  Buffer.compare(Buffer.from(key), Buffer.from(range.end)) < 0;

/** A seeded generator (mulberry32): every random choice here replays from the printed seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("keyspace", () => {
  test("strinc is the first key after every key with the prefix", () => {
    expect([...strinc(new Uint8Array([1, 2, 3]))]).toEqual([1, 2, 4]);
    expect([...strinc(new Uint8Array([1, 0xff, 0xff]))]).toEqual([2]);
    expect([...strinc(new Uint8Array([0xfe, 0xff]))]).toEqual([0xff]);
    expect(() => strinc(new Uint8Array([0xff, 0xff]))).toThrow();
    expect(() => strinc(new Uint8Array([]))).toThrow();
  });

  test("object keys sort in the UTF-8 byte order of the S3 keys, NUL bytes included", () => {
    const keys = ["a", "a\u0000", "a\u0000b", "a\u0001", "ab", "b", "", "\u0000", "é", "z", "日本", "😀", "\uffff", "a/b", "a.b"];
    const byUtf8 = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
    const byEncoded = [...keys].sort((a, b) =>
      Buffer.compare(Buffer.from(objectKey("bucket", a)), Buffer.from(objectKey("bucket", b))),
    );
    expect(byEncoded).toEqual(byUtf8);
  });

  test("encoded order matches UTF-8 order on random keys (seeded)", () => {
    const seed = 0x5eed_0001;
    const random = seeded(seed);
    const alphabet = ["\u0000", "\u0001", "a", "b", "/", "é", "\u00ff", "日", "😀", "\uffff"];
    const keys = Array.from({ length: 400 }, () =>
      Array.from({ length: Math.floor(random() * 6) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""),
    );
    const byUtf8 = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
    const byEncoded = [...keys].sort((a, b) =>
      Buffer.compare(Buffer.from(objectKey("b", a)), Buffer.from(objectKey("b", b))),
    );
    if (JSON.stringify(byEncoded) !== JSON.stringify(byUtf8)) console.log(`keyspace order failure, seed ${seed}`);
    expect(byEncoded).toEqual(byUtf8);
  });

  test("a stored object key decodes back to its bucket and key", () => {
    for (const key of ["plain", "with\u0000nul", "", "ünïcödé/😀"]) {
      expect(objectKeyFromStoredKey(objectKey("my-bucket", key))).toEqual({ bucket: "my-bucket", key });
    }
    expect(() => objectKeyFromStoredKey(bucketKey("my-bucket"))).toThrow();
  });

  test("ranges hold their subspace and nothing else", () => {
    expect(within(objectKey("b1", "x"), objectRange("b1"))).toBe(true);
    expect(within(objectKey("b10", "x"), objectRange("b1"))).toBe(false);
    expect(within(objectKey("b1\u0000", "x"), objectRange("b1"))).toBe(false);
    expect(within(bucketKey("b1"), bucketRange())).toBe(true);
    expect(within(objectKey("b1", "x"), bucketRange())).toBe(false);
    expect(within(pendingKey("d1"), pendingRange())).toBe(true);
    expect(within(pendingKey("d1"), garbageRange())).toBe(false);
  });

  test("an object key prefix covers exactly the keys that start with it", () => {
    const range = objectPrefixRange("b", "photos/");
    for (const key of ["photos/", "photos/a", "photos/\u0000", "photos/😀/x"]) expect(within(objectKey("b", key), range)).toBe(true);
    for (const key of ["photos", "photos0", "photo", "photos.", "a"]) expect(within(objectKey("b", key), range)).toBe(false);
    // With a NUL at the end of the prefix, escaping must not let other keys in.
    const nulRange = objectPrefixRange("b", "p\u0000");
    expect(within(objectKey("b", "p\u0000x"), nulRange)).toBe(true);
    expect(within(objectKey("b", "p"), nulRange)).toBe(false);
    expect(within(objectKey("b", "p\u0001"), nulRange)).toBe(false);
    const allKeys = objectPrefixRange("b", "");
    for (const key of ["", "\u0000", "a", "😀"]) expect(within(objectKey("b", key), allKeys)).toBe(true);
    expect(within(objectKey("b\u0000", "a"), allKeys)).toBe(false);
    expect(within(objectKey("a", "a"), allKeys)).toBe(false);
    expect(objectKeyPrefix("b", "x").length).toBe(objectKey("b", "x").length - 1);
  });

  test("membership subspaces hold their own keys only", () => {
    expect(within(nodeKey("n1"), nodeRange())).toBe(true);
    expect(within(nodeLeaseKey("n1"), nodeRange())).toBe(false);
    expect(within(nodeLeaseKey("n1"), nodeLeaseRange())).toBe(true);
    expect(within(nodeKey("n1"), nodeLeaseRange())).toBe(false);
    expect(within(partitionUnitKey("b", 3), partitionUnitRange())).toBe(true);
    expect(within(pendingKey("d"), partitionUnitRange())).toBe(false);
    expect(partitionUnitFromStoredKey(partitionUnitKey("b\u0000x", 7))).toEqual({ bucket: "b\u0000x", partition: 7 });
    expect(() => partitionUnitFromStoredKey(nodeKey("n1"))).toThrow();
  });
});

describe("the documented key layout", () => {
  test("cluster/README.md's table names every subspace keyspace.ts builds, and nothing else", () => {
    const source = readFileSync(join(import.meta.dir, "keyspace.ts"), "utf8");
    const built = new Set([...source.matchAll(/encode\(\["([a-z]+)"/g)].map((match) => match[1]!));
    const readme = readFileSync(join(import.meta.dir, "../README.md"), "utf8");
    const documented = new Set([...readme.matchAll(/^\| `\("([a-z]+)"/gm)].map((match) => match[1]!));
    expect(built.size).toBeGreaterThan(15);
    expect([...documented].sort()).toEqual([...built].sort());
  });

  test("multipart keys: a key's uploads in upload-id order, an upload's parts in part-number order", () => {
    const uploads = ["0001", "0002", "0010"].map((uploadId) => multipartUploadKey("b", "k", uploadId));
    expect([...uploads].sort(compareBytes)).toEqual(uploads);
    const parts = [1, 2, 10, 10_000].map((partNumber) => multipartPartKey("b", "u1", partNumber));
    expect([...parts].sort(compareBytes)).toEqual(parts);
    const range = multipartPartRange("b", "u1");
    for (const part of parts) expect(compareBytes(range.begin, part) <= 0 && compareBytes(part, range.end) < 0).toBe(true);
    expect(compareBytes(multipartPartKey("b", "u10", 1), range.end) >= 0 || compareBytes(multipartPartKey("b", "u10", 1), range.begin) < 0).toBe(true);
    const uploadRange = multipartUploadRange("b");
    expect(compareBytes(uploadRange.begin, uploads[0]!) <= 0 && compareBytes(uploads[2]!, uploadRange.end) < 0).toBe(true);
  });
});
