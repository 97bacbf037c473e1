/**
 * Conditional writes decided in the commit (`commitPutStep`'s `condition`
 * through `ObjectCatalog.commitPut`): both outcomes of If-None-Match: * and
 * If-Match, delete markers, a refused commit's data becoming garbage, an
 * idempotent retry answered with its first commit, and racing commits, in
 * one catalog and across catalogs sharing the store (so the transaction,
 * not the in-process queue, decides).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pendingRange } from "./keyspace.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { ObjectCatalog, type DataLayout, type ObjectRecord } from "./object-catalog.ts";
import type { CommitCondition, CommitPutResult, CommitRefusal } from "./object-versions.ts";
import type { MetaStore } from "./store.ts";

let directory: string;
let store: MetaStore;
let catalog: ObjectCatalog;
let dataCounter = 0;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-conditional-"));
  store = await openLmdbStore({ path: directory });
  catalog = new ObjectCatalog(store);
  await catalog.createBucket("b", Date.UTC(2026, 0, 1), 1);
});

afterEach(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

const layout: DataLayout = { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1024, chunkCount: 1 };
/** As PREPARE records it: the chunk count is not known yet. */
const pendingLayout: DataLayout = { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1024, chunkCount: -1 };

type Committed = CommitPutResult | "no-such-bucket" | "abandoned" | CommitRefusal;

/** PREPARE then COMMIT of a new datum under `key`, the way the object service does it. */
async function put(
  key: string,
  options: { condition?: CommitCondition; idempotencyToken?: string; on?: ObjectCatalog } = {},
): Promise<{ dataId: string; committed: Committed }> {
  const on = options.on ?? catalog;
  dataCounter += 1;
  const dataId = `d${dataCounter}`;
  await on.preparePut({ dataId, layout: pendingLayout, createdMs: 1_000 });
  const committed = await on.commitPut({
    record: {
      bucket: "b",
      key,
      sizeBytes: 1,
      etag: `etag-${dataId}`,
      lastModifiedMs: 2_000 + dataCounter,
      storageClass: "STANDARD",
      headers: {},
      userMetadata: {},
      dataId,
      layout,
    },
    versionSuffix: `${"v".repeat(20)}${(dataCounter % 36).toString(36)}`,
    tokenLifetimeMs: 60_000,
    nowMs: 2_000 + dataCounter,
    ...(options.idempotencyToken === undefined ? {} : { idempotencyToken: options.idempotencyToken }),
    ...(options.condition === undefined ? {} : { condition: options.condition }),
  });
  return { dataId, committed };
}

function recordOf(committed: Committed): ObjectRecord {
  if (typeof committed === "string") throw new Error(`expected a commit, got ${committed}`);
  return committed.record;
}

async function current(key: string): Promise<string | undefined> {
  return (await catalog.getObject("b", key))?.dataId;
}

async function garbageIds(): Promise<string[]> {
  return (await catalog.listGarbage(1_000)).map((data) => data.dataId).sort();
}

async function pendingCount(): Promise<number> {
  const range = pendingRange();
  return store.transact(async (tx) => (await tx.getRange(range.begin, range.end, { limit: 1_000 })).length);
}

describe("If-None-Match: *", () => {
  test("commits on a new key; refused once the key has a current object, and the refused data is garbage", async () => {
    const first = await put("k", { condition: { ifNoneMatch: "*" } });
    expect(recordOf(first.committed).dataId).toBe(first.dataId);
    const second = await put("k", { condition: { ifNoneMatch: "*" } });
    expect(second.committed).toBe("precondition-failed");
    expect(await current("k")).toBe(first.dataId);
    expect(await garbageIds()).toEqual([second.dataId]);
    expect(await pendingCount()).toBe(0);
  });

  test("a current delete marker counts as no object; a noncurrent version does not matter", async () => {
    await catalog.putBucketVersioning("b", "Enabled");
    const first = await put("k");
    recordOf(first.committed);
    await catalog.deleteObject("b", "k", { nowMs: 3_000, versionSuffix: "m".repeat(21) });
    const again = await put("k", { condition: { ifNoneMatch: "*" } });
    expect(recordOf(again.committed).dataId).toBe(again.dataId);
    expect(await garbageIds()).toEqual([]);
  });
});

