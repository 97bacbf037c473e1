/**
 * `bucket.stats` in process: the operator endpoint on one nact host over an
 * in-memory store, asked by the command through a stand-in session. The
 * bucket holds versions, delete markers, a record older than versioning and
 * open multipart uploads; the endpoint counts 3 records a page, so the count
 * crosses every section boundary in several pages. Numbers must be exact.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { operatorActorPath } from "../../actors/operator/index.ts";
import { actorRef, createNactHost, isFault, randomSeed, seededRandom, systemClock, type Host } from "../../runtime/index.ts";
import type { Fleet } from "../fleet/fleet-file.ts";
import type { FleetMap } from "../membership/index.ts";
import {
  encodePartRecord,
  encodeRecord,
  MultipartCatalog,
  multipartPartKey,
  objectKey,
  ObjectCatalog,
  openMemoryStore,
  versionSuffixFrom,
  versionSuffixLength,
  type MetaStore,
  type ObjectRecord,
} from "../metadata/index.ts";
import { spanFraction } from "./bucket-stats-scan.ts";
import { bucketStats, countBucket, type BucketCountProgress } from "./commands/bucket.stats.ts";
import { startOperatorEndpoint, type OperatorEndpoint } from "./operator-endpoint.ts";
import { ReplError, type ReplSession } from "./session.ts";

const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`bucket-stats.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test cluster/repl/bucket-stats.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();
const askTimeoutMs = 2_000;

let host: Host;
let store: MetaStore;
let endpoint: OperatorEndpoint;
let nowMs = 1_000;
let dataCounter = 0;

const map = {
  epoch: 9,
  managerTerm: 1,
  nodes: [
    { nodeId: "n1", incarnation: 3, state: "up" },
    { nodeId: "n2", incarnation: 1, state: "down" },
  ],
  placementGroups: [],
  partitions: [
    { bucket: "stats", partition: 1, nodeId: "n2", epoch: 5 },
    { bucket: "stats", partition: 0, nodeId: "n1", epoch: 4 },
    { bucket: "other", partition: 0, nodeId: "n1", epoch: 2 },
  ],
} as unknown as FleetMap;

/** A session over the in-process host: what the command uses of one. */
function session(): ReplSession {
  return {
    host,
    clock,
    fleet: {} as Fleet,
    entryNodeId: "n1",
    map: async () => map,
    lastMap: () => map,
    refOn: (_map, nodeId, path) => actorRef(nodeId, nodeId === "n1" ? 3 : 1, path),
    async ask(to, build, what) {
      const reply = await host.ask(to, build, askTimeoutMs);
      if (isFault(reply)) throw new ReplError(`${what}: ${reply.fault} (${reply.detail})`);
      return reply;
    },
    tryAsk: (to, build) => host.ask(to, build, askTimeoutMs),
    memory: new Map(),
    close: async () => undefined,
  };
}

function recordOf(bucket: string, key: string, sizeBytes: number): Omit<ObjectRecord, "versionId"> {
  dataCounter += 1;
  return {
    bucket,
    key,
    sizeBytes,
    etag: `etag-${dataCounter}`,
    lastModifiedMs: nowMs,
    storageClass: "STANDARD",
    headers: {},
    userMetadata: {},
    dataId: `d${dataCounter}`,
    layout: { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1024, chunkCount: 1 },
  };
}

async function put(catalog: ObjectCatalog, bucket: string, key: string, sizeBytes: number): Promise<void> {
  nowMs += 10;
  const record = recordOf(bucket, key, sizeBytes);
  await catalog.preparePut({ dataId: record.dataId, layout: record.layout, createdMs: nowMs });
  const outcome = await catalog.commitPut({ record, versionSuffix: versionSuffixFrom(random.bytes(versionSuffixLength)), tokenLifetimeMs: 60_000, nowMs });
  if (typeof outcome === "string") throw new Error(outcome);
}

async function remove(catalog: ObjectCatalog, bucket: string, key: string): Promise<void> {
  nowMs += 10;
  const outcome = await catalog.deleteObject(bucket, key, { nowMs, versionSuffix: versionSuffixFrom(random.bytes(versionSuffixLength)) });
  if (outcome === "no-such-bucket") throw new Error(outcome);
}

