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
import { encodePartRecord, multipartPartKey, ObjectCatalog, openLmdbStore, type MetaStore } from "./metadata/index.ts";
import { ObjectService } from "./object-service.ts";
import { actingSet, type ClusterMap } from "./placement/index.ts";
import { readObjectBytes } from "./repair/repair-world.ts";

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
const multipartUploadMaxAgeMs = 600_000;

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
    multipartUploadMaxAgeMs,
    partBytesMin: 1,
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

function read(key: string): Promise<Buffer> {
  return readObjectBytes(service, "b", key);
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

describe("janitor and multipart uploads", () => {
  async function upload(key: string): Promise<string> {
    const created = await service.createMultipartUpload({ bucket: "b", key, headers: {}, userMetadata: {}, storageClass: "STANDARD" });
    if (created === "no-such-bucket") throw new Error(created);
    return created.uploadId;
  }

  async function part(key: string, uploadId: string, partNumber: number, bytes: Uint8Array): Promise<string> {
    const stored = await service.uploadPart({ bucket: "b", key, uploadId, partNumber, body: chunked(bytes) });
    if (typeof stored === "string") throw new Error(stored);
    return stored.etag;
  }

  test("an aborted upload and one left past its age lose every part's shards; a late part is refused and freed", async () => {
    const baseline = await shardCount();
    const first = await upload("aborted");
    // One replicated part (3 copies) and one coded part (stripes of 4 + 2).
    await part("aborted", first, 1, seededRandom(seed + 10).bytes(1_000));
    await part("aborted", first, 2, seededRandom(seed + 11).bytes(100_000));
    expect(await shardCount()).toBeGreaterThan(baseline);
    expect(await service.abortMultipartUpload("b", "aborted", first)).toBe("aborted");
    expect(await service.uploadPart({ bucket: "b", key: "aborted", uploadId: first, partNumber: 3, body: chunked(new Uint8Array(10)) })).toBe("no-such-upload");
    await janitor.runOnce();
    // The late part's shards are freed by the refused UploadPart itself, in the background.
    await until(async () => (await shardCount()) === baseline, "every shard of the aborted upload freed");

    const stale = await upload("stale");
    await part("stale", stale, 1, seededRandom(seed + 12).bytes(70_000));
    expect((await janitor.runOnce()).uploadsAborted).toBe(0);
    await clock.advance(multipartUploadMaxAgeMs + 1);
    expect((await janitor.runOnce()).uploadsAborted).toBe(1);
    expect(await shardCount()).toBe(baseline);
    expect(await service.listParts("b", "stale", stale, 0, 10)).toBe("no-such-upload");
  });

  test("a completion frees the parts it leaves out; deleting the object frees the rest", async () => {
    const baseline = await shardCount();
    const uploadId = await upload("done");
    const bytes = [seededRandom(seed + 20).bytes(90_000), seededRandom(seed + 21).bytes(90_000), seededRandom(seed + 22).bytes(5_000)];
    const etags = [];
    for (const [index, body] of bytes.entries()) etags.push(await part("done", uploadId, index + 1, body));
    const withAll = await shardCount();
    const completed = await service.completeMultipartUpload({
      bucket: "b",
      key: "done",
      uploadId,
      parts: [
        { partNumber: 1, etag: etags[0]! },
        { partNumber: 3, etag: etags[2]! },
      ],
    });
    if (typeof completed === "string" || "refused" in completed) throw new Error(JSON.stringify(completed));
    expect(completed.sizeBytes).toBe(95_000);
    expect(await read("done")).toEqual(Buffer.concat([bytes[0]!, bytes[2]!]));
    await janitor.runOnce();
    const coded = 6 * Math.ceil(90_000 / (4 * 16 * 1024));
    expect(await shardCount()).toBe(withAll - coded);
    await service.deleteObject("b", "done");
    await janitor.runOnce();
    expect(await shardCount()).toBe(baseline);
  });

  test("a 10,000-part completion stays inside the store's transaction limits (enforced as on FoundationDB)", async () => {
    const uploadId = await upload("many");
    // The part records are written directly (their data is not needed to complete): 10,000 real
    // UploadParts would only repeat what the other tests show, slowly.
    const etag = "0123456789abcdef0123456789abcdef";
    for (let first = 1; first <= 10_000; first += 1_000) {
      await store.transact(async (tx) => {
        for (let partNumber = first; partNumber < first + 1_000; partNumber += 1) {
          tx.set(
            multipartPartKey("b", uploadId, partNumber),
            encodePartRecord({
              partNumber,
              dataId: `fake-${partNumber}`,
              layout: { kind: "replicated", placementGroupId: 0, copies: 3, chunkBytes: 8 * 1024, chunkCount: 1 },
              sizeBytes: 10,
              etag,
              lastModifiedMs: 0,
            }),
          );
        }
      });
    }
    // Every part but the first ten: ten become garbage in the completion.
    const parts = Array.from({ length: 9_990 }, (_, index) => ({ partNumber: index + 11, etag }));
    const completed = await service.completeMultipartUpload({ bucket: "b", key: "many", uploadId, parts });
    if (typeof completed === "string" || "refused" in completed) throw new Error(JSON.stringify(completed));
    expect(completed.sizeBytes).toBe(99_900);
    expect(completed.etag).toMatch(/-9990$/);
    expect(await service.listParts("b", "many", uploadId, 0, 1)).toBe("no-such-upload");
    const garbage = await catalog.listGarbage(100);
    expect(garbage.filter((data) => data.dataId.startsWith("fake-")).map((data) => data.dataId).sort()).toEqual(
      Array.from({ length: 10 }, (_, index) => `fake-${index + 1}`).sort(),
    );
  });
});
