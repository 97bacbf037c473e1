/**
 * The striped data path against real disk and PG actors on a nact host, with
 * disks taken away: the write quorum, damage recorded for healing, and
 * degraded reads decoding from parity. Metadata goes through real
 * bucket-partition actors (spawned on demand, as on one node): HEADs served
 * from their caches, the PREPARE short-circuit of a retried PUT, retries of
 * requests refused as `Fenced`, and partitions made reachable by CreateBucket.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage } from "../actors/disk/index.ts";
import {
  placementGroupActorPath,
  placementGroupBehavior,
  type PlacementGroupMessage,
  type StatPlacementGroupReply,
} from "../actors/placement-group/index.ts";
import {
  bucketPartitionActorPath,
  bucketPartitionBehavior,
  bucketPartitionOf,
  type BucketPartitionMessage,
  type StatBucketPartitionReply,
} from "../actors/bucket-partition/index.ts";
import { FaultError, type ObjectInfo } from "../gateway/index.ts";
import {
  actorRef,
  createNactHost,
  fault,
  isFault,
  manualClock,
  randomSeed,
  seededRandom,
  type ActorRef,
  type Fault,
  type Host,
} from "../runtime/index.ts";
import { ObjectCatalog, openLmdbStore, pendingRange, type MetaStore } from "./metadata/index.ts";
import { ObjectService, type PartitionHosting, type PartitionRoute, type PlacementView } from "./object-service.ts";
import { actingSet, placementGroupOf, type ClusterMap } from "./placement/index.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`object-service: seed ${seed} (replay with CAIRN_TEST_SEED=${seed})`);

const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const map: ClusterMap = {
  epoch: 1,
  placementGroupCount: 8,
  hosts: [{ hostId: "node-test", disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};

let directory = "";
let store: MetaStore;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let placementGroups: ActorRef<PlacementGroupMessage>[];
let partitionActors: Map<string, ActorRef<BucketPartitionMessage>>;
let partitions: PartitionHosting;
/** Replaces the route the view gives for a partition (tests of fencing); undefined = the real one. */
let routeOverride: ((bucket: string, partition: number, real: PartitionRoute | undefined) => PartitionRoute | undefined) | undefined;
let ensureCalls: string[];
let ensureRefusal: Fault | undefined;
let service: ObjectService;

function view(): PlacementView {
  return {
    epoch: 1,
    diskRef: (diskId) => disks.get(diskId),
    placementGroupRef: (id) => placementGroups[id],
    partitionRef: (bucket, partition) => {
      const ref = partitionActors.get(`${bucket}/${partition}`);
      const real = ref === undefined ? undefined : { ref, epoch: 1 };
      return routeOverride === undefined ? real : routeOverride(bucket, partition, real);
    },
  };
}

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-object-service-"));
  store = await openLmdbStore({ path: join(directory, "meta") });
  host = createNactHost({ nodeId: "node-test", random: seededRandom(seed), log: () => undefined });
  disks = new Map();
  for (const diskId of diskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
  placementGroups = [];
  for (let id = 0; id < map.placementGroupCount; id += 1) {
    placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: actingSet(id, map, 6), epoch: 1 })));
  }
  partitionActors = new Map();
  routeOverride = undefined;
  ensureCalls = [];
  ensureRefusal = undefined;
  partitions = {
    async ensure(bucket, partitionCount) {
      ensureCalls.push(bucket);
      if (ensureRefusal !== undefined) return ensureRefusal;
      for (let partition = 0; partition < partitionCount; partition += 1) {
        if (partitionActors.has(`${bucket}/${partition}`)) continue;
        partitionActors.set(
          `${bucket}/${partition}`,
          await host.spawn(bucketPartitionActorPath(bucket, partition), bucketPartitionBehavior({ bucket, partition, store, epoch: 1 })),
        );
      }
      return undefined;
    },
    async retire(bucket, partitionCount) {
      for (let partition = 0; partition < partitionCount; partition += 1) {
        const ref = partitionActors.get(`${bucket}/${partition}`);
        partitionActors.delete(`${bucket}/${partition}`);
        if (ref !== undefined) await host.stop(ref);
      }
    },
  };
  service = new ObjectService({
    host,
    catalog: new ObjectCatalog(store),
    placementGroupCount: map.placementGroupCount,
    view,
    partitions,
    retryDelayMs: 1,
    retryAttemptsMax: 5,
    storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
    // Small stripes, so a few hundred KiB make many of them.
    shardBytes: 16 * 1024,
    replicationBytesMax: 8 * 1024,
    askTimeoutMs: 10_000,
  });
  await service.createBucket("b");
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