beforeAll(async () => {
  host = createNactHost({ nodeId: "n1", incarnation: 3, random: random.fork("host"), log: () => undefined });
  store = openMemoryStore();
  const catalog = new ObjectCatalog(store);
  const uploads = new MultipartCatalog(store, clock.monotonicMs);
  await catalog.createBucket("stats", nowMs, 2);
  await catalog.createBucket("other", nowMs, 1);
  await catalog.createBucket("empty", nowMs, 1);
  // A record written before versioning: in ("o") only, at format version 2.
  const { versionId: _none, ...legacy } = { ...recordOf("stats", "legacy", 11), versionId: "null" };
  await store.transact(async (tx) => {
    tx.set(objectKey("stats", "legacy"), encodeRecord("object", 2, legacy));
  });
  // Unversioned first: the null version of "c".
  await put(catalog, "stats", "c", 7);
  expect(await catalog.putBucketVersioning("stats", "Enabled")).toBe("ok");
  for (const size of [10, 20, 30]) await put(catalog, "stats", "a", size); // 3 versions, current 30
  await put(catalog, "stats", "b", 5);
  await remove(catalog, "stats", "b"); // a delete marker is current: no object
  await put(catalog, "stats", "d", 1);
  await remove(catalog, "stats", "d");
  await put(catalog, "stats", "d", 2); // versions 1 and 2, a marker between
  // Another bucket's records must not be counted.
  await put(catalog, "other", "a", 1_000);
  // Two open uploads: one with parts 100 and 200 bytes, one with none; and one in the other bucket.
  for (const [bucket, key, uploadId, parts] of [
    ["stats", "m", "up-1", [100, 200]],
    ["stats", "n", "up-2", []],
    ["other", "m", "up-3", [50]],
  ] as const) {
    expect(await uploads.createUpload({ bucket, key, uploadId, initiatedMs: nowMs, storageClass: "STANDARD", headers: {}, userMetadata: {}, state: "open" })).toBe("ok");
    for (const [index, sizeBytes] of parts.entries()) {
      const dataId = `${uploadId}-part-${index + 1}`;
      const layout = { kind: "replicated" as const, placementGroupId: 2, copies: 3, chunkBytes: 1024, chunkCount: 1 };
      await catalog.preparePut({ dataId, layout, createdMs: nowMs });
      const committed = await uploads.commitPart(bucket, key, uploadId, { partNumber: index + 1, dataId, layout, sizeBytes, etag: "e", lastModifiedMs: nowMs }, nowMs);
      expect(typeof committed === "string" ? committed : "committed").toBe("committed");
    }
  }
  // A completed upload's parts stay under ("up") for the object they became; without its ("u") record they are not counted.
  await store.transact(async (tx) => {
    const layout = { kind: "replicated" as const, placementGroupId: 2, copies: 3, chunkBytes: 1024, chunkCount: 1 };
    tx.set(multipartPartKey("stats", "done-upload", 1), encodePartRecord({ partNumber: 1, dataId: "done", layout, sizeBytes: 9, etag: "e", lastModifiedMs: 0 }));
  });
  endpoint = await startOperatorEndpoint({
    host,
    store,
    actingSetWidth: 1,
    localActors: () => [],
    restartUnit: async () => undefined,
    scrubDisk: async () => ({ checked: 0, bytesChecked: 0, corrupt: 0, reported: 0, unplaced: 0 }),
    sweepPlacementGroup: async () => undefined,
    healProgress: () => ({ healed: 0, bytesWritten: 0, deferred: 0, bytesPerSecondMax: 0 }),
    keeperIntervalMs: 60_000,
    bucketStatsItemsPerPageMax: 3,
    log: () => undefined,
  });
});

afterAll(async () => {
  await endpoint?.stop();
  await host?.shutdown();
  await store?.close();
});

