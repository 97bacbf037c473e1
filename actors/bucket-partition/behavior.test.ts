/**
 * The BucketPartitionActor on one nact host over an lmdb store: cache
 * coherence under interleaved writes and reads (a seeded workload checked
 * against a model and against the store), fencing by a newer owner, the
 * idempotent PREPARE short-circuit, group commit with per-key order, and
 * the cache's bounds.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ObjectCatalog,
  openLmdbStore,
  pendingKey,
  versionSuffixFrom,
  versionSuffixLength,
  type DataLayout,
  type MetaStore,
} from "../../cluster/metadata/index.ts";
import { checkOwner, claimOwner, type Unit } from "../../cluster/membership/index.ts";
import { createNactHost, isFault, randomSeed, seededRandom, type ActorRef, type Fault, type Host, type Random } from "../../runtime/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior, type BucketPartitionBehaviorOptions } from "./behavior.ts";
import { bucketPartitionHashSeed, bucketPartitionOf } from "./partition-of.ts";
import { Value } from "@sinclair/typebox/value";
import {
  BucketPartitionMessage,
  type CommitPutReply,
  type DeleteObjectReply,
  type HeadObjectReply,
  type PreparePutReply,
  type StatBucketPartitionReply,
} from "./protocol.ts";
import { RecordCache } from "./record-cache.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`bucket-partition: seed ${seed} (replay with CAIRN_TEST_SEED=${seed} bun test actors/bucket-partition)`);

const askTimeoutMs = 10_000;
const bucket = "photos";
const epoch = 3;
const layout: DataLayout = { kind: "replicated", placementGroupId: 0, copies: 1, chunkBytes: 1024, chunkCount: 1 };

let directory = "";
let store: MetaStore;
let catalog: ObjectCatalog;
let host: Host;
let random: Random;
let dataCounter = 0;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-bp-"));
  store = await openLmdbStore({ path: directory });
  catalog = new ObjectCatalog(store);
  host = createNactHost({ nodeId: "node-test", random: seededRandom(seed), log: () => undefined });
  random = seededRandom(seed).fork("workload");
  await catalog.createBucket(bucket, 1);
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

function spawn(overrides: Partial<BucketPartitionBehaviorOptions> = {}, path = bucketPartitionActorPath(bucket, 0)): Promise<ActorRef<BucketPartitionMessage>> {
  return host.spawn(path, bucketPartitionBehavior({ bucket, partition: 0, store, epoch, ...overrides }));
}

function ask<R>(partition: ActorRef<BucketPartitionMessage>, build: (replyTo: ActorRef<R | Fault>) => BucketPartitionMessage): Promise<R | Fault> {
  return host.ask<BucketPartitionMessage, R | Fault>(partition, build, askTimeoutMs);
}

function suffix(): string {
  return versionSuffixFrom(random.bytes(versionSuffixLength));
}

function prepare(partition: ActorRef<BucketPartitionMessage>, key: string, dataId: string, token?: string): Promise<PreparePutReply | Fault> {
  return ask<PreparePutReply>(partition, (replyTo) => ({
    kind: "PreparePut",
    epoch,
    bucket,
    key,
    pending: { dataId, layout, createdMs: 1 },
    ...(token === undefined ? {} : { idempotencyToken: token }),
    nowMs: 1,
    replyTo,
  }));
}

function commit(partition: ActorRef<BucketPartitionMessage>, key: string, dataId: string, token?: string): Promise<CommitPutReply | Fault> {
  return ask<CommitPutReply>(partition, (replyTo) => ({
    kind: "CommitPut",
    epoch,
    record: { bucket, key, sizeBytes: 1, etag: dataId, lastModifiedMs: 2, storageClass: "STANDARD", headers: {}, userMetadata: {}, dataId, layout },
    versionSuffix: suffix(),
    ...(token === undefined ? {} : { idempotencyToken: token }),
    tokenLifetimeMs: 60_000,
    nowMs: 2,
    replyTo,
  }));
}

function head(partition: ActorRef<BucketPartitionMessage>, key: string, versionId?: string, atEpoch = epoch): Promise<HeadObjectReply | Fault> {
  return ask<HeadObjectReply>(partition, (replyTo) => ({ kind: "HeadObject", epoch: atEpoch, bucket, key, ...(versionId === undefined ? {} : { versionId }), replyTo }));
}

function remove(partition: ActorRef<BucketPartitionMessage>, key: string, versionId?: string): Promise<DeleteObjectReply | Fault> {
  return ask<DeleteObjectReply>(partition, (replyTo) => ({
    kind: "DeleteObject",
    epoch,
    bucket,
    key,
    ...(versionId === undefined ? {} : { versionId }),
    versionSuffix: suffix(),
    nowMs: 3,
    replyTo,
  }));
}

async function stat(partition: ActorRef<BucketPartitionMessage>): Promise<StatBucketPartitionReply> {
  const reply = await ask<StatBucketPartitionReply>(partition, (replyTo) => ({ kind: "StatBucketPartition", epoch, replyTo }));
  if (isFault(reply)) throw new Error(`stat: ${reply.fault}`);
  return reply;
}

function newDataId(): string {
  dataCounter += 1;
  return `data-${dataCounter}`;
}

async function put(partition: ActorRef<BucketPartitionMessage>, key: string, token?: string): Promise<Extract<CommitPutReply, { outcome: "committed" }>> {
  const dataId = newDataId();
  const prepared = await prepare(partition, key, dataId, token);
  if (isFault(prepared) || prepared.outcome !== "prepared") throw new Error(`prepare ${key}: ${JSON.stringify(prepared)}`);
  const committed = await commit(partition, key, dataId, token);
  if (isFault(committed) || committed.outcome !== "committed") throw new Error(`commit ${key}: ${JSON.stringify(committed)}`);
  return committed;
}

/** What a HEAD of the current version says, reduced to what the model knows. */
function summary(reply: HeadObjectReply | Fault): string {
  if (isFault(reply)) return `fault ${reply.fault}`;
  if (reply.outcome === "object") return `object ${reply.record.dataId} ${reply.record.versionId}`;
  if (reply.outcome === "deleteMarker") return `marker ${reply.marker.versionId}`;
  return reply.outcome;
}

