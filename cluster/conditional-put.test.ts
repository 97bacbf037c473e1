/**
 * Conditional PUTs through the object service, over real disk, PG and
 * bucket-partition actors on one nact host: a condition that already fails
 * is refused at PREPARE (nothing prepared or written; a client's body is
 * still read to the end, the server's own stream is closed early), a
 * refusal at COMMIT frees the data it wrote, and an idempotent retry gets
 * its first answer.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage, type StatDiskReply } from "../actors/disk/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../actors/placement-group/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior, type BucketPartitionMessage } from "../actors/bucket-partition/index.ts";
import type { ObjectInfo, PutObjectInput } from "../gateway/index.ts";
import { createNactHost, isFault, seededRandom, type ActorRef, type Fault, type Host } from "../runtime/index.ts";
import { ObjectCatalog, openLmdbStore, pendingRange, type MetaStore } from "./metadata/index.ts";
import { ObjectService, type PartitionHosting, type PlacementView } from "./object-service.ts";
import { actingSet, type ClusterMap } from "./placement/index.ts";

const seed = Number(process.env.CAIRN_SEED ?? 3301);
const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const map: ClusterMap = {
  epoch: 1,
  placementGroupCount: 8,
  hosts: [{ hostId: "node-test", disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};
const askTimeoutMs = 10_000;

let directory = "";
let store: MetaStore;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let placementGroups: ActorRef<PlacementGroupMessage>[];
let partitionActors: Map<string, ActorRef<BucketPartitionMessage>>;
let service: ObjectService;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-conditional-put-"));
  store = await openLmdbStore({ path: join(directory, "meta") });
  host = createNactHost({ nodeId: "node-test", random: seededRandom(seed), log: () => undefined });
  disks = new Map();
  for (const diskId of diskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
  placementGroups = [];
  for (let id = 0; id < map.placementGroupCount; id += 1) {
    placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: actingSet(id, map, 6), epoch: 1 })));
  }
  partitionActors = new Map();
  const partitions: PartitionHosting = {
    async ensure(bucket, partitionCount) {
      for (let partition = 0; partition < partitionCount; partition += 1) {
        if (partitionActors.has(`${bucket}/${partition}`)) continue;
        partitionActors.set(
          `${bucket}/${partition}`,
          await host.spawn(bucketPartitionActorPath(bucket, partition), bucketPartitionBehavior({ bucket, partition, store, epoch: 1 })),
        );
      }
      return undefined;
    },
    async retire() {},
  };
  const view = (): PlacementView => ({
    epoch: 1,
    diskRef: (diskId) => disks.get(diskId),
    placementGroupRef: (id) => placementGroups[id],
    partitionRef: (bucket, partition) => {
      const ref = partitionActors.get(`${bucket}/${partition}`);
      return ref === undefined ? undefined : { ref, epoch: 1 };
    },
  });
  service = new ObjectService({
    host,
    catalog: new ObjectCatalog(store),
    placementGroupCount: map.placementGroupCount,
    view,
    partitions,
    retryDelayMs: 1,
    retryAttemptsMax: 5,
    storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
    shardBytes: 16 * 1024,
    replicationBytesMax: 8 * 1024,
    askTimeoutMs,
  });
  await service.createBucket("b");
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

/** `sizeBytes` in 10,000-byte pieces, counting how many bytes were pulled and whether it was closed early. */
function countedBody(sizeBytes: number, fill: number): { body: AsyncIterable<Uint8Array>; pulledBytes: () => number; closedEarly: () => boolean } {
  let pulled = 0;
  let finished = false;
  async function* generate(): AsyncGenerator<Uint8Array> {
    for (let offset = 0; offset < sizeBytes; offset += 10_000) {
      const piece = new Uint8Array(Math.min(10_000, sizeBytes - offset)).fill(fill);
      pulled += piece.byteLength;
      yield piece;
    }
    finished = true;
  }
  return { body: generate(), pulledBytes: () => pulled, closedEarly: () => !finished };
}

function input(key: string, body: AsyncIterable<Uint8Array>, extra: Partial<PutObjectInput> = {}): PutObjectInput {
  return { bucket: "b", key, body, headers: {}, userMetadata: {}, storageClass: "STANDARD", ...extra };
}