describe("If-Match", () => {
  test("commits when the current ETag matches (or is *); a different ETag is refused, its data garbage", async () => {
    const first = await put("k");
    const etag = recordOf(first.committed).etag;
    const replaced = await put("k", { condition: { ifMatch: etag } });
    expect(recordOf(replaced.committed).dataId).toBe(replaced.dataId);
    const stale = await put("k", { condition: { ifMatch: etag } });
    expect(stale.committed).toBe("precondition-failed");
    const any = await put("k", { condition: { ifMatch: "*" } });
    expect(recordOf(any.committed).dataId).toBe(any.dataId);
    expect(await current("k")).toBe(any.dataId);
    // The unversioned bucket's replaced null versions are garbage too.
    expect(await garbageIds()).toEqual([first.dataId, replaced.dataId, stale.dataId].sort());
  });

  test("no current object (never written, or a delete marker): no-such-key, nothing committed", async () => {
    const missing = await put("absent", { condition: { ifMatch: "*" } });
    expect(missing.committed).toBe("no-such-key");
    expect(await current("absent")).toBeUndefined();
    await catalog.putBucketVersioning("b", "Enabled");
    const first = await put("k");
    const etag = recordOf(first.committed).etag;
    await catalog.deleteObject("b", "k", { nowMs: 3_000, versionSuffix: "m".repeat(21) });
    const overMarker = await put("k", { condition: { ifMatch: etag } });
    expect(overMarker.committed).toBe("no-such-key");
    expect(await garbageIds()).toEqual([missing.dataId, overMarker.dataId].sort());
    expect(await pendingCount()).toBe(0);
  });
});

describe("idempotent retries", () => {
  test("a retry of a conditional PUT that committed gets its first answer, not a refusal", async () => {
    const first = await put("k", { condition: { ifNoneMatch: "*" }, idempotencyToken: "token-1" });
    const firstRecord = recordOf(first.committed);
    const retry = await put("k", { condition: { ifNoneMatch: "*" }, idempotencyToken: "token-1" });
    if (typeof retry.committed === "string") throw new Error(`the retry was answered ${retry.committed}`);
    expect(retry.committed.duplicate).toBe(true);
    expect(retry.committed.record.versionId).toBe(firstRecord.versionId);
    expect(retry.committed.record.dataId).toBe(first.dataId);
    // Another request (another token) with the same condition is refused.
    const other = await put("k", { condition: { ifNoneMatch: "*" }, idempotencyToken: "token-2" });
    expect(other.committed).toBe("precondition-failed");
    expect(await garbageIds()).toEqual([retry.dataId, other.dataId].sort());
  });

  test("a refused PUT does not record its token: a retry is judged again", async () => {
    recordOf((await put("k")).committed);
    const refused = await put("k", { condition: { ifNoneMatch: "*" }, idempotencyToken: "token-r" });
    expect(refused.committed).toBe("precondition-failed");
    await catalog.deleteObject("b", "k", { nowMs: 3_000, versionSuffix: "m".repeat(21) });
    const retry = await put("k", { condition: { ifNoneMatch: "*" }, idempotencyToken: "token-r" });
    expect(recordOf(retry.committed).dataId).toBe(retry.dataId);
  });
});

describe("racing commits", () => {
  const seed = Number(process.env.CAIRN_SEED ?? 4817);

  test("many If-None-Match: * commits of one key, in one catalog and across catalogs: exactly one wins", async () => {
    console.log(`conditional-commit race seed=${seed} (CAIRN_SEED=${seed} to replay)`);
    const others = [catalog, new ObjectCatalog(store), new ObjectCatalog(store), new ObjectCatalog(store)];
    for (let round = 0; round < 4; round += 1) {
      const key = `race-${seed}-${round}`;
      const writers = Array.from({ length: 16 }, (_, index) => put(key, { condition: { ifNoneMatch: "*" }, on: others[(seed + index * (round + 1)) % others.length]! }));
      const results = await Promise.all(writers);
      const winners = results.filter((result) => typeof result.committed !== "string");
      expect(winners.length).toBe(1);
      expect(results.filter((result) => result.committed === "precondition-failed").length).toBe(15);
      expect(await current(key)).toBe(winners[0]!.dataId);
    }
    expect(await pendingCount()).toBe(0);
    expect((await garbageIds()).length).toBe(4 * 15);
  });
});
