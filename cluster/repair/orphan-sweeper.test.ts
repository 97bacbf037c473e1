/**
 * The orphan sweep against real disk and PG actors, the object service and
 * lmdb on a nact host: shards no PG will read (a copy at the wrong position,
 * a stripe of data nobody indexes) are deleted once two sweeps found them;
 * live shards, shards of data in flight, unindexed chunks and shards of a PG
 * mid-change are kept, and every object still reads back.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { AppendShardReply, CheckShardsReply, DiskMessage, ReadShardReply } from "../../actors/disk/index.ts";
import { isFault, seededRandom, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { placementGroupDataIdFromStoredKey, placementGroupDataRange, pendingKey, type MetaStore } from "../metadata/index.ts";
import { stripeShardKey, type ObjectService } from "../object-service.ts";
import { actingSet, placementGroupOf } from "../placement/index.ts";
import { Healer } from "./healer.ts";
import { OrphanSweeper } from "./orphan-sweeper.ts";
import { openRepairWorld, readObjectBytes, repairWorldDiskIds as diskIds, repairWorldMap as map, repairWorldWidth as width, type RepairWorld } from "./repair-world.ts";

const confirmMs = 300;

let world: RepairWorld;
let store: MetaStore;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let service: ObjectService;
/** What the sweeper is told the map gives each PG (a test changes one to make its PG mid-change). */
let mapSets: string[][];

beforeEach(async () => {
  world = await openRepairWorld({ seed: 7, shardBytes: 16 * 1024, replicationBytesMax: 8 * 1024, prefix: "cairn-orphans-" });
  ({ store, host, disks, service } = world);
  mapSets = Array.from({ length: map.placementGroupCount }, (_, id) => actingSet(id, map, width));
  // Every PG settled: its set recorded complete, as the first repair run does.
  const healer = new Healer({ host, store, view: world.view, bytesPerSecondMax: 1024 * 1024 * 1024 });
  for (let id = 0; id < map.placementGroupCount; id += 1) await healer.recordCompleteActingSet(id, mapSets[id]!);
});

afterEach(async () => {
  await world.close();
});

function sweeper(): OrphanSweeper {
  return new OrphanSweeper({
    host,
    store,
    view: world.view,
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

function read(key: string): Promise<Buffer> {
  return readObjectBytes(service, "b", key);
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