describe("bucket.stats", () => {
  test("exact counts over pages of 3 records: objects, versions, delete markers, bytes, open uploads and their parts; partitions from the map", async () => {
    const output = await bucketStats.run(session(), ["stats"]);
    const json = output.json as Record<string, unknown>;
    expect(json).toMatchObject({
      bucket: "stats",
      versioning: "Enabled",
      partitionCount: 2,
      // a (30), c (7), d (2), legacy (11)
      objects: 4,
      objectBytes: 50,
      // a 10+20+30, b 5, c 7, d 1+2, legacy 11
      versions: 8,
      versionBytes: 86,
      deleteMarkers: 2,
      uploads: 2,
      uploadParts: 2,
      uploadPartBytes: 300,
      unassigned: [],
      mapEpoch: 9,
    });
    // Records: 4 current (legacy included) + 9 versions (7 with data, 2 markers; legacy has none) + 2 uploads + 2 parts.
    expect(json["records"]).toBe(17);
    // 3 items a page, an upload and its parts being one item: 4 + 9 + 2 = 15 items → 5 pages.
    expect(json["pages"]).toBe(5);
    expect(json["partitions"]).toEqual([
      { partition: 0, nodeId: "n1", epoch: 4, path: "buckets/stats/0", nodeState: "up" },
      { partition: 1, nodeId: "n2", epoch: 5, path: "buckets/stats/1", nodeState: "down" },
    ]);
    expect(output.text).toContain("bucket stats: versioning Enabled, 2 partitions");
    expect(output.text).toMatch(/objects \(current versions\)\s+4\s+50/);
    expect(output.text).toMatch(/buckets\/stats\/1/);
  });

  test("progress grows page by page and ends at 1; an empty bucket is one page of zeros", async () => {
    const seen: BucketCountProgress[] = [];
    const count = await countBucket(session(), map, "stats", (progress) => seen.push({ ...progress, counts: { ...progress.counts } }));
    expect(seen.length).toBe(count.pages);
    for (let index = 1; index < seen.length; index += 1) {
      expect(seen[index]!.progress).toBeGreaterThanOrEqual(seen[index - 1]!.progress);
      expect(seen[index]!.records).toBeGreaterThan(seen[index - 1]!.records);
    }
    expect(seen.at(-1)!.progress).toBe(1);
    expect(seen[0]!.progress).toBeLessThan(1);
    const empty = await countBucket(session(), map, "empty");
    expect(empty).toMatchObject({ pages: 1, records: 0, counts: { objects: 0, versions: 0, deleteMarkers: 0, uploads: 0 } });
    const other = await countBucket(session(), map, "other");
    expect(other.counts).toMatchObject({ objects: 1, objectBytes: 1_000, versions: 1, uploads: 1, uploadParts: 1, uploadPartBytes: 50 });
  });

  test("a bucket that does not exist is a ReplError naming it", async () => {
    await expect(bucketStats.run(session(), ["missing"])).rejects.toThrow("no bucket missing");
    await expect(bucketStats.run(session(), [])).rejects.toThrow("usage: bucket.stats NAME");
  });

  test("the operator answers a page with a cursor that the next ask resumes from", async () => {
    const first = await host.ask(actorRef("n1", 3, operatorActorPath), (replyTo) => ({ kind: "BucketStats", bucket: "stats", replyTo }), askTimeoutMs);
    expect(isFault(first)).toBe(false);
    expect(first).toMatchObject({ kind: "BucketStatsReply", outcome: "counted", records: 3, cursor: { section: "objects" } });
  });

  test("spanFraction: a key's place between the first and last keys, past their shared prefix", () => {
    const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
    expect(spanFraction(bytes("pa"), bytes("pz"), bytes("pa"))).toBe(0);
    expect(spanFraction(bytes("pa"), bytes("pz"), bytes("pz"))).toBe(1);
    const middle = spanFraction(bytes("pa"), bytes("pz"), bytes("pm"));
    expect(middle).toBeGreaterThan(0.4);
    expect(middle).toBeLessThan(0.6);
    expect(spanFraction(bytes("same"), bytes("same"), bytes("same"))).toBe(0);
  });
});
