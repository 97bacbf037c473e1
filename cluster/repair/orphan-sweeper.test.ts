/**
 * The orphan sweep against real disk and PG actors, the object service and
 * lmdb on a nact host: shards no PG will read (a copy at the wrong position,
 * a stripe of data nobody indexes) are deleted once two sweeps found them;
 * live shards, shards of data in flight, unindexed chunks and shards of a PG
 * mid-change are kept, and every object still reads back.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type AppendShardReply, type CheckShardsReply, type DiskMessage, type ReadShardReply } from "../../actors/disk/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../../actors/placement-group/index.ts";
import { createNactHost, isFault, seededRandom, systemClock, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { ObjectCatalog, openLmdbStore, placementGroupDataIdFromStoredKey, placementGroupDataRange, pendingKey, type MetaStore } from "../metadata/index.ts";
import { ObjectService, stripeShardKey } from "../object-service.ts";
import { actingSet, placementGroupOf, type ClusterMap } from "../placement/index.ts";
import { Healer } from "./healer.ts";
import { OrphanSweeper } from "./orphan-sweeper.ts";

const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const map: ClusterMap = {
  epoch: 1,
  placementGroupCount: 4,
  hosts: [{ hostId: "node-test", disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};
const width = 6;
const confirmMs = 300;

let directory = "";
let store: MetaStore;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let placementGroups: ActorRef<PlacementGroupMessage>[];
let service: ObjectService;
/** What the sweeper is told the map gives each PG (a test changes one to make its PG mid-change). */
let mapSets: string[][];

const view = () => ({ epoch: 1, diskRef: (diskId: string) => disks.get(diskId), placementGroupRef: (id: number) => placementGroups[id] });

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-orphans-"));
  store = await openLmdbStore({ path: join(directory, "meta") });
  host = createNactHost({ nodeId: "node-test", clock: systemClock(), random: seededRandom(7), log: () => undefined });
  disks = new Map();
  for (const diskId of diskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
  placementGroups = [];
  mapSets = [];
  for (let id = 0; id < map.placementGroupCount; id += 1) {
    mapSets.push(actingSet(id, map, width));
    placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: mapSets[id]!, epoch: 1 })));
  }
  service = new ObjectService({
    host,
    catalog: new ObjectCatalog(store),
    placementGroupCount: map.placementGroupCount,
    view,
    storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
    shardBytes: 16 * 1024,
    replicationBytesMax: 8 * 1024,
    askTimeoutMs: 10_000,
  });
  // Every PG settled: its set recorded complete, as the first repair run does.
  const healer = new Healer({ host, store, view, bytesPerSecondMax: 1024 * 1024 * 1024 });
  for (let id = 0; id < map.placementGroupCount; id += 1) await healer.recordCompleteActingSet(id, mapSets[id]!);
  await service.createBucket("b");
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

function sweeper(): OrphanSweeper {
  return new OrphanSweeper({
    host,
    store,
    view,
    placementGroupCount: map.placementGroupCount,
    mapActingSet: (id) => mapSets[id],
    confirmMs,
    pageKeys: 7, // several pages even for this small data set
  });
}

function bytesOf(seed: number, length: number): Uint8Array {
  return seededRandom(seed).bytes(length);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function put(key: string, bytes: Uint8Array): Promise<void> {
  const outcome = await service.putObject({ bucket: "b", key, body: once(bytes), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
  if (typeof outcome === "string") throw new Error(outcome);
}

async function read(key: string): Promise<Buffer> {
  const info = await service.headObject("b", key);
  if (typeof info === "string" || "deleteMarker" in info) throw new Error(`${key}: not readable`);
  const parts: Uint8Array[] = [];
  for await (const part of service.readObject(info, 0, info.sizeBytes)) parts.push(part);
  return Buffer.concat(parts);
}

async function append(diskId: string, shardKey: string, bytes: Uint8Array): Promise<void> {
  const reply = await host.ask<DiskMessage, AppendShardReply | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey, bytes, replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
}

async function present(diskId: string, shardKey: string): Promise<boolean> {
  const reply = await host.ask<DiskMessage, CheckShardsReply | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "CheckShards", epoch: 1, shardKeys: [shardKey], replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply.present[0]!;
}

async function readShard(diskId: string, shardKey: string): Promise<Uint8Array> {
  const reply = await host.ask<DiskMessage, ReadShardReply | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "ReadShard", epoch: 1, shardKey, replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply.bytes;
}

/** The dataIds a PG indexes. */
async function indexedDataIds(placementGroupId: number): Promise<string[]> {
  const range = placementGroupDataRange(placementGroupId);
  const entries = await store.transact((tx) => tx.getRange(range.begin, range.end, { limit: 1_000 }));
  return entries.map((entry) => placementGroupDataIdFromStoredKey(entry.key));
}

/** A coded object's dataId, its PG and its acting set. */
async function codedObject(key: string): Promise<{ dataId: string; placementGroupId: number; set: string[] }> {
  const placementGroupId = placementGroupOf("b", key, map.placementGroupCount);
  const dataIds = await indexedDataIds(placementGroupId);
  expect(dataIds.length).toBe(1);
  return { dataId: dataIds[0]!, placementGroupId, set: mapSets[placementGroupId]! };
}

async function totalKeys(): Promise<number> {
  let total = 0;
  for (const diskId of diskIds) {
    const reply = await host.ask<DiskMessage, { shardKeys: string[]; next?: string } | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "ListShardKeys", epoch: 1, countMax: 10_000, replyTo }), 10_000);
    if (isFault(reply)) throw new Error(reply.detail);
    total += reply.shardKeys.length;
  }
  return total;
}

