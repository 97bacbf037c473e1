/**
 * The striped data path against real disk and PG actors on a nact host, with
 * disks taken away: the write quorum, damage recorded for healing, and
 * degraded reads decoding from parity.
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
import { FaultError, type ObjectInfo } from "../gateway/index.ts";
import { createNactHost, isFault, randomSeed, seededRandom, type ActorRef, type Host } from "../runtime/index.ts";
import { ObjectCatalog, openLmdbStore, type MetaStore } from "./metadata/index.ts";
import { ObjectService } from "./object-service.ts";
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
let service: ObjectService;

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
  service = new ObjectService({
    host,
    catalog: new ObjectCatalog(store),
    placementGroupCount: map.placementGroupCount,
    view: () => ({ epoch: 1, diskRef: (diskId) => disks.get(diskId), placementGroupRef: (id) => placementGroups[id] }),
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
    expect(deleted !== "no-such-bucket" && deleted.deleteMarker).toBe(true);
    const current = await service.headObject("b", "v");
    expect(typeof current !== "string" && "deleteMarker" in current && current.deleteMarker.versionId).toBe(deleted !== "no-such-bucket" ? deleted.versionId! : "");
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