async function liveShards(): Promise<number> {
  let total = 0;
  for (const disk of disks.values()) {
    const reply = await host.ask<DiskMessage, StatDiskReply | Fault>(disk, (replyTo) => ({ kind: "StatDisk", replyTo }), askTimeoutMs);
    if (isFault(reply)) throw new Error(reply.detail);
    total += reply.shardCount;
  }
  return total;
}

async function pendingCount(): Promise<number> {
  const range = pendingRange();
  return store.transact(async (tx) => (await tx.getRange(range.begin, range.end, { limit: 1_000 })).length);
}

function info(outcome: Awaited<ReturnType<ObjectService["putObject"]>>): ObjectInfo {
  if (typeof outcome === "string") throw new Error(`expected a stored object, got ${outcome}`);
  return outcome;
}

test("a condition that already fails is refused at PREPARE: nothing prepared or written; a client body is drained, a local one closed", async () => {
  const sizeBytes = 200_000;
  const first = info(await service.putObject(input("k", countedBody(sizeBytes, 1).body, { condition: { ifNoneMatch: "*" } })));
  const shardsAfterFirst = await liveShards();

  const client = countedBody(sizeBytes, 2);
  expect(await service.putObject(input("k", client.body, { condition: { ifNoneMatch: "*" } }))).toBe("precondition-failed");
  expect([client.pulledBytes(), client.closedEarly()]).toEqual([sizeBytes, false]);

  const local = countedBody(sizeBytes, 3);
  expect(await service.putObject(input("k", local.body, { condition: { ifMatch: "not-the-etag" }, bodyIsLocal: true }))).toBe("precondition-failed");
  expect(local.closedEarly()).toBe(true);
  // Only the head that decides the layout was read.
  expect(local.pulledBytes()).toBeLessThan(sizeBytes / 4);

  const missing = countedBody(sizeBytes, 4);
  expect(await service.putObject(input("absent", missing.body, { condition: { ifMatch: first.etag }, bodyIsLocal: true }))).toBe("no-such-key");
  expect(await pendingCount()).toBe(0);
  expect(await liveShards()).toBe(shardsAfterFirst);
  const current = await service.headObject("b", "k");
  expect(typeof current !== "string" && "etag" in current && current.dataId).toBe(first.dataId);
});

test("16 conditional PUTs of one key at once: one stored, the refused ones' shards freed, an idempotent retry answered with its commit", async () => {
  const sizeBytes = 100_000;
  const beforeProbe = await liveShards();
  expect(info(await service.putObject(input("probe", countedBody(sizeBytes, 99).body))).sizeBytes).toBe(sizeBytes);
  const oneObject = (await liveShards()) - beforeProbe;
  expect(oneObject).toBeGreaterThan(0);
  const before = await liveShards();
  const outcomes = await Promise.all(
    Array.from({ length: 16 }, (_, index) =>
      service.putObject(input("raced", countedBody(sizeBytes, index).body, { condition: { ifNoneMatch: "*" }, idempotencyToken: `token-${index}` })),
    ),
  );
  const winners = outcomes.filter((outcome) => typeof outcome !== "string");
  expect(winners.length).toBe(1);
  expect(outcomes.filter((outcome) => outcome === "precondition-failed").length).toBe(15);
  const winnerIndex = outcomes.findIndex((outcome) => typeof outcome !== "string");
  // Writers refused at COMMIT wrote shards; they are freed after the reply. Wait (bounded) for one object's worth.
  let shards = await liveShards();
  for (let attempt = 0; attempt < 200 && shards !== before + oneObject; attempt += 1) {
    await Bun.sleep(20);
    shards = await liveShards();
  }
  expect(shards).toBe(before + oneObject);
  expect(await pendingCount()).toBe(0);
  // The winner's retry (same token) is answered with its version, not refused.
  const retry = info(await service.putObject(input("raced", countedBody(sizeBytes, winnerIndex).body, { condition: { ifNoneMatch: "*" }, idempotencyToken: `token-${winnerIndex}` })));
  expect(retry.versionId).toBe(info(winners[0]!).versionId);
  expect(retry.dataId).toBe(info(winners[0]!).dataId);
});