test("orphans are deleted on the second sweep that finds them; live shards, data in flight and unindexed chunks stay", async () => {
  const coded = bytesOf(1, 100_000); // two stripes of 4 × 16 KiB
  const small = bytesOf(2, 1_000); // replicated
  await put("coded", coded);
  await put("small", small);
  const liveKeys = await totalKeys();
  const object = await codedObject("coded");

  // A stripe shard at a position its disk does not hold (a copy from an old acting set).
  const wrongPlace = { diskId: object.set[5]!, shardKey: stripeShardKey(object.dataId, 0, 3) };
  await append(wrongPlace.diskId, wrongPlace.shardKey, await readShard(object.set[3]!, wrongPlace.shardKey));
  // A stripe of data no PG indexes, with no pending or garbage record.
  const ghost = { diskId: "disk-2", shardKey: stripeShardKey("ghost-data", 0, 1) };
  await append(ghost.diskId, ghost.shardKey, bytesOf(3, 100));
  // The same, but a PUT's pending record appears between the two sweeps: it is not deleted.
  const late = { diskId: "disk-4", shardKey: stripeShardKey("late-data", 0, 0) };
  await append(late.diskId, late.shardKey, bytesOf(4, 100));
  // A stripe of a PUT in flight (pending record, not yet indexed).
  await store.transact(async (tx) => tx.set(pendingKey("inflight-data"), new Uint8Array([1])));
  const inflight = { diskId: "disk-1", shardKey: stripeShardKey("inflight-data", 0, 2) };
  await append(inflight.diskId, inflight.shardKey, bytesOf(5, 100));
  // An unindexed chunk (the single-disk layout never indexed its chunks): nothing says it is garbage.
  const chunk = { diskId: "disk-3", shardKey: "legacy-data/0" };
  await append(chunk.diskId, chunk.shardKey, bytesOf(6, 100));
  // A key the sweep cannot parse.
  const foreign = { diskId: "disk-0", shardKey: "not-a-shard-key" };
  await append(foreign.diskId, foreign.shardKey, bytesOf(7, 10));

  const sweep = sweeper();
  const first = new Map<string, Awaited<ReturnType<OrphanSweeper["sweepDisk"]>>>();
  for (const diskId of diskIds) first.set(diskId, await sweep.sweepDisk(diskId));
  const sum = (reports: Map<string, Awaited<ReturnType<OrphanSweeper["sweepDisk"]>>>, field: "listed" | "orphaned" | "deleted" | "inFlight" | "unknown" | "unsettled") =>
    [...reports.values()].reduce((total, report) => total + report[field], 0);
  expect(sum(first, "listed")).toBe(liveKeys + 6);
  expect(sum(first, "orphaned")).toBe(3); // wrong place, ghost, late
  expect(sum(first, "deleted")).toBe(0); // one look deletes nothing
  expect(sum(first, "inFlight")).toBe(1);
  expect(sum(first, "unknown")).toBe(2);
  for (const shard of [wrongPlace, ghost, late]) expect(await present(shard.diskId, shard.shardKey)).toBe(true);

  await store.transact(async (tx) => tx.set(pendingKey("late-data"), new Uint8Array([1])));
  await Bun.sleep(confirmMs + 50);
  const second = new Map<string, Awaited<ReturnType<OrphanSweeper["sweepDisk"]>>>();
  for (const diskId of diskIds) second.set(diskId, await sweep.sweepDisk(diskId));
  expect(sum(second, "deleted")).toBe(2);
  expect(sweep.deletedTotal).toBe(2);
  expect(await present(wrongPlace.diskId, wrongPlace.shardKey)).toBe(false);
  expect(await present(ghost.diskId, ghost.shardKey)).toBe(false);
  for (const shard of [late, inflight, chunk, foreign]) expect(await present(shard.diskId, shard.shardKey)).toBe(true);
  // Every live shard is where it was, and the objects read back.
  expect(await present(object.set[3]!, wrongPlace.shardKey)).toBe(true);
  expect(await totalKeys()).toBe(liveKeys + 4);
  expect(Buffer.compare(await read("coded"), Buffer.from(coded))).toBe(0);
  expect(Buffer.compare(await read("small"), Buffer.from(small))).toBe(0);
});

test("a PG whose acting set differs from the map's (mid-change) keeps its misplaced shards", async () => {
  await put("coded", bytesOf(8, 100_000));
  const object = await codedObject("coded");
  const wrongPlace = { diskId: object.set[0]!, shardKey: stripeShardKey(object.dataId, 1, 2) };
  await append(wrongPlace.diskId, wrongPlace.shardKey, await readShard(object.set[2]!, wrongPlace.shardKey));
  // The map moved this PG (the sweeper's node saw it) but the PG has not been told yet.
  mapSets[object.placementGroupId] = [...object.set].reverse();
  const sweep = sweeper();
  await sweep.sweepDisk(wrongPlace.diskId);
  await Bun.sleep(confirmMs + 50);
  const report = await sweep.sweepDisk(wrongPlace.diskId);
  expect(report.deleted).toBe(0);
  expect(report.unsettled).toBeGreaterThan(0);
  expect(await present(wrongPlace.diskId, wrongPlace.shardKey)).toBe(true);
  // Settled again (the map and the PG agree): the next two sweeps delete it.
  mapSets[object.placementGroupId] = object.set;
  const settled = sweeper();
  await settled.sweepDisk(wrongPlace.diskId);
  await Bun.sleep(confirmMs + 50);
  expect((await settled.sweepDisk(wrongPlace.diskId)).deleted).toBe(1);
  expect(await present(wrongPlace.diskId, wrongPlace.shardKey)).toBe(false);
});