function bytesOf(length: number): Uint8Array {
  return seededRandom(seed + length).bytes(length);
}

async function* chunked(bytes: Uint8Array, pieceBytes = 10_000): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes);
}

async function put(key: string, bytes: Uint8Array): Promise<ObjectInfo> {
  const outcome = await service.putObject({ bucket: "b", key, body: chunked(bytes), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
  if (outcome === "no-such-bucket") throw new Error("no bucket");
  return outcome;
}

async function get(key: string, start?: number, end?: number): Promise<Uint8Array> {
  const info = await service.headObject("b", key);
  if (typeof info === "string") throw new Error(info);
  if ("deleteMarker" in info) throw new Error(`${key}: the current version is a delete marker`);
  const parts: Uint8Array[] = [];
  for await (const part of service.readObject(info, start ?? 0, end ?? info.sizeBytes)) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

/** Stops the disk actors at the given acting-set positions of `key`'s PG; asks to them then fail as Unreachable. */
async function stopPositions(key: string, positions: number[]): Promise<void> {
  const set = actingSet(placementGroupOf("b", key, map.placementGroupCount), map, 6);
  for (const position of positions) await host.stop(disks.get(set[position]!)!);
}

async function damagedShards(key: string): Promise<number> {
  const pg = placementGroups[placementGroupOf("b", key, map.placementGroupCount)]!;
  const reply = await host.ask<PlacementGroupMessage, StatPlacementGroupReply>(pg, (replyTo) => ({ kind: "StatPlacementGroup", epoch: 1, replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply.damagedShardCount;
}

describe("object service: the striped data path", () => {
  test("objects of many sizes (replicated and coded) read back whole and in ranges", async () => {
    for (const length of [0, 1, 8 * 1024, 8 * 1024 + 1, 64 * 1024, 64 * 1024 + 3, 300_001]) {
      const bytes = bytesOf(length);
      await put(`k${length}`, bytes);
      expect(Buffer.from(await get(`k${length}`)).equals(Buffer.from(bytes))).toBe(true);
      if (length > 10) {
        const start = Math.floor(length / 3);
        const end = length - 5;
        expect(Buffer.from(await get(`k${length}`, start, end)).equals(Buffer.from(bytes.subarray(start, end)))).toBe(true);
      }
    }
  });

  test("a PUT with one disk of the acting set down succeeds (quorum k+1), records the missed shards, and reads back", async () => {
    const key = "one-down";
    await stopPositions(key, [1]);
    const bytes = bytesOf(200_000);
    await put(key, bytes);
    // 200,000 bytes in stripes of 4 × 16 KiB: 4 stripes, each missing its shard 1.
    expect(await damagedShards(key)).toBe(4);
    expect(Buffer.from(await get(key)).equals(Buffer.from(bytes))).toBe(true);
  });

  test("with two disks down a PUT misses its quorum and stores nothing visible", async () => {
    const key = "two-down";
    await stopPositions(key, [0, 5]);
    const error = await put(key, bytesOf(100_000)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error instanceof FaultError && error.value.fault).toBe("QuorumLost");
    expect(await service.headObject("b", key)).toBe("no-such-key");
  });

  test("reads decode around two lost data shards and report them", async () => {
    const key = "lost-two";
    const bytes = bytesOf(150_000);
    await put(key, bytes);
    await stopPositions(key, [0, 2]);
    expect(Buffer.from(await get(key)).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(await get(key, 70_000, 70_100)).equals(Buffer.from(bytes.subarray(70_000, 70_100)))).toBe(true);
    // Damage is reported in the background; wait for it with a bound.
    for (let attempt = 0; attempt < 100 && (await damagedShards(key)) === 0; attempt += 1) await host.clock.sleep(10);
    expect(await damagedShards(key)).toBeGreaterThan(0);
    await stopPositions(key, [1]);
    const error = await get(key).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error instanceof FaultError && error.value.fault).toBe("QuorumLost");
  });
});

describe("object service: versioning", () => {
  test("version ids in ObjectInfo, delete markers through head, reads of a noncurrent version", async () => {
    const unversioned = await put("v", bytesOf(1_000));
    expect(unversioned.versionId).toBe("null");
    expect(await service.getBucketVersioning("b")).toBe("Unversioned");
    expect(await service.putBucketVersioning("b", "Enabled")).toBe("ok");
    const first = bytesOf(50_000);
    const v1 = await put("v", first);
    expect(v1.versionId).toMatch(/^[0-9a-z]{32}$/);
    await put("v", bytesOf(3_000));
    const deleted = await service.deleteObject("b", "v");
    expect(typeof deleted !== "string" && deleted.deleteMarker).toBe(true);
    const current = await service.headObject("b", "v");
    expect(typeof current !== "string" && "deleteMarker" in current && current.deleteMarker.versionId).toBe(typeof deleted !== "string" ? deleted.versionId! : "");
    const old = await service.headObject("b", "v", v1.versionId);
    if (typeof old === "string" || "deleteMarker" in old) throw new Error("v1 not found");
    const parts: Uint8Array[] = [];
    for await (const part of service.readObject(old, 0, old.sizeBytes)) parts.push(part);
    expect(Buffer.concat(parts).equals(Buffer.from(first))).toBe(true);
    const page = await service.listObjectVersions({ bucket: "b", prefix: "", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 2 });
    expect(page !== "no-such-bucket" && page.entries.map((entry) => [entry.kind, entry.isLatest])).toEqual([
      ["deleteMarker", true],
      ["version", false],
    ]);
    expect(page !== "no-such-bucket" && page.isTruncated && page.nextKeyMarker).toBe("v");
    expect(await service.headObject("b", "v", "0000000000000000000000000000zzzz")).toBe("no-such-version");
    expect(await service.deleteBucket("b")).toBe("not-empty");
  });
});

async function statPartition(bucket: string, key: string): Promise<StatBucketPartitionReply> {
  const ref = partitionActors.get(`${bucket}/${bucketPartitionOf(key, 4)}`)!;
  const reply = await host.ask<BucketPartitionMessage, StatBucketPartitionReply>(ref, (replyTo) => ({ kind: "StatBucketPartition", epoch: 1, replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply;
}

async function pendingCount(): Promise<number> {
  const range = pendingRange();
  return store.transact(async (tx) => (await tx.getRange(range.begin, range.end, { limit: 1_000 })).length);
}

describe("object service: through bucket partitions", () => {
  test("CreateBucket spawns the bucket's partitions before it answers; HEAD and GET are served from the partition's cache", async () => {
    expect(ensureCalls).toEqual(["b"]);
    expect([...partitionActors.keys()].sort()).toEqual(["b/0", "b/1", "b/2", "b/3"]);
    const bytes = bytesOf(20_000);
    await put("cached", bytes);
    const before = await statPartition("b", "cached");
    expect(Buffer.from(await get("cached")).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(await get("cached")).equals(Buffer.from(bytes))).toBe(true);
    const after = await statPartition("b", "cached");
    // The commit left the record in the cache: both lookups were hits.
    expect(after.cacheHits - before.cacheHits).toBe(2);
    expect(after.cacheMisses - before.cacheMisses).toBe(0);
    const deleted = await service.deleteObject("b", "cached");
    expect(deleted).toEqual({ deleteMarker: false });
    expect(await service.headObject("b", "cached")).toBe("no-such-key");
  });

  test("a retried PUT whose token committed is answered at PREPARE: the same version, its body stored nowhere", async () => {
    await service.putBucketVersioning("b", "Enabled");
    const input = { bucket: "b", key: "retry", headers: {}, userMetadata: {}, storageClass: "STANDARD", idempotencyToken: "token-7" };
    const first = await service.putObject({ ...input, body: chunked(bytesOf(30_000)) });
    if (first === "no-such-bucket") throw new Error("no bucket");
    const pendingBefore = await pendingCount();
    let bodyBytesRead = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const piece of chunked(bytesOf(30_000))) {
        bodyBytesRead += piece.byteLength;
        yield piece;
      }
    }
    const again = await service.putObject({ ...input, body: counted() });
    if (again === "no-such-bucket") throw new Error("no bucket");
    expect(again.versionId).toBe(first.versionId);
    expect(again.dataId).toBe(first.dataId);
    // The body was drained (the client sent it) but nothing new was prepared or written.
    expect(bodyBytesRead).toBe(30_000);
    expect(await pendingCount()).toBe(pendingBefore);
    const page = await service.listObjectVersions({ bucket: "b", prefix: "retry", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 10 });
    expect(page !== "no-such-bucket" && page.entries.length).toBe(1);
  });

  test("requests refused as Fenced (a stale route) are retried with the view as it is then; a route that stays stale fails as Fenced", async () => {
    await put("k", bytesOf(1_000));
    let staleAnswers = 2;
    routeOverride = (_bucket, _partition, real) => {
      if (real === undefined || staleAnswers === 0) return real;
      staleAnswers -= 1;
      return { ref: real.ref, epoch: 0 };
    };
    const info = await service.headObject("b", "k");
    expect(typeof info !== "string" && !("deleteMarker" in info) && info.sizeBytes).toBe(1_000);
    expect(staleAnswers).toBe(0);
    // A commit is retried on Fenced too: the refusal proves it had no effect. Routes asked for:
    // the PREPARE's, the COMMIT's (stale), the COMMIT's again.
    let routesAsked = 0;
    routeOverride = (_bucket, _partition, real) => {
      routesAsked += 1;
      return real !== undefined && routesAsked === 2 ? { ref: real.ref, epoch: 0 } : real;
    };
    const committed = await put("k2", bytesOf(2_000));
    expect(routesAsked).toBe(3);
    expect(committed.sizeBytes).toBe(2_000);
    routeOverride = (_bucket, _partition, real) => (real === undefined ? undefined : { ref: real.ref, epoch: 0 });
    const refused = await service.headObject("b", "k").catch((error: unknown) => error);
    expect(refused instanceof FaultError && refused.value.fault).toBe("Fenced");
  });

  test("a partition moving to a new owner mid-PUT: a COMMIT refused by the stopped old owner is retried at the new one when it carries a token, never without", async () => {
    const key = "moving";
    const partition = bucketPartitionOf(key, 4);
    // The new owner: another run at a newer epoch (on another node in a fleet; at another path here), over the same store.
    const newOwner = await host.spawn(`${bucketPartitionActorPath("b", partition)}-new`, bucketPartitionBehavior({ bucket: "b", partition, store, epoch: 2 }));
    const attempt = async (name: string, idempotencyToken: string | undefined): Promise<{ outcome: unknown; routes: string[] }> => {
      const oldOwner = await host.spawn(`${bucketPartitionActorPath("b", partition)}-${name}`, bucketPartitionBehavior({ bucket: "b", partition, store, epoch: 1 }));
      const routes: string[] = [];
      routeOverride = (_bucket, asked, real) => {
        if (asked !== partition) return real;
        // The PREPARE goes to the old owner. The COMMIT's first route still names it (this gateway's map
        // is behind) but its node has just stopped it; the next route (the map polled again) names the new owner.
        routes.push(routes.length < 2 ? "old" : "new");
        if (routes.length === 2) void host.stop(oldOwner);
        return routes.length <= 2 ? { ref: oldOwner, epoch: 1 } : { ref: newOwner, epoch: 2 };
      };
      const outcome = await service
        .putObject({
          bucket: "b",
          key,
          body: chunked(bytesOf(3_000)),
          headers: {},
          userMetadata: {},
          storageClass: "STANDARD",
          ...(idempotencyToken === undefined ? {} : { idempotencyToken }),
        })
        .catch((error: unknown) => error);
      routeOverride = undefined;
      return { outcome, routes };
    };

    // Without a token the COMMIT's outcome at an Unreachable owner is unknown to the service: not repeated.
    const bare = await attempt("old-a", undefined);
    expect(bare.outcome instanceof FaultError && bare.outcome.value.fault).toBe("Unreachable");
    expect(bare.routes).toEqual(["old", "old"]);

    // With one, the commit step looks the token up first, so repeating it is safe: it commits at the new owner.
    const tokened = await attempt("old-b", "token-move");
    expect(tokened.routes).toEqual(["old", "old", "new"]);
    const committed = tokened.outcome as ObjectInfo;
    expect(committed.sizeBytes).toBe(3_000);
    routeOverride = (_bucket, asked, real) => (asked === partition ? { ref: newOwner, epoch: 2 } : real);
    const read = await service.headObject("b", key);
    expect(typeof read !== "string" && !("deleteMarker" in read) && read.versionId).toBe(committed.versionId);
  });

  test("retries of a partition request back off (doubling, capped) and all share one deadline of askTimeoutMs", async () => {
    const clock = manualClock(1_700_000_000_000);
    const clockHost = createNactHost({ nodeId: "node-clock", clock, random: seededRandom(seed), log: () => undefined });
    let asked = 0;
    const timedService = new ObjectService({
      host: clockHost,
      catalog: new ObjectCatalog(store),
      placementGroupCount: map.placementGroupCount,
      view: () => ({
        epoch: 1,
        diskRef: () => undefined,
        placementGroupRef: () => undefined,
        partitionRef: () => {
          asked += 1;
          // An owner this node does not run (the actor moved away): every ask is Unreachable at once.
          return { ref: actorRef<BucketPartitionMessage>("node-clock", 1, "buckets/b/gone"), epoch: 1 };
        },
      }),
      storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
      retryDelayMs: 100,
      retryDelayMsMax: 800,
      retryAttemptsMax: 1_000,
      askTimeoutMs: 2_000,
    });
    try {
      let outcome: unknown;
      void timedService.headObject("b", "k").then(
        (value) => (outcome = value),
        (error: unknown) => (outcome = error),
      );
      // Asks at 0, 100, 300, 700 and 1,500 ms; the next delay (800 ms) would end past the deadline (2,000 ms).
      const asksAt: number[] = [];
      for (const delayMs of [100, 200, 400, 800]) {
        for (let turn = 0; clock.sleeperCount() === 0; turn += 1) {
          expect(turn).toBeLessThan(10_000);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        asksAt.push(asked);
        await clock.advance(delayMs);
      }
      for (let turn = 0; outcome === undefined; turn += 1) {
        expect(turn).toBeLessThan(10_000);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      expect(asksAt).toEqual([1, 2, 3, 4]);
      expect(asked).toBe(5);
      expect(clock.monotonicMs()).toBe(1_500);
      expect(outcome instanceof FaultError && outcome.value.fault).toBe("Unreachable");
    } finally {
      await clockHost.shutdown();
    }
  });

  test("CreateBucket answers a fault when its partitions cannot be made reachable, with the bucket created; a retry makes them reachable", async () => {
    ensureRefusal = fault("Unreachable", "no partition host");
    const refused = await service.createBucket("later").catch((error: unknown) => error);
    expect(refused instanceof FaultError && refused.value.fault).toBe("Unreachable");
    expect(await service.headBucket("later")).toBeDefined();
    ensureRefusal = undefined;
    expect(await service.createBucket("later")).toBe("exists");
    expect([...partitionActors.keys()].filter((name) => name.startsWith("later/")).length).toBe(4);
  });

  test("a bucket whose partitions were never started (made before partitions existed) gets them at its first request", async () => {
    await new ObjectCatalog(store).createBucket("legacy", 1);
    expect(await service.headObject("legacy", "k")).toBe("no-such-key");
    expect(ensureCalls).toContain("legacy");
    expect(partitionActors.has(`legacy/${bucketPartitionOf("k", 4)}`)).toBe(true);
  });

  test("DeleteBucket retires the partitions; the bucket made again gets fresh ones", async () => {
    await put("x", bytesOf(100));
    expect(await service.headObject("b", "absent-key")).toBe("no-such-key");
    expect(await service.deleteObject("b", "x")).toEqual({ deleteMarker: false });
    expect(await service.deleteBucket("b")).toBe("deleted");
    expect([...partitionActors.keys()].filter((name) => name.startsWith("b/"))).toEqual([]);
    expect(await service.headObject("b", "absent-key")).toBe("no-such-bucket");
    expect(await service.createBucket("b")).toBe("created");
    expect(await service.headObject("b", "absent-key")).toBe("no-such-key");
  });
});