/** A key's versions, newest first, as the model expects them. */
type ModelVersion = { readonly kind: "object"; readonly dataId: string; readonly versionId: string } | { readonly kind: "marker"; readonly versionId: string };

function modelSummary(versions: readonly ModelVersion[]): string {
  const newest = versions[0];
  if (newest === undefined) return "no-such-key";
  return newest.kind === "object" ? `object ${newest.dataId} ${newest.versionId}` : `marker ${newest.versionId}`;
}

describe("BucketPartitionActor", () => {
  test("the cache stays coherent under interleaved writes and reads (seeded workload against a model and the store)", async () => {
    await catalog.putBucketVersioning(bucket, "Enabled");
    // lmdb commits synchronously; each transaction first yields to the event loop (as a FoundationDB
    // round trip would), so operations queue up and batches of many keys form.
    const yieldingStore: MetaStore = {
      transact: async (body, options) => {
        await host.clock.sleep(0);
        return store.transact(body, options);
      },
      close: () => store.close(),
    };
    // A small cache, so entries are evicted and refilled along the way.
    const partition = await spawn({ store: yieldingStore, cacheEntriesMax: 6, batchOperationsMax: 5 });
    const keys = Array.from({ length: 10 }, (_, index) => `k${index}`);
    const model = new Map<string, ModelVersion[]>(keys.map((key) => [key, []]));
    let checkedReads = 0;
    for (let round = 0; round < 40; round += 1) {
      // PREPARE first (a PUT's body streams between its PREPARE and COMMIT).
      const puts = Array.from({ length: random.integer(4) }, () => ({ key: keys[random.integer(keys.length)]!, dataId: newDataId() }));
      for (const { key, dataId } of puts) expect(await prepare(partition, key, dataId)).toEqual({ kind: "PreparePutReply", outcome: "prepared" });
      // Then commits, deletes and reads of random keys, all sent before any is answered: the actor
      // keeps each key's arrival order, so the model applies them in the order they were sent.
      type Step = { readonly run: Promise<unknown>; readonly check: (reply: unknown) => void };
      const steps: Step[] = [];
      const pendingPuts = [...puts];
      const operationCount = 4 + random.integer(12);
      for (let index = 0; index < operationCount; index += 1) {
        const choice = random.integer(10);
        const key = keys[random.integer(keys.length)]!;
        const versions = model.get(key)!;
        if (choice < 2 && pendingPuts.length > 0) {
          const { key: putKey, dataId } = pendingPuts.shift()!;
          const putVersions = model.get(putKey)!;
          const run = commit(partition, putKey, dataId);
          // The version id is known only from the reply: the model takes it when the check runs, in send order.
          steps.push({
            run,
            check: (reply) => {
              const committed = reply as CommitPutReply;
              if (committed.outcome !== "committed") throw new Error(`commit ${putKey}: ${JSON.stringify(reply)}`);
              putVersions.unshift({ kind: "object", dataId, versionId: committed.record.versionId });
            },
          });
        } else if (choice < 3) {
          steps.push({
            run: remove(partition, key),
            check: (reply) => {
              const deleted = reply as DeleteObjectReply;
              if (deleted.outcome !== "deleted" || deleted.versionId === undefined) throw new Error(`delete ${key}: ${JSON.stringify(reply)}`);
              expect(deleted.deleteMarker).toBe(true);
              versions.unshift({ kind: "marker", versionId: deleted.versionId });
            },
          });
        } else if (choice < 4 && versions.length > 0) {
          // Removes a version settled before this round, often the current one (the previous becomes current).
          const target = versions[random.integer(2) === 0 ? 0 : random.integer(versions.length)]!;
          steps.push({
            run: remove(partition, key, target.versionId),
            check: (reply) => {
              expect((reply as DeleteObjectReply).outcome).toBe("deleted");
              const at = versions.findIndex((version) => version.versionId === target.versionId);
              if (at >= 0) versions.splice(at, 1);
            },
          });
        } else {
          steps.push({
            run: head(partition, key),
            check: (reply) => {
              checkedReads += 1;
              expect({ round, key, read: summary(reply as HeadObjectReply) }).toEqual({ round, key, read: modelSummary(versions) });
            },
          });
        }
      }
      const replies = await Promise.all(steps.map((step) => step.run));
      // Checks run in send order: per key, that is the order the actor applied them in.
      steps.forEach((step, index) => {
        const reply = replies[index];
        if (isFault(reply)) throw new Error(`round ${round}: fault ${reply.fault} ${reply.detail}`);
        step.check(reply);
      });
      // Prepared but never committed this round: committed now, one by one.
      for (const { key, dataId } of pendingPuts) {
        const committed = await commit(partition, key, dataId);
        if (isFault(committed) || committed.outcome !== "committed") throw new Error(`commit ${key}: ${JSON.stringify(committed)}`);
        model.get(key)!.unshift({ kind: "object", dataId, versionId: committed.record.versionId });
      }
    }
    // The actor (cache or store) and the store read directly agree with the model on every key.
    for (const key of keys) {
      const expected = modelSummary(model.get(key)!);
      expect({ key, read: summary(await head(partition, key)) }).toEqual({ key, read: expected });
      const stored = await catalog.headObject(bucket, key);
      const storedSummary =
        typeof stored === "string" ? stored : stored.kind === "object" ? `object ${stored.record.dataId} ${stored.record.versionId}` : `marker ${stored.marker.versionId}`;
      expect({ key, stored: storedSummary }).toEqual({ key, stored: expected });
    }
    const figures = await stat(partition);
    console.log(
      `bucket-partition: ${checkedReads} reads checked against the model; cache ${figures.cacheHits} hits, ${figures.cacheMisses} misses; ` +
        `${figures.operations} store operations in ${figures.transactions} transactions`,
    );
    expect(checkedReads).toBeGreaterThan(50);
    expect(figures.cacheHits).toBeGreaterThan(0);
    expect(figures.cacheMisses).toBeGreaterThan(0);
    expect(figures.cacheEntries).toBeLessThanOrEqual(6);
    // Batches of several keys did form, so per-key order inside shared transactions was exercised.
    expect(figures.transactions).toBeLessThan(figures.operations);
  }, 30_000);

  test("a HEAD of a cached key is answered from the cache; a HEAD of one version by id reads the store unless it is the cached current one", async () => {
    const partition = await spawn();
    const first = await put(partition, "a");
    const before = await stat(partition);
    const cached = await head(partition, "a");
    expect(!isFault(cached) && cached.outcome === "object" && cached.cached).toBe(true);
    const byId = await head(partition, "a", first.record.versionId);
    expect(!isFault(byId) && byId.outcome === "object" && byId.cached).toBe(true);
    const unknown = await head(partition, "a", "0000000000000000000000000000000z");
    expect(!isFault(unknown) && unknown.outcome).toBe("no-such-version");
    const after = await stat(partition);
    expect(after.cacheHits - before.cacheHits).toBe(2);
    expect(after.cacheMisses - before.cacheMisses).toBe(1);
    // An absent key is cached as absent once read.
    expect(summary(await head(partition, "nothing"))).toBe("no-such-key");
    const absent = await head(partition, "nothing");
    expect(!isFault(absent) && absent.cached).toBe(true);
  });

  test("fencing: a newer owner's claim refuses the next write, onFenced is told once, and everything after is refused", async () => {
    const unit: Unit = { kind: "bucketPartition", bucket, partition: 0 };
    const mine = { nodeId: "node-test", incarnation: 1, epoch };
    expect(await store.transact((tx) => claimOwner(tx, unit, mine))).toBeUndefined();
    const refusals: Fault[] = [];
    const partition = await spawn({ fence: (tx) => checkOwner(tx, unit, mine), onFenced: (refusal) => refusals.push(refusal) });
    await put(partition, "a");
    // A request at another epoch is refused without effect and without fencing the actor.
    const stale = await head(partition, "a", undefined, epoch - 1);
    expect(isFault(stale) && stale.fault).toBe("Fenced");
    expect(summary(await head(partition, "a"))).toStartWith("object");

    expect(await store.transact((tx) => claimOwner(tx, unit, { nodeId: "node-other", incarnation: 1, epoch: epoch + 1 }))).toBeUndefined();
    const dataId = newDataId();
    const refusedPrepare = await prepare(partition, "b", dataId);
    expect(isFault(refusedPrepare) && refusedPrepare.fault).toBe("Fenced");
    expect(await store.transact((tx) => tx.get(pendingKey(dataId)))).toBeUndefined();
    // Everything after is refused, the cached key too, and onFenced is not told again.
    for (const reply of [await head(partition, "a"), await remove(partition, "a"), await commit(partition, "a", newDataId()), await prepare(partition, "c", newDataId())]) {
      expect(isFault(reply) && reply.fault).toBe("Fenced");
    }
    expect(refusals.length).toBe(1);
    expect(refusals[0]!.fault).toBe("Fenced");
    const figures = await stat(partition);
    expect(figures.fenced).toBe(true);
    expect(figures.cacheEntries).toBe(0);
    // Nothing the fenced actor was asked to do reached the store.
    const stored = await catalog.headObject(bucket, "a");
    expect(typeof stored !== "string" && stored.kind).toBe("object");
  });

  test("fencing refuses every operation of the batch in flight and every one waiting", async () => {
    const unit: Unit = { kind: "bucketPartition", bucket, partition: 0 };
    const mine = { nodeId: "node-test", incarnation: 1, epoch };
    await store.transact((tx) => claimOwner(tx, unit, mine));
    let fencedCount = 0;
    const partition = await spawn({ fence: (tx) => checkOwner(tx, unit, mine), onFenced: () => (fencedCount += 1), batchOperationsMax: 4 });
    await store.transact((tx) => claimOwner(tx, unit, { nodeId: "node-other", incarnation: 2, epoch: epoch + 1 }));
    const replies = await Promise.all(Array.from({ length: 20 }, (_, index) => prepare(partition, `k${index % 3}`, newDataId())));
    for (const reply of replies) expect(isFault(reply) && reply.fault).toBe("Fenced");
    expect(fencedCount).toBe(1);
  });

  test("a stop answers the operations still waiting Fenced at once (they never ran); the batch in flight is answered when it ends", async () => {
    let release = (): void => undefined;
    let gate: Promise<void> | undefined;
    let transactions = 0;
    const gatedStore: MetaStore = {
      transact: async (body, options) => {
        transactions += 1;
        if (gate !== undefined) await gate;
        return store.transact(body, options);
      },
      close: () => store.close(),
    };
    const partition = await spawn({ store: gatedStore, batchOperationsMax: 1 });
    gate = new Promise((resolve) => (release = resolve));
    const dataIds = [newDataId(), newDataId(), newDataId()];
    const settled: (PreparePutReply | Fault | undefined)[] = [undefined, undefined, undefined];
    dataIds.forEach((dataId, index) => void prepare(partition, `key-${index}`, dataId).then((reply) => (settled[index] = reply)));
    for (let tries = 0; (await stat(partition)).queuedOperations < 2; tries += 1) {
      expect(tries).toBeLessThan(10_000);
      await Promise.resolve();
    }
    // key-0 is in its (held) transaction; key-1 and key-2 wait. The unit moves away: the node stops the actor.
    await host.stop(partition);
    for (let tries = 0; settled[1] === undefined || settled[2] === undefined; tries += 1) {
      expect(tries).toBeLessThan(10_000);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const reply of settled.slice(1)) {
      expect(isFault(reply) && reply.fault).toBe("Fenced");
      expect((reply as Fault).detail).toContain("stopped at epoch 3 before this operation ran");
    }
    expect(settled[0]).toBeUndefined();
    gate = undefined;
    release();
    for (let tries = 0; settled[0] === undefined; tries += 1) {
      expect(tries).toBeLessThan(10_000);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(settled[0]).toEqual({ kind: "PreparePutReply", outcome: "prepared" });
    // Nothing ran after the batch in flight: the refused operations wrote nothing.
    expect(transactions).toBe(1);
    expect(await store.transact((tx) => tx.get(pendingKey(dataIds[0]!)))).toBeDefined();
    for (const dataId of dataIds.slice(1)) expect(await store.transact((tx) => tx.get(pendingKey(dataId)))).toBeUndefined();
  });

  test("PreparePut short-circuits a retry whose token already committed: no pending record, the same version", async () => {
    await catalog.putBucketVersioning(bucket, "Enabled");
    const partition = await spawn();
    const first = await put(partition, "k", "token-1");
    const retryDataId = newDataId();
    const retry = await prepare(partition, "k", retryDataId, "token-1");
    expect(retry).toEqual({ kind: "PreparePutReply", outcome: "duplicate", record: first.record });
    expect(await store.transact((tx) => tx.get(pendingKey(retryDataId)))).toBeUndefined();
    // Another token (or none) prepares normally and commits a second version.
    const other = await prepare(partition, "k", newDataId(), "token-2");
    expect(other).toEqual({ kind: "PreparePutReply", outcome: "prepared" });
    // A retry that reaches COMMIT anyway (its PREPARE raced the first attempt's COMMIT) is a duplicate too.
    const lateDataId = newDataId();
    expect(await prepare(partition, "k", lateDataId)).toEqual({ kind: "PreparePutReply", outcome: "prepared" });
    const late = await commit(partition, "k", lateDataId, "token-1");
    expect(!isFault(late) && late.outcome === "committed" && late.duplicate && late.record.versionId).toBe(first.record.versionId);
    const current = await head(partition, "k");
    expect(!isFault(current) && current.outcome === "object" && current.record.versionId).toBe(first.record.versionId);
  });

  test("writes to different keys share transactions; writes to one key keep their order", async () => {
    await catalog.putBucketVersioning(bucket, "Enabled");
    // lmdb commits synchronously, so transactions never overlap message arrival on their own: a gate
    // holds the first one (as a slow FoundationDB commit would) while the rest arrive.
    let release = (): void => undefined;
    let gate: Promise<void> | undefined;
    const gatedStore: MetaStore = {
      transact: async (body, options) => {
        if (gate !== undefined) await gate;
        return store.transact(body, options);
      },
      close: () => store.close(),
    };
    const partition = await spawn({ store: gatedStore, batchOperationsMax: 64 });
    const dataIds = Array.from({ length: 60 }, () => newDataId());
    await Promise.all(dataIds.map((dataId, index) => prepare(partition, `key-${index}`, dataId)));
    const before = await stat(partition);
    gate = new Promise((resolve) => (release = resolve));
    const commits = Promise.all(dataIds.map((dataId, index) => commit(partition, `key-${index}`, dataId)));
    for (let tries = 0; (await stat(partition)).queuedOperations < 59; tries += 1) {
      expect(tries).toBeLessThan(10_000);
      await Promise.resolve();
    }
    gate = undefined;
    release();
    for (const reply of await commits) expect(!isFault(reply) && reply.outcome).toBe("committed");
    const after = await stat(partition);
    expect(after.operations - before.operations).toBe(60);
    // The first commit alone, then the 59 that queued behind it in one transaction.
    expect(after.transactions - before.transactions).toBe(2);

    // Twenty PUTs of one key, all in flight at once: twenty versions, newest = last sent.
    const same = Array.from({ length: 20 }, () => newDataId());
    await Promise.all(same.map((dataId) => prepare(partition, "hot", dataId)));
    const replies = await Promise.all(same.map((dataId) => commit(partition, "hot", dataId)));
    for (const reply of replies) expect(!isFault(reply) && reply.outcome).toBe("committed");
    const current = await head(partition, "hot");
    expect(!isFault(current) && current.outcome === "object" && current.record.dataId).toBe(same[same.length - 1]!);
    const listed = await catalog.listObjectVersions({ bucket, prefix: "hot", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 100 });
    expect(listed !== "no-such-bucket" && listed.entries.map((entry) => (entry.kind === "version" ? entry.record.dataId : "marker"))).toEqual([...same].reverse());
  });

  test("the cache is bounded in entries and in bytes", async () => {
    const partition = await spawn({ cacheEntriesMax: 8, cacheBytesMax: 2_000 });
    for (let index = 0; index < 40; index += 1) await put(partition, `key-${index}`);
    for (let index = 0; index < 40; index += 1) expect(summary(await head(partition, `key-${index}`))).toStartWith("object");
    const figures = await stat(partition);
    expect(figures.cacheEntries).toBeGreaterThan(0);
    expect(figures.cacheEntries).toBeLessThanOrEqual(8);
    expect(figures.cacheBytes).toBeLessThanOrEqual(2_000);

    const cache = new RecordCache({ entriesMax: 3, bytesMax: 1_000_000 });
    cache.set("a", { kind: "absent" });
    cache.set("b", { kind: "absent" });
    cache.set("c", { kind: "absent" });
    cache.get("a"); // a is now the most recently used: b goes first
    cache.set("d", { kind: "absent" });
    expect([cache.get("a"), cache.get("b"), cache.get("c"), cache.get("d")].map((entry) => entry?.kind)).toEqual(["absent", undefined, "absent", "absent"]);
    const tiny = new RecordCache({ entriesMax: 10, bytesMax: 100 });
    tiny.set("too-big", { kind: "absent" }); // over the byte budget on its own: not cached
    expect(tiny.size).toBe(0);
  });

  test("ClearCache empties the cache, and a read in flight across it does not refill it; requests for another bucket are refused", async () => {
    let release = (): void => undefined;
    let gate: Promise<void> | undefined;
    const gatedStore: MetaStore = {
      transact: async (body, options) => {
        if (gate !== undefined) await gate;
        return store.transact(body, options);
      },
      close: () => store.close(),
    };
    const partition = await spawn({ store: gatedStore });
    await put(partition, "a");
    const cleared = await ask<{ dropped: number }>(partition, (replyTo) => ({ kind: "ClearCache", epoch, replyTo }));
    expect(!isFault(cleared) && cleared.dropped).toBe(1);
    // A HEAD whose store read is held, a ClearCache meanwhile (the bucket was deleted): the read's answer goes
    // to its asker but not into the cache.
    gate = new Promise((resolve) => (release = resolve));
    const held = head(partition, "b");
    for (let tries = 0; (await stat(partition)).queuedOperations + (await stat(partition)).cacheMisses < 1; tries += 1) expect(tries).toBeLessThan(1_000);
    await ask<{ dropped: number }>(partition, (replyTo) => ({ kind: "ClearCache", epoch, replyTo }));
    gate = undefined;
    release();
    expect(summary(await held)).toBe("no-such-key");
    expect((await stat(partition)).cacheEntries).toBe(0);
    const other = await ask<HeadObjectReply>(partition, (replyTo) => ({ kind: "HeadObject", epoch, bucket: "other", key: "a", replyTo }));
    expect(isFault(other) && other.fault).toBe("NotFound");
  });
});

describe("protocol", () => {
  test("messages as the object service builds them pass the wire schema; a long well-formed version id too", () => {
    const replyTo = { nodeId: "n1", incarnation: 1, path: "ask-1" };
    const record = { bucket, key: "k", sizeBytes: 1, etag: "e", lastModifiedMs: 2, storageClass: "STANDARD", headers: { contentType: "text/plain" }, userMetadata: { a: "b" }, dataId: "d", layout };
    const messages: BucketPartitionMessage[] = [
      { kind: "PreparePut", epoch, bucket, key: "k", pending: { dataId: "d", layout: { ...layout, chunkCount: -1 }, createdMs: 1 }, idempotencyToken: "t", nowMs: 1, replyTo },
      { kind: "CommitPut", epoch, record, versionSuffix: "a".repeat(versionSuffixLength), tokenLifetimeMs: 1, nowMs: 1, replyTo },
      { kind: "DeleteObject", epoch, bucket, key: "k", versionId: "v".repeat(1024), versionSuffix: "a".repeat(versionSuffixLength), nowMs: 1, replyTo },
      { kind: "HeadObject", epoch, bucket, key: "k", versionId: "null", replyTo },
      { kind: "ClearCache", epoch, replyTo },
      { kind: "StatBucketPartition", epoch, replyTo },
    ];
    for (const message of messages) expect({ kind: message.kind, valid: Value.Check(BucketPartitionMessage, message) }).toEqual({ kind: message.kind, valid: true });
    // Past S3's bound the gateway has already answered InvalidArgument.
    expect(Value.Check(BucketPartitionMessage, { kind: "HeadObject", epoch, bucket, key: "k", versionId: "v".repeat(1025), replyTo })).toBe(false);
  });
});

describe("bucketPartitionOf", () => {
  test("is stable (pinned values), in range, and spreads keys evenly", () => {
    // Format facts: these values must never change (see partition-of.ts).
    expect([bucketPartitionOf("", 4), bucketPartitionOf("photo-0001", 4), bucketPartitionOf("photo-0002", 16), bucketPartitionOf("ключ", 7)]).toEqual(
      pinned,
    );
    const counts = new Array<number>(8).fill(0);
    for (let index = 0; index < 80_000; index += 1) counts[bucketPartitionOf(`key/${index}`, 8)]! += 1;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
    // The table in partition-of.ts, recomputed with Bun's native XXH32.
    for (const key of ["", "a", "photo-0001", "ключ", "x".repeat(1000)]) {
      expect(bucketPartitionOf(key, 13)).toBe(Math.floor((Bun.hash.xxHash32(new TextEncoder().encode(key), bucketPartitionHashSeed) * 13) / 2 ** 32));
    }
    expect(bucketPartitionOf("x", 1)).toBe(0);
    expect(() => bucketPartitionOf("x", 0)).toThrow();
  });
});

const pinned = [0, 3, 2, 1];
