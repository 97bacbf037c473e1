/**
 * The versioned object model (S3 versioning semantics) on both backends the
 * catalog runs on here: lmdb and the memory store. A seeded random workload
 * is checked against a plain reference model (`CAIRN_SEED=<n>` replays).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { bucketKey, garbageRange, objectKey, objectVersionKey, objectVersionRange } from "./keyspace.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { openMemoryStore } from "./memory-store.ts";
import { decodeObjectRecord, encodeObjectRecord, ObjectCatalog, type ObjectRecord } from "./object-catalog.ts";
import {
  decodeVersion,
  orderOfVersionId,
  orderTop,
  versionSuffixFrom,
  type ListVersionsResult,
  type VersionListEntry,
} from "./object-versions.ts";
import { decodeRecord, encodeRecord } from "./record-codec.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`object-versions: seed ${seed} (replay with CAIRN_SEED=${seed})`);

interface Backend {
  readonly name: string;
  open(): Promise<{ store: MetaStore; cleanup: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "lmdb",
    async open() {
      const directory = mkdtempSync(join(tmpdir(), "cairn-versions-"));
      const store = await openLmdbStore({ path: directory });
      return {
        store,
        cleanup: async () => {
          await store.close();
          rmSync(directory, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "memory",
    async open() {
      const store = openMemoryStore();
      return { store, cleanup: () => store.close() };
    },
  },
];

for (const backend of backends) {
  describe(`object versions on ${backend.name}`, () => {
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    let catalog: ObjectCatalog;
    let nowMs = 1_000;
    let dataCounter = 0;
    const random = seededRandom(seed);

    beforeEach(async () => {
      ({ store, cleanup } = await backend.open());
      catalog = new ObjectCatalog(store);
      nowMs = 1_000;
      dataCounter = 0;
      await catalog.createBucket("b", nowMs);
    });

    afterEach(async () => {
      await cleanup();
    });

    const suffix = (): string => versionSuffixFrom(random.bytes(21));

    function recordOf(key: string, dataId: string): Omit<ObjectRecord, "versionId"> {
      return {
        bucket: "b",
        key,
        sizeBytes: 3,
        etag: `etag-${dataId}`,
        lastModifiedMs: nowMs,
        storageClass: "STANDARD",
        headers: {},
        userMetadata: {},
        dataId,
        layout: { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1024, chunkCount: 1 },
      };
    }

    async function put(key: string, token?: string): Promise<{ versionId: string; dataId: string; duplicate: boolean; freed: string[] }> {
      nowMs += 10;
      dataCounter += 1;
      const dataId = `d${dataCounter}`;
      const record = recordOf(key, dataId);
      await catalog.preparePut({ dataId, layout: { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1024, chunkCount: -1 }, createdMs: nowMs });
      const outcome = await catalog.commitPut({
        record,
        versionSuffix: suffix(),
        tokenLifetimeMs: 60_000,
        nowMs,
        ...(token === undefined ? {} : { idempotencyToken: token }),
      });
      if (typeof outcome === "string") throw new Error(outcome);
      return { versionId: outcome.record.versionId, dataId: outcome.record.dataId, duplicate: outcome.duplicate, freed: outcome.freed.map((data) => data.dataId) };
    }

    async function remove(key: string, versionId?: string): Promise<{ deleteMarker: boolean; versionId?: string; freed: string[] }> {
      nowMs += 10;
      const outcome = await catalog.deleteObject("b", key, { nowMs, versionSuffix: suffix(), ...(versionId === undefined ? {} : { versionId }) });
      if (typeof outcome === "string") throw new Error(outcome);
      return { deleteMarker: outcome.deleteMarker, ...(outcome.versionId === undefined ? {} : { versionId: outcome.versionId }), freed: outcome.freed.map((data) => data.dataId) };
    }

    async function listAll(prefix = "", delimiter = "", maxKeys = 1_000): Promise<ListVersionsResult> {
      const page = await catalog.listObjectVersions({ bucket: "b", prefix, delimiter, keyMarker: "", versionIdMarker: "", maxKeys });
      if (page === "no-such-bucket") throw new Error(page);
      return page;
    }

    const idOf = (entry: VersionListEntry): string => (entry.kind === "version" ? entry.record.versionId : entry.marker.versionId);
    const summary = (entry: VersionListEntry): string =>
      `${entry.kind === "version" ? entry.record.key : entry.marker.key}:${entry.kind === "version" ? entry.record.dataId : "marker"}${entry.isLatest ? "*" : ""}`;

    async function garbageIds(): Promise<string[]> {
      return (await catalog.listGarbage(1_000)).map((data) => data.dataId).sort();
    }

    test("unversioned: PUT overwrites the null version (old data garbage), DELETE removes, no markers", async () => {
      expect(await catalog.getBucketVersioning("b")).toBe("Unversioned");
      const first = await put("k");
      expect(first.versionId).toBe("null");
      const second = await put("k");
      expect(second).toEqual({ versionId: "null", dataId: "d2", duplicate: false, freed: ["d1"] });
      expect((await listAll()).entries.map(summary)).toEqual(["k:d2*"]);
      expect(await garbageIds()).toEqual(["d1"]);
      expect(await remove("k")).toEqual({ deleteMarker: false, freed: ["d2"] });
      expect((await listAll()).entries).toEqual([]);
      expect(await catalog.headObject("b", "k")).toBe("no-such-key");
      expect(await catalog.headObject("b", "k", "null")).toBe("no-such-version");
      expect(await catalog.deleteBucket("b")).toBe("deleted");
    });

    test("enabled: every PUT is a new version; GET by id; DELETE adds a marker; removing versions moves the current one", async () => {
      expect(await catalog.putBucketVersioning("b", "Enabled")).toBe("ok");
      expect(await catalog.getBucketVersioning("b")).toBe("Enabled");
      const v1 = await put("k");
      const v2 = await put("k");
      expect(v1.versionId).toMatch(/^[0-9a-z]{32}$/);
      expect(v2.versionId).not.toBe(v1.versionId);
      expect(v2.freed).toEqual([]);
      expect(orderOfVersionId(v2.versionId)! < orderOfVersionId(v1.versionId)!).toBe(true);
      expect((await listAll()).entries.map(summary)).toEqual(["k:d2*", "k:d1"]);
      const old = await catalog.headObject("b", "k", v1.versionId);
      expect(typeof old !== "string" && old.kind === "object" && old.record.dataId).toBe("d1");
      expect((await catalog.getObject("b", "k"))?.dataId).toBe("d2");

      const marker = await remove("k");
      expect(marker.deleteMarker).toBe(true);
      expect(marker.versionId).toMatch(/^[0-9a-z]{32}$/);
      expect(marker.freed).toEqual([]);
      expect(await catalog.getObject("b", "k")).toBeUndefined();
      const current = await catalog.headObject("b", "k");
      expect(typeof current !== "string" && current.kind === "deleteMarker" && current.marker.versionId).toBe(marker.versionId!);
      const byId = await catalog.headObject("b", "k", marker.versionId);
      expect(typeof byId !== "string" && byId.kind).toBe("deleteMarker");
      expect((await listAll()).entries.map(summary)).toEqual(["k:marker*", "k:d2", "k:d1"]);
      // Current listings never see a key whose current version is a delete marker.
      const listed = await catalog.listObjects({ bucket: "b", prefix: "", delimiter: "", after: "", maxKeys: 10 });
      expect(listed !== "no-such-bucket" && listed.objects).toEqual([]);
      expect(await catalog.deleteBucket("b")).toBe("not-empty");

      // Removing the marker makes v2 current again.
      expect(await remove("k", marker.versionId)).toEqual({ deleteMarker: true, versionId: marker.versionId!, freed: [] });
      expect((await catalog.getObject("b", "k"))?.versionId).toBe(v2.versionId);
      // Removing a noncurrent version frees its data and leaves the current one.
      expect(await remove("k", v1.versionId)).toEqual({ deleteMarker: false, versionId: v1.versionId, freed: ["d1"] });
      expect((await catalog.getObject("b", "k"))?.versionId).toBe(v2.versionId);
      expect(await catalog.headObject("b", "k", v1.versionId)).toBe("no-such-version");
      // A missing version deletes nothing and succeeds.
      expect(await remove("k", v1.versionId)).toEqual({ deleteMarker: false, versionId: v1.versionId, freed: [] });
      expect(await remove("k", "not-a-version-id")).toEqual({ deleteMarker: false, versionId: "not-a-version-id", freed: [] });

      // Removing the current version when the next newest is a marker clears the current record.
      const m2 = await remove("k");
      const v3 = await put("k");
      expect((await listAll()).entries.map(summary)).toEqual(["k:d3*", "k:marker", "k:d2"]);
      expect((await remove("k", v3.versionId)).freed).toEqual(["d3"]);
      expect(await catalog.getObject("b", "k")).toBeUndefined();
      const now = await catalog.headObject("b", "k");
      expect(typeof now !== "string" && now.kind === "deleteMarker" && now.marker.versionId).toBe(m2.versionId!);
      expect((await listAll()).entries.map(summary)).toEqual(["k:marker*", "k:d2"]);
      expect(await garbageIds()).toEqual(["d1", "d3"]);
    });

    test("suspended: PUT and DELETE replace the null version; other versions stay", async () => {
      const unversioned = await put("k"); // d1, the null version
      await catalog.putBucketVersioning("b", "Enabled");
      const v2 = await put("k"); // d2
      expect((await listAll()).entries.map((entry) => idOf(entry))).toEqual([v2.versionId, "null"]);
      await catalog.putBucketVersioning("b", "Suspended");
      expect(await catalog.getBucketVersioning("b")).toBe("Suspended");
      const n3 = await put("k"); // d3 replaces the null version d1
      expect(n3).toMatchObject({ versionId: "null", freed: ["d1"] });
      expect((await listAll()).entries.map(summary)).toEqual(["k:d3*", "k:d2"]);
      const n4 = await put("k"); // d4 replaces d3
      expect(n4.freed).toEqual(["d3"]);
      expect((await listAll()).entries.map(summary)).toEqual(["k:d4*", "k:d2"]);
      const marker = await remove("k");
      expect(marker).toEqual({ deleteMarker: true, versionId: "null", freed: ["d4"] });
      expect((await listAll()).entries.map((entry) => `${summary(entry)}@${idOf(entry)}`)).toEqual(["k:marker*@null", `k:d2@${v2.versionId}`]);
      const head = await catalog.headObject("b", "k", "null");
      expect(typeof head !== "string" && head.kind).toBe("deleteMarker");
      // The null marker is replaced by the next suspended PUT.
      const n5 = await put("k");
      expect(n5.freed).toEqual([]);
      expect((await listAll()).entries.map(summary)).toEqual(["k:d5*", "k:d2"]);
      // Enabled again: new versions stack above the null version, which sorts by its time.
      await catalog.putBucketVersioning("b", "Enabled");
      const v6 = await put("k");
      expect((await listAll()).entries.map((entry) => idOf(entry))).toEqual([v6.versionId, "null", v2.versionId]);
      expect(unversioned.versionId).toBe("null");
      expect(await garbageIds()).toEqual(["d1", "d3", "d4"]);
    });

    test("idempotency: a retried PUT with the same token commits one version; the retry's data is garbage", async () => {
      await catalog.putBucketVersioning("b", "Enabled");
      const first = await put("k", "token-1");
      const retry = await put("k", "token-1");
      expect(retry.duplicate).toBe(true);
      expect(retry.versionId).toBe(first.versionId);
      expect(retry.dataId).toBe(first.dataId);
      expect(retry.freed).toEqual(["d2"]);
      expect((await listAll()).entries.map(summary)).toEqual(["k:d1*"]);
      // The same token on another key, or another token, is a new PUT.
      expect((await put("other", "token-1")).duplicate).toBe(false);
      expect((await put("k", "token-2")).duplicate).toBe(false);
      expect((await listAll()).entries.map(summary)).toEqual(["k:d4*", "k:d1", "other:d3*"]);
      // Expired tokens are removed in bounded batches; the token can then commit anew.
      expect(await catalog.removeExpiredTokens(nowMs, 10)).toBe(0);
      nowMs += 120_000;
      expect(await catalog.removeExpiredTokens(nowMs, 2)).toBe(2);
      expect(await catalog.removeExpiredTokens(nowMs, 2)).toBe(1);
      expect(await catalog.removeExpiredTokens(nowMs, 2)).toBe(0);
      expect((await put("k", "token-1")).duplicate).toBe(false);
    });

    test("a bucket deleted and created again forgets its idempotency tokens", async () => {
      expect((await put("k", "token-9")).duplicate).toBe(false);
      expect((await put("k", "token-9")).duplicate).toBe(true);
      await remove("k");
      expect(await catalog.deleteBucket("b")).toBe("deleted");
      await catalog.createBucket("b", nowMs);
      expect((await put("k", "token-9")).duplicate).toBe(false);
      // The stale expiry entry of the old token finds a newer token behind it and leaves it.
      nowMs = 61_020; // past the first token's expiry (61,010), before the second's (61,040)
      expect(await catalog.removeExpiredTokens(nowMs, 10)).toBe(1);
      expect((await put("k", "token-9")).duplicate).toBe(true);
    });

    test("concurrent PUTs of one key each get their own version; the last committed is current", async () => {
      await catalog.putBucketVersioning("b", "Enabled");
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => put("k")));
      const ids = new Set(outcomes.map((outcome) => outcome.versionId));
      expect(ids.size).toBe(20);
      const listed = (await listAll()).entries;
      expect(listed.length).toBe(20);
      expect(new Set(listed.map(idOf))).toEqual(ids);
      expect(listed.map((entry) => entry.isLatest)).toEqual([true, ...Array.from({ length: 19 }, () => false)]);
      expect((await catalog.getObject("b", "k"))?.versionId).toBe(idOf(listed[0]!));
    });

    test("unknown and malformed version ids, and a missing bucket", async () => {
      await catalog.putBucketVersioning("b", "Enabled");
      const v1 = await put("k");
      const unknown = `${v1.versionId.slice(0, 11)}${"z".repeat(21)}`;
      expect(await catalog.headObject("b", "k", unknown)).toBe("no-such-version");
      expect(await catalog.headObject("b", "k", "garbage!")).toBe("no-such-version");
      expect(await catalog.headObject("b", "k", "null")).toBe("no-such-version");
      expect(await catalog.headObject("b", "nokey")).toBe("no-such-key");
      expect(await catalog.headObject("nope", "k")).toBe("no-such-bucket");
      expect(await catalog.headObject("nope", "k", v1.versionId)).toBe("no-such-bucket");
      expect(await catalog.putBucketVersioning("nope", "Enabled")).toBe("no-such-bucket");
      expect(await catalog.getBucketVersioning("nope")).toBeUndefined();
      expect(await catalog.deleteObject("nope", "k", { nowMs, versionSuffix: suffix() })).toBe("no-such-bucket");
      expect(await catalog.listObjectVersions({ bucket: "nope", prefix: "", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 5 })).toBe(
        "no-such-bucket",
      );
    });

    test("records written before versioning are the null version, and move into the versions subspace", async () => {
      // A version-1 bucket record and a version-2 object record, as the previous release wrote them.
      await store.transact(async (tx) => {
        tx.set(bucketKey("old"), encodeRecord("bucket", 1, { name: "old", createdMs: 1 }));
        const { versionId: _ignored, ...legacy } = { ...recordOf("k", "legacy"), bucket: "old", versionId: "" };
        tx.set(objectKey("old", "k"), encodeRecord("object", 2, legacy));
        tx.set(objectKey("old", "k2"), encodeRecord("object", 2, { ...legacy, key: "k2", dataId: "legacy2" }));
      });
      expect(await catalog.getBucketVersioning("old")).toBe("Unversioned");
      const head = await catalog.headObject("old", "k");
      expect(typeof head !== "string" && head.kind === "object" && head.record.versionId).toBe("null");
      const byNull = await catalog.headObject("old", "k", "null");
      expect(typeof byNull !== "string" && byNull.kind === "object" && byNull.record.dataId).toBe("legacy");
      // Versioning on, then a PUT: the legacy record stays as the noncurrent null version.
      await catalog.putBucketVersioning("old", "Enabled");
      nowMs += 10;
      await catalog.preparePut({ dataId: "new", layout: recordOf("k", "new").layout, createdMs: nowMs });
      const committed = await catalog.commitPut({ record: { ...recordOf("k", "new"), bucket: "old" }, versionSuffix: suffix(), tokenLifetimeMs: 1, nowMs });
      expect(typeof committed !== "string" && committed.freed).toEqual([]);
      expect(await catalog.migrateLegacyObjects(1)).toBe(1); // k2 only; k moved on its write
      expect(await catalog.migrateLegacyObjects(1)).toBe(0);
      const page = await catalog.listObjectVersions({ bucket: "old", prefix: "", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 10 });
      expect(page !== "no-such-bucket" && page.entries.map((entry) => `${summary(entry)}@${idOf(entry).length}`)).toEqual([
        "k:new*@32",
        "k:legacy@4",
        "k2:legacy2*@4",
      ]);
    });

    test("random workload against a reference model: versions, current records, garbage and paged listings", async () => {
      const caseRandom = seededRandom(seed + 17);
      const keys = ["a", "a/1", "a/2", "a/b/1", "b", "c/x", "c/y", "é", "z"];
      /** Per key, newest first. */
      const model = new Map<string, { versionId: string; dataId?: string }[]>();
      const freedExpected = new Set<string>();
      let versioning: "Unversioned" | "Enabled" | "Suspended" = "Unversioned";
      const operations = 250;
      for (let step = 0; step < operations; step += 1) {
        const key = keys[caseRandom.integer(keys.length)]!;
        const versions = model.get(key) ?? [];
        const choice = caseRandom.integer(100);
        if (choice < 5) {
          versioning = caseRandom.integer(2) === 0 ? "Enabled" : "Suspended";
          await catalog.putBucketVersioning("b", versioning);
        } else if (choice < 50) {
          const outcome = await put(key);
          if (versioning !== "Enabled") {
            const index = versions.findIndex((version) => version.versionId === "null");
            if (index >= 0) {
              const [old] = versions.splice(index, 1);
              if (old?.dataId !== undefined) freedExpected.add(old.dataId);
            }
          }
          versions.unshift({ versionId: outcome.versionId, dataId: outcome.dataId });
        } else if (choice < 75) {
          const outcome = await remove(key);
          if (versioning === "Unversioned") {
            expect(outcome.deleteMarker).toBe(false);
            for (const old of versions.splice(0)) if (old.dataId !== undefined) freedExpected.add(old.dataId);
          } else {
            if (versioning === "Suspended") {
              const index = versions.findIndex((version) => version.versionId === "null");
              if (index >= 0) {
                const [old] = versions.splice(index, 1);
                if (old?.dataId !== undefined) freedExpected.add(old.dataId);
              }
            }
            expect(outcome.deleteMarker).toBe(true);
            versions.unshift({ versionId: outcome.versionId! });
          }
        } else if (versions.length > 0) {
          const index = caseRandom.integer(versions.length);
          const target = versions[index]!;
          const outcome = await remove(key, target.versionId);
          expect(outcome.deleteMarker).toBe(target.dataId === undefined);
          versions.splice(index, 1);
          if (target.dataId !== undefined) freedExpected.add(target.dataId);
        }
        model.set(key, versions);
      }

      // Current records and heads.
      for (const key of keys) {
        const versions = model.get(key) ?? [];
        const newest = versions[0];
        const current = await catalog.getObject("b", key);
        expect(current?.dataId).toBe(newest?.dataId);
        for (const version of versions) {
          const head = await catalog.headObject("b", key, version.versionId);
          expect(typeof head !== "string" && (head.kind === "object" ? head.record.dataId : "marker")).toBe(version.dataId ?? "marker");
        }
      }
      // Garbage: exactly the removed and replaced data; never a live dataId.
      expect(await garbageIds()).toEqual([...freedExpected].sort());
      const live = new Set([...model.values()].flat().flatMap((version) => (version.dataId === undefined ? [] : [version.dataId])));
      for (const dataId of freedExpected) expect(live.has(dataId)).toBe(false);

      // Paged listings against the reference, with and without prefix and delimiter.
      const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");
      const sortedKeys = [...keys].sort((left, right) => Buffer.compare(utf8(left), utf8(right)));
      for (const [prefix, delimiter] of [["", ""], ["", "/"], ["a", "/"], ["a/", ""], ["c/", "/"], ["q", ""]] as const) {
        const expected: string[] = [];
        const seenPrefixes = new Set<string>();
        for (const key of sortedKeys) {
          if (!key.startsWith(prefix)) continue;
          const versions = model.get(key) ?? [];
          if (versions.length === 0) continue;
          const at = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
          if (at >= 0) {
            const common = key.slice(0, at + delimiter.length);
            if (!seenPrefixes.has(common)) expected.push(`prefix:${common}`);
            seenPrefixes.add(common);
            continue;
          }
          versions.forEach((version, index) => expected.push(`${key}:${version.versionId}${index === 0 ? "*" : ""}`));
        }
        for (const maxKeys of [1, 2, 3, 7, 1_000]) {
          const got: string[] = [];
          let keyMarker = "";
          let versionIdMarker = "";
          for (let pages = 0; pages < 1_000; pages += 1) {
            const page = await catalog.listObjectVersions({ bucket: "b", prefix, delimiter, keyMarker, versionIdMarker, maxKeys });
            if (page === "no-such-bucket") throw new Error(page);
            expect(page.entries.length + page.commonPrefixes.length).toBeLessThanOrEqual(maxKeys);
            // Entries and prefixes interleave in key order; rebuild that order for comparison.
            const items = [
              ...page.entries.map((entry) => ({
                sortKey: entry.kind === "version" ? entry.record.key : entry.marker.key,
                text: `${entry.kind === "version" ? entry.record.key : entry.marker.key}:${idOf(entry)}${entry.isLatest ? "*" : ""}`,
              })),
              ...page.commonPrefixes.map((common) => ({ sortKey: common, text: `prefix:${common}` })),
            ];
            items.sort((left, right) => Buffer.compare(utf8(left.sortKey), utf8(right.sortKey)));
            got.push(...items.map((item) => item.text));
            if (!page.isTruncated) break;
            keyMarker = page.nextKeyMarker!;
            versionIdMarker = page.nextVersionIdMarker ?? "";
          }
          expect(`${prefix}|${delimiter}|${maxKeys}: ${got.join(" ")}`).toBe(`${prefix}|${delimiter}|${maxKeys}: ${expected.join(" ")}`);
        }
      }
    });

    test("the versions subspace holds only object versions and delete markers, and (\"o\") mirrors the newest", async () => {
      await catalog.putBucketVersioning("b", "Enabled");
      await put("k");
      await remove("k");
      await put("j");
      const kinds = await store.transact(async (tx) => {
        const range = objectVersionRange("b");
        return (await tx.getRange(range.begin, range.end, { limit: 100 })).map((pair) => decodeRecord(pair.value).kind);
      });
      expect(kinds).toEqual(["object", "deleteMarker", "object"]);
      const mirrored = await store.transact(async (tx) => {
        const range = objectVersionRange("b");
        const [first] = await tx.getRange(range.begin, range.end, { limit: 1 });
        const current = await tx.get(objectKey("b", "j"));
        return { newest: decodeVersion(first!.value), current: current === undefined ? undefined : decodeObjectRecord(current) };
      });
      expect(mirrored.newest.kind === "object" && mirrored.newest.record).toEqual(mirrored.current!);
      const garbage = await store.transact(async (tx) => tx.getRange(garbageRange().begin, garbageRange().end, { limit: 10 }));
      expect(garbage).toEqual([]);
    });
  });
}

