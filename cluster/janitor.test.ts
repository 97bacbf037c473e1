/**
 * The Janitor against real disk and PG actors on a nact host driven by a
 * manual clock: a PUT stuck between PREPARE and COMMIT is reclaimed with its
 * shards and can no longer commit; live data is never freed; expired
 * idempotency tokens go; the schedule follows the host clock.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage, type StatDiskReply } from "../actors/disk/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../actors/placement-group/index.ts";
import { FaultError, type ObjectInfo } from "../gateway/index.ts";
import { createNactHost, isFault, manualClock, randomSeed, seededRandom, type ActorRef, type Host, type ManualClock } from "../runtime/index.ts";
import { Janitor } from "./janitor.ts";
import { ObjectCatalog, openLmdbStore, type MetaStore } from "./metadata/index.ts";
import { ObjectService } from "./object-service.ts";
import { actingSet, type ClusterMap } from "./placement/index.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`janitor: seed ${seed} (replay with CAIRN_TEST_SEED=${seed})`);

const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const map: ClusterMap = {
  epoch: 1,
  placementGroupCount: 4,
  hosts: [{ hostId: "node-test", disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};
const preparingMaxAgeMs = 60_000;
const intervalMs = 5_000;

let directory = "";
let store: MetaStore;
let clock: ManualClock;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let catalog: ObjectCatalog;
let service: ObjectService;
let janitor: Janitor;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-janitor-"));
  store = await openLmdbStore({ path: join(directory, "meta") });
  clock = manualClock(1_700_000_000_000);
  host = createNactHost({ nodeId: "node-test", clock, random: seededRandom(seed), log: () => undefined });
  disks = new Map();
  for (const diskId of diskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
  const placementGroups: ActorRef<PlacementGroupMessage>[] = [];
  for (let id = 0; id < map.placementGroupCount; id += 1) {
    placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: actingSet(id, map, 6), epoch: 1 })));
  }
  catalog = new ObjectCatalog(store);
  service = new ObjectService({
    host,
    catalog,
    placementGroupCount: map.placementGroupCount,
    view: () => ({ epoch: 1, diskRef: (diskId) => disks.get(diskId), placementGroupRef: (id) => placementGroups[id] }),
    storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
    shardBytes: 16 * 1024,
    replicationBytesMax: 8 * 1024,
    askTimeoutMs: 10_000,
    preparingMaxAgeMs,
    idempotencyTokenLifetimeMs: 120_000,
  });
  janitor = new Janitor({ host, service, catalog, intervalMs, batchMax: 3 });
  await service.createBucket("b");
});

afterEach(async () => {
  await janitor.stop();
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function shardCount(): Promise<number> {
  let total = 0;
  for (const ref of disks.values()) {
    const reply = await host.ask<DiskMessage, StatDiskReply>(ref, (replyTo) => ({ kind: "StatDisk", replyTo }), 10_000);
    if (isFault(reply)) throw new Error(reply.detail);
    total += reply.shardCount;
  }
  return total;
}

async function* chunked(bytes: Uint8Array, pieceBytes = 10_000): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes);
}

async function put(key: string, bytes: Uint8Array, idempotencyToken?: string): Promise<ObjectInfo> {
  const outcome = await service.putObject({
    bucket: "b",
    key,
    body: chunked(bytes),
    headers: {},
    userMetadata: {},
    storageClass: "STANDARD",
    ...(idempotencyToken === undefined ? {} : { idempotencyToken }),
  });
  if (outcome === "no-such-bucket") throw new Error(outcome);
  return outcome;
}

async function read(key: string): Promise<Buffer> {
  const info = await service.headObject("b", key);
  if (typeof info === "string" || "deleteMarker" in info) throw new Error(`${key}: not readable`);
  const parts: Uint8Array[] = [];
  for await (const part of service.readObject(info, 0, info.sizeBytes)) parts.push(part);
  return Buffer.concat(parts);
}

/** Waits, with a bound, until `condition` holds. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 2_000; attempt += 1) {
    if (await condition()) return;
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await Bun.sleep(1);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("janitor", () => {
  test("a PUT stuck between PREPARE and COMMIT is reclaimed with every shard, and can then never commit", async () => {
    const live = seededRandom(seed).bytes(100_000);
    await put("live", live);
    const liveShards = await shardCount();

    // A body that delivers 5 stripes' worth and then stalls until released.
    const stuckBytes = seededRandom(seed + 1).bytes(5 * 4 * 16 * 1024);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let delivered = false;
    async function* stalling(): AsyncGenerator<Uint8Array> {
      yield* chunked(stuckBytes, 16 * 1024);
      delivered = true;
      await released;
      // A short last stripe, written after the reclaim.
      yield seededRandom(seed + 5).bytes(1_000);
    }
    const stuck = service.putObject({ bucket: "b", key: "stuck", body: stalling(), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
    stuck.catch(() => undefined);
    // Wait until all five stripes' shards are durable: no ask may be in flight when the manual
    // clock jumps below, or its timeout would fire.
    await until(async () => delivered && (await shardCount()) === liveShards + 5 * 6, "the stuck PUT's first stripes");
    expect(await service.headObject("b", "stuck")).toBe("no-such-key");

    // Young PREPARING records are left alone.
    expect(await janitor.runOnce()).toEqual({ abandoned: 0, freed: 0, failed: 0, tokensRemoved: 0, uploadsAborted: 0 });
    await clock.advance(preparingMaxAgeMs + 1);
    const report = await janitor.runOnce();
    expect(report.abandoned).toBe(1);
    expect(report.freed).toBe(1);
    expect(await shardCount()).toBe(liveShards);
    expect(Buffer.from(await read("live")).equals(Buffer.from(live))).toBe(true);

    // The PUT resumes and finishes its body: its commit is refused and nothing becomes visible.
    release();
    const error = await stuck.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error instanceof FaultError && error.value.fault).toBe("Timeout");
    expect(await service.headObject("b", "stuck")).toBe("no-such-key");
    // What the resumed PUT wrote after the reclaim is freed too.
    await until(async () => (await shardCount()) === liveShards, "the resumed PUT's last stripe to be freed");
    expect(await catalog.listGarbage(10)).toEqual([]);
  });

  test("replaced and deleted versions are freed, live versions never; expired tokens are removed", async () => {
    await service.putBucketVersioning("b", "Enabled");
    const first = seededRandom(seed + 2).bytes(70_000);
    const second = seededRandom(seed + 3).bytes(5_000);
    const v1 = await put("k", first, "token-a");
    await put("k", second);
    const before = await shardCount();
    // Deleting a noncurrent version frees its shards (now in the background, or by the Janitor).
    await service.deleteObject("b", "k", v1.versionId);
    await janitor.runOnce();
    await until(async () => (await catalog.listGarbage(10)).length === 0, "garbage to drain");
    expect(await shardCount()).toBeLessThan(before);
    expect(Buffer.from(await read("k")).equals(Buffer.from(second))).toBe(true);
    const after = await shardCount();
    // Runs with nothing to do change nothing.
    expect(await janitor.runOnce()).toEqual({ abandoned: 0, freed: 0, failed: 0, tokensRemoved: 0, uploadsAborted: 0 });
    expect(await shardCount()).toBe(after);
    await clock.advance(120_001);
    expect((await janitor.runOnce()).tokensRemoved).toBe(1);
    expect(Buffer.from(await read("k")).equals(Buffer.from(second))).toBe(true);
  });

  test("a retried PUT with the same token yields one version, and the retry's shards are freed", async () => {
    await service.putBucketVersioning("b", "Enabled");
    const bytes = seededRandom(seed + 4).bytes(90_000);
    const first = await put("k", bytes, "invocation-1");
    const shardsAfterFirst = await shardCount();
    const retry = await put("k", bytes, "invocation-1");
    expect(retry.versionId).toBe(first.versionId);
    const page = await service.listObjectVersions({ bucket: "b", prefix: "", delimiter: "", keyMarker: "", versionIdMarker: "", maxKeys: 10 });
    expect(page !== "no-such-bucket" && page.entries.length).toBe(1);
    await janitor.runOnce();
    await until(async () => (await shardCount()) === shardsAfterFirst, "the retry's shards to be freed");
    expect(Buffer.from(await read("k")).equals(Buffer.from(bytes))).toBe(true);
  });

  test("garbage that cannot be freed now is counted, kept for the next run, and does not block the rest", async () => {
    // A garbage record on a disk this node does not have, sorting before everything else.
    await catalog.preparePut({ dataId: "0-unreachable", layout: { kind: "single", diskId: "disk-gone", chunkBytes: 1024, chunkCount: 1 }, createdMs: 0 });
    await clock.advance(preparingMaxAgeMs + 1);
    await put("k", seededRandom(seed + 6).bytes(20_000));
    const before = await shardCount();
    await service.deleteObject("b", "k");
    await until(async () => (await catalog.listGarbage(10)).length === 0, "the background free of k");
    const report = await janitor.runOnce();
    expect(report).toEqual({ abandoned: 1, freed: 0, failed: 1, tokensRemoved: 0, uploadsAborted: 0 });
    expect(await shardCount()).toBeLessThan(before);
    // Garbage behind it is freed in the same run.
    await put("j", seededRandom(seed + 7).bytes(20_000));
    await service.deleteObject("b", "j");
    expect((await janitor.runOnce()).failed).toBe(1);
    expect((await catalog.listGarbage(10)).map((data) => data.dataId)).toEqual(["0-unreachable"]);
  });

  test("the schedule runs on the host clock until stopped", async () => {
    janitor.start();
    await until(async () => janitor.runCount === 1 && clock.sleeperCount() > 0, "the first run");
    await clock.advance(intervalMs);
    await until(async () => janitor.runCount === 2, "the second run");
    await janitor.stop();
    await clock.advance(intervalMs * 3);
    expect(janitor.runCount).toBe(2);
  });
});
