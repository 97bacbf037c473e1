/**
 * Object tags in the versioned model (`setObjectTagsStep` through
 * `ObjectCatalog.setObjectTags`): current and named versions, the current
 * record kept equal to the newest version, delete markers left alone, legacy
 * records, and records without the field.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { objectKey, objectVersionsOfKeyRange } from "./keyspace.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { decodeObjectRecord, encodeObjectRecord, ObjectCatalog, type ObjectRecord } from "./object-catalog.ts";
import { decodeVersion } from "./object-versions.ts";
import { encodeRecord } from "./record-codec.ts";
import type { MetaStore } from "./store.ts";

let directory: string;
let store: MetaStore;
let catalog: ObjectCatalog;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-tags-"));
  store = await openLmdbStore({ path: directory });
  catalog = new ObjectCatalog(store);
  await catalog.createBucket("b", 1);
});

afterEach(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

const suffix = "abcdefghijklmnopqrstu";
let dataCounter = 0;

async function put(key: string, tags?: { key: string; value: string }[]): Promise<ObjectRecord> {
  dataCounter += 1;
  const dataId = `data-${dataCounter}`;
  const layout = { kind: "single", diskId: "disk-0", chunkBytes: 1_048_576, chunkCount: 1 } as const;
  await catalog.preparePut({ dataId, layout, createdMs: 1 });
  const committed = await catalog.commitPut({
    record: {
      bucket: "b",
      key,
      sizeBytes: 1,
      etag: `etag-${dataCounter}`,
      lastModifiedMs: 1_000 + dataCounter,
      storageClass: "STANDARD",
      headers: {},
      userMetadata: {},
      dataId,
      layout,
      ...(tags === undefined ? {} : { tags }),
    },
    versionSuffix: suffix.slice(0, 20) + String.fromCharCode(97 + (dataCounter % 26)),
    tokenLifetimeMs: 60_000,
    nowMs: 1_000 + dataCounter,
  });
  if (typeof committed === "string") throw new Error(`commit: ${committed}`);
  return committed.record;
}

async function allVersions(key: string): Promise<ObjectRecord[]> {
  const range = objectVersionsOfKeyRange("b", key);
  const pairs = await store.transact((tx) => tx.getRange(range.begin, range.end, { limit: 100 }));
  return pairs.map((pair) => decodeVersion(pair.value)).flatMap((version) => (version.kind === "object" ? [version.record] : []));
}

async function currentRecord(key: string): Promise<ObjectRecord | undefined> {
  const bytes = await store.transact((tx) => tx.get(objectKey("b", key)));
  return bytes === undefined ? undefined : decodeObjectRecord(bytes);
}

describe("object tags", () => {
  test("a PUT's tags are stored with the version, in order; a record without them has none", async () => {
    const tagged = await put("k", [{ key: "z", value: "1" }, { key: "a", value: "" }, { key: "10", value: "ten" }]);
    expect(tagged.tags).toEqual([{ key: "z", value: "1" }, { key: "a", value: "" }, { key: "10", value: "ten" }]);
    const head = await catalog.headObject("b", "k");
    expect(head !== "no-such-key" && typeof head === "object" && head.kind === "object" ? head.record.tags : "missing").toEqual(tagged.tags!);
    const plain = await put("plain");
    expect(plain.tags).toBeUndefined();
    expect("tags" in (await currentRecord("plain"))!).toBe(false);
  });

  test("tags of the current version are replaced and removed; the current record and its version stay equal", async () => {
    const first = await put("k", [{ key: "a", value: "1" }]);
    const result = await catalog.setObjectTags("b", "k", undefined, [{ key: "b", value: "2" }]);
    expect(result).toEqual({ kind: "object", record: { ...first, tags: [{ key: "b", value: "2" }] } });
    expect((await currentRecord("k"))!.tags).toEqual([{ key: "b", value: "2" }]);
    expect((await allVersions("k"))[0]!.tags).toEqual([{ key: "b", value: "2" }]);
    // ETag, Last-Modified, data: untouched.
    const current = (await currentRecord("k"))!;
    expect([current.etag, current.lastModifiedMs, current.dataId, current.versionId]).toEqual([first.etag, first.lastModifiedMs, first.dataId, first.versionId]);

    const removed = await catalog.setObjectTags("b", "k", undefined, []);
    expect(typeof removed === "object" && removed.kind === "object" && "tags" in removed.record).toBe(false);
    expect("tags" in (await currentRecord("k"))!).toBe(false);
  });

  test("a named noncurrent version is tagged alone; the current record is not touched", async () => {
    await catalog.putBucketVersioning("b", "Enabled");
    const older = await put("k", [{ key: "old", value: "1" }]);
    const newer = await put("k");
    const result = await catalog.setObjectTags("b", "k", older.versionId, [{ key: "x", value: "y" }]);
    expect(typeof result === "object" && result.kind === "object" ? result.record.versionId : "").toBe(older.versionId);
    const versions = await allVersions("k");
    expect(versions.map((version) => [version.versionId, version.tags])).toEqual([
      [newer.versionId, undefined],
      [older.versionId, [{ key: "x", value: "y" }]],
    ]);
    expect((await currentRecord("k"))!.tags).toBeUndefined();
    // The current version by id updates the current record too.
    await catalog.setObjectTags("b", "k", newer.versionId, [{ key: "n", value: "1" }]);
    expect((await currentRecord("k"))!.tags).toEqual([{ key: "n", value: "1" }]);
  });

  test("missing bucket, key and version; a delete marker is returned and left alone", async () => {
    expect(await catalog.setObjectTags("nope", "k", undefined, [])).toBe("no-such-bucket");
    expect(await catalog.setObjectTags("b", "k", undefined, [])).toBe("no-such-key");
    await catalog.putBucketVersioning("b", "Enabled");
    const live = await put("k");
    expect(await catalog.setObjectTags("b", "k", "0000000000zabcdefghijklmnopqrstu", [])).toBe("no-such-version");
    const deleted = await catalog.deleteObject("b", "k", { nowMs: 9_000, versionSuffix: suffix });
    if (typeof deleted === "string") throw new Error(deleted);
    const onMarker = await catalog.setObjectTags("b", "k", undefined, [{ key: "a", value: "b" }]);
    expect(typeof onMarker === "object" && onMarker.kind).toBe("deleteMarker");
    const byMarkerId = await catalog.setObjectTags("b", "k", deleted.versionId, [{ key: "a", value: "b" }]);
    expect(typeof byMarkerId === "object" && byMarkerId.kind).toBe("deleteMarker");
    // The live version behind the marker can still be tagged by id.
    const behind = await catalog.setObjectTags("b", "k", live.versionId, [{ key: "a", value: "b" }]);
    expect(typeof behind === "object" && behind.kind).toBe("object");
    expect(await currentRecord("k")).toBeUndefined();
  });

  test("a legacy record (before versioning) is tagged as the null version and moved into the versions", async () => {
    const legacy = {
      bucket: "b",
      key: "old",
      sizeBytes: 1,
      etag: "e",
      lastModifiedMs: 5,
      storageClass: "STANDARD",
      headers: {},
      userMetadata: {},
      dataId: "legacy-data",
      layout: { kind: "single", diskId: "disk-0", chunkBytes: 1_048_576, chunkCount: 1 },
    };
    await store.transact(async (tx) => tx.set(objectKey("b", "old"), encodeRecord("object", 2, legacy)));
    const result = await catalog.setObjectTags("b", "old", undefined, [{ key: "t", value: "v" }]);
    expect(typeof result === "object" && result.kind === "object" ? result.record.versionId : "").toBe("null");
    expect((await currentRecord("old"))!.tags).toEqual([{ key: "t", value: "v" }]);
    expect((await allVersions("old")).map((version) => version.tags)).toEqual([[{ key: "t", value: "v" }]]);
  });

  test("listings decode tagged records whole (the listing's own MessagePack reader included)", async () => {
    await put("a", [{ key: "k1", value: "ü" }, { key: "k2", value: "" }]);
    await put("b");
    const listed = await catalog.listObjects({ bucket: "b", prefix: "", delimiter: "", after: "", maxKeys: 10 });
    if (listed === "no-such-bucket") throw new Error(listed);
    expect(listed.objects.map((record) => [record.key, record.tags])).toEqual([
      ["a", [{ key: "k1", value: "ü" }, { key: "k2", value: "" }]],
      ["b", undefined],
    ]);
    const versions = await catalog.listObjectVersions({ bucket: "b", prefix: "a", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 10 });
    if (versions === "no-such-bucket") throw new Error(versions);
    expect(versions.entries.map((entry) => (entry.kind === "version" ? entry.record.tags : entry.kind))).toEqual([[{ key: "k1", value: "ü" }, { key: "k2", value: "" }]]);
  });

  test("an encoded record round-trips its tags", () => {
    const record: ObjectRecord = {
      bucket: "b",
      key: "k",
      sizeBytes: 0,
      etag: "e",
      lastModifiedMs: 1,
      storageClass: "STANDARD",
      headers: {},
      userMetadata: {},
      dataId: "d",
      layout: { kind: "replicated", placementGroupId: 1, copies: 2, chunkBytes: 10, chunkCount: 0 },
      versionId: "null",
      tags: [{ key: "ü", value: "日本" }],
    };
    expect(decodeObjectRecord(encodeObjectRecord(record))).toEqual(record);
  });
});