describe("object versions: a delimiter listing seeks past common prefixes", () => {
  test("a prefix holding 20,000 versions costs a handful of reads, not 20,000", async () => {
    const store = openMemoryStore();
    try {
      const catalog = new ObjectCatalog(store);
      await catalog.createBucket("big", 1);
      const keys = [...Array.from({ length: 10_000 }, (_, index) => `logs/${String(index).padStart(6, "0")}`), "a", "logs", "m/1", "z"];
      for (let offset = 0; offset < keys.length; offset += 2_000) {
        await store.transact(async (tx) => {
          for (const key of keys.slice(offset, offset + 2_000)) {
            // Two versions per key, written directly (a PUT each would be slow and is not what is measured).
            for (const order of [orderTop - 1, orderTop]) {
              const versionId = order === orderTop ? "null" : `00000000001${"a".repeat(21)}`;
              tx.set(
                objectVersionKey("big", key, order),
                encodeObjectRecord({
                  bucket: "big",
                  key,
                  sizeBytes: 1,
                  etag: "e",
                  lastModifiedMs: 1,
                  storageClass: "STANDARD",
                  headers: {},
                  userMetadata: {},
                  dataId: `${key}-${order}`,
                  layout: { kind: "replicated", placementGroupId: 0, copies: 3, chunkBytes: 1024, chunkCount: 1 },
                  versionId,
                }),
              );
            }
          }
        });
      }
      const counts = { rangeReads: 0, pairsRead: 0 };
      const counted = new ObjectCatalog(countingStore(store, counts));
      const page = await counted.listObjectVersions({ bucket: "big", prefix: "", delimiter: "/", keyMarker: "", versionIdMarker: "", maxKeys: 1_000 });
      if (page === "no-such-bucket") throw new Error(page);
      expect(page.entries.map((entry) => (entry.kind === "version" ? entry.record.key : "?"))).toEqual(["a", "a", "logs", "logs", "z", "z"]);
      expect(page.commonPrefixes).toEqual(["logs/", "m/"]);
      expect(counts.rangeReads).toBeLessThan(20);
      expect(counts.pairsRead).toBeLessThan(100);

      // Resuming at the big prefix (key-marker = the prefix) must not scan it either.
      counts.rangeReads = 0;
      counts.pairsRead = 0;
      const next = await counted.listObjectVersions({ bucket: "big", prefix: "", delimiter: "/", keyMarker: "logs/", versionIdMarker: "", maxKeys: 1_000 });
      if (next === "no-such-bucket") throw new Error(next);
      expect(next.commonPrefixes).toEqual(["m/"]);
      expect(counts.pairsRead).toBeLessThan(50);
    } finally {
      await store.close();
    }
  });
});

function countingStore(inner: MetaStore, counts: { rangeReads: number; pairsRead: number }): MetaStore {
  return {
    transact: (body, options) =>
      inner.transact((tx) => {
        const counting: MetaTransaction = {
          get: (key) => tx.get(key),
          getRange: async (begin, end, rangeOptions) => {
            const pairs = await tx.getRange(begin, end, rangeOptions);
            counts.rangeReads += 1;
            counts.pairsRead += pairs.length;
            return pairs;
          },
          // A keys-only seek counts as a read of the one entry it found.
          firstKey: async (begin, end) => {
            const key = await tx.firstKey(begin, end);
            counts.rangeReads += 1;
            counts.pairsRead += key === undefined ? 0 : 1;
            return key;
          },
          set: (key, value) => tx.set(key, value),
          clear: (key) => tx.clear(key),
          clearRange: (begin, end) => tx.clearRange(begin, end),
          add: (key, delta) => tx.add(key, delta),
        };
        return body(counting);
      }, options),
    close: () => inner.close(),
  };
}
