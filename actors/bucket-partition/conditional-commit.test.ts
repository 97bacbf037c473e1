/**
 * CommitPut with a `condition` on the BucketPartitionActor: the condition is
 * decided in the commit's transaction (and checked early by PreparePut), a refusal commits nothing and leaves
 * the cached current record as it was, a retried token still gets its first
 * commit, the wire schema carries the condition and the new outcomes, and
 * 16 commits of one key sent at once with If-None-Match: * have exactly one
 * winner.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { ObjectCatalog, openLmdbStore, type DataLayout, type MetaStore } from "../../cluster/metadata/index.ts";
import { createNactHost, isFault, seededRandom, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior } from "./behavior.ts";
import { BucketPartitionMessage, CommitPutReply, type HeadObjectReply, type PreparePutReply } from "./protocol.ts";

const askTimeoutMs = 10_000;
const bucket = "conditional";
const epoch = 1;
const layout: DataLayout = { kind: "replicated", placementGroupId: 0, copies: 1, chunkBytes: 1024, chunkCount: 1 };
const seed = 0x6b;

let directory = "";
let store: MetaStore;
let catalog: ObjectCatalog;
let host: Host;
let partition: ActorRef<BucketPartitionMessage>;
let dataCounter = 0;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-bp-conditional-"));
  store = await openLmdbStore({ path: directory });
  catalog = new ObjectCatalog(store);
  await catalog.createBucket(bucket, 1);
  host = createNactHost({ nodeId: "node-test", random: seededRandom(seed), log: () => undefined });
  partition = await host.spawn(bucketPartitionActorPath(bucket, 0), bucketPartitionBehavior({ bucket, partition: 0, store, epoch }));
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function ask<R>(build: (replyTo: ActorRef<R | Fault>) => BucketPartitionMessage): Promise<R> {
  const reply = await host.ask<BucketPartitionMessage, R | Fault>(partition, build, askTimeoutMs);
  if (isFault(reply)) throw new Error(`fault ${reply.fault}: ${reply.detail}`);
  return reply;
}

/** PREPARE and COMMIT one new datum; the commit's reply. */
async function put(
  key: string,
  options: { condition?: { ifNoneMatch?: "*"; ifMatch?: string }; idempotencyToken?: string } = {},
): Promise<{ dataId: string; reply: CommitPutReply }> {
  dataCounter += 1;
  const dataId = `data-${dataCounter}`;
  const token = options.idempotencyToken === undefined ? {} : { idempotencyToken: options.idempotencyToken };
  const prepared = await ask<PreparePutReply>((replyTo) => ({ kind: "PreparePut", epoch, bucket, key, pending: { dataId, layout, createdMs: 1 }, ...token, nowMs: 1, replyTo }));
  if (prepared.outcome !== "prepared") return { dataId, reply: { kind: "CommitPutReply", outcome: "no-such-bucket" } };
  const reply = await ask<CommitPutReply>((replyTo) => ({
    kind: "CommitPut",
    epoch,
    record: { bucket, key, sizeBytes: 1, etag: `etag-${dataId}`, lastModifiedMs: 2, storageClass: "STANDARD", headers: {}, userMetadata: {}, dataId, layout },
    versionSuffix: `${"a".repeat(19)}${(dataCounter % 1296).toString(36).padStart(2, "0")}`,
    ...token,
    tokenLifetimeMs: 60_000,
    nowMs: 2,
    ...(options.condition === undefined ? {} : { condition: options.condition }),
    replyTo,
  }));
  // Every reply the actor sends must pass the wire schema the transport checks.
  expect(Value.Check(CommitPutReply, reply)).toBe(true);
  return { dataId, reply };
}

function head(key: string): Promise<HeadObjectReply> {
  return ask<HeadObjectReply>((replyTo) => ({ kind: "HeadObject", epoch, bucket, key, replyTo }));
}

test("If-None-Match: * and If-Match decided at commit; a refusal leaves the cached record and frees the data", async () => {
  const first = await put("k", { condition: { ifNoneMatch: "*" } });
  expect(first.reply.outcome).toBe("committed");
  // Cached now; a refused commit must not disturb the cache.
  expect((await head("k")).outcome).toBe("object");
  const second = await put("k", { condition: { ifNoneMatch: "*" } });
  expect(second.reply.outcome).toBe("precondition-failed");
  const cached = await head("k");
  expect(cached.outcome === "object" && [cached.cached, cached.record.dataId]).toEqual([true, first.dataId]);
  const swapped = await put("k", { condition: { ifMatch: `etag-${first.dataId}` } });
  expect(swapped.reply.outcome).toBe("committed");
  const stale = await put("k", { condition: { ifMatch: `etag-${first.dataId}` } });
  expect(stale.reply.outcome).toBe("precondition-failed");
  const missing = await put("absent", { condition: { ifMatch: "*" } });
  expect(missing.reply.outcome).toBe("no-such-key");
  expect((await head("absent")).outcome).toBe("no-such-key");
  const garbage = (await catalog.listGarbage(100)).map((data) => data.dataId);
  expect(garbage).toEqual(expect.arrayContaining([second.dataId, stale.dataId, missing.dataId]));
});

test("a retried token that committed is answered with its commit, not refused", async () => {
  const first = await put("retry", { condition: { ifNoneMatch: "*" }, idempotencyToken: "t-1" });
  expect(first.reply.outcome).toBe("committed");
  // The retry's PREPARE already answers "duplicate"; the commit path is the catalog test's.
  const prepared = await ask<PreparePutReply>((replyTo) => ({
    kind: "PreparePut",
    epoch,
    bucket,
    key: "retry",
    pending: { dataId: "data-retry", layout, createdMs: 1 },
    idempotencyToken: "t-1",
    nowMs: 1,
    replyTo,
  }));
  expect(prepared.outcome).toBe("duplicate");
});

test("PREPARE refuses a condition that already fails (after the token check), writing no pending record", async () => {
  const first = await put("early", { condition: { ifNoneMatch: "*" }, idempotencyToken: "early-1" });
  expect(first.reply.outcome).toBe("committed");
  const prepare = (dataId: string, condition: { ifNoneMatch?: "*"; ifMatch?: string }, idempotencyToken?: string) =>
    ask<PreparePutReply>((replyTo) => ({
      kind: "PreparePut",
      epoch,
      bucket,
      key: "early",
      pending: { dataId, layout, createdMs: 1 },
      ...(idempotencyToken === undefined ? {} : { idempotencyToken }),
      condition,
      nowMs: 1,
      replyTo,
    }));
  expect((await prepare("early-a", { ifNoneMatch: "*" })).outcome).toBe("precondition-failed");
  expect((await prepare("early-b", { ifMatch: "not-the-etag" })).outcome).toBe("precondition-failed");
  expect((await prepare("early-c", { ifMatch: `etag-${first.dataId}` })).outcome).toBe("prepared");
  // The retry of the request that committed is recognised before its condition is looked at.
  expect((await prepare("early-d", { ifNoneMatch: "*" }, "early-1")).outcome).toBe("duplicate");
  const missing = await ask<PreparePutReply>((replyTo) => ({
    kind: "PreparePut",
    epoch,
    bucket,
    key: "never",
    pending: { dataId: "early-e", layout, createdMs: 1 },
    condition: { ifMatch: "*" },
    nowMs: 1,
    replyTo,
  }));
  expect(missing.outcome).toBe("no-such-key");
  // Only the PREPARE whose condition held left a pending record.
  const stale = await catalog.abandonStalePending(1_000_000, 0, 100);
  expect(stale.map((data) => data.dataId)).toEqual(["early-c"]);
});

test("the wire schema: a condition is If-None-Match '*' or an ETag of at most 128 characters", () => {
  const message = {
    kind: "CommitPut",
    epoch,
    record: { bucket, key: "k", sizeBytes: 1, etag: "e", lastModifiedMs: 2, storageClass: "STANDARD", headers: {}, userMetadata: {}, dataId: "d", layout },
    versionSuffix: "a".repeat(21),
    tokenLifetimeMs: 1,
    nowMs: 2,
    replyTo: { nodeId: "n", incarnation: 1, path: "p" },
  };
  expect(Value.Check(BucketPartitionMessage, { ...message, condition: { ifNoneMatch: "*" } })).toBe(true);
  expect(Value.Check(BucketPartitionMessage, { ...message, condition: { ifMatch: "a".repeat(128) } })).toBe(true);
  expect(Value.Check(BucketPartitionMessage, { ...message, condition: { ifNoneMatch: "etag" } })).toBe(false);
  expect(Value.Check(BucketPartitionMessage, { ...message, condition: { ifMatch: "a".repeat(129) } })).toBe(false);
});

test("16 commits of one new key sent at once with If-None-Match: *: exactly one is committed", async () => {
  for (let round = 0; round < 3; round += 1) {
    const key = `race-${round}`;
    const results = await Promise.all(Array.from({ length: 16 }, () => put(key, { condition: { ifNoneMatch: "*" } })));
    const committed = results.filter((result) => result.reply.outcome === "committed");
    expect(committed.length).toBe(1);
    expect(results.filter((result) => result.reply.outcome === "precondition-failed").length).toBe(15);
    const current = await head(key);
    expect(current.outcome === "object" && current.record.dataId).toBe(committed[0]!.dataId);
  }
});
