/**
 * A request id follows a request across nodes (issue 8): a real 3-node fleet
 * with CAIRN_LOG_LEVEL=debug; a PUT and a GET through n1's gateway of a key
 * whose bucket partition and placement group both run on other nodes. The
 * request's `x-amz-request-id` (the SDK's `$metadata.requestId`) must name
 * log lines of both other nodes: the partition's commit, the PG's index
 * write, the disks' shard writes and reads. STANDARD is 2+1 over three
 * nodes, one shard per node; the key is also one whose two data shards (the
 * ones a GET reads) sit on the other two nodes, so the GET reaches both.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bucketPartitionOf } from "../actors/bucket-partition/index.ts";
import { actingSet, placementGroupOf } from "../cluster/placement/index.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import { bodyOf, md5, startFleet, type TestFleet } from "./support/fleet.ts";

const seed = process.env.CAIRN_SEED === undefined ? randomSeed() : Number(process.env.CAIRN_SEED);
console.log(`fleet-request-id: seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/fleet-request-id.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();
const nodeIds = ["n1", "n2", "n3"];
const placementGroupCount = 16;
const partitionCount = 4;
const dataShards = 2;
const actingSetWidth = 3;
const gateway = "n1";

let fleet: TestFleet;

beforeAll(async () => {
  // The nodes inherit the environment of `fleet up`; only this fleet logs at debug.
  const previous = process.env.CAIRN_LOG_LEVEL;
  process.env.CAIRN_LOG_LEVEL = "debug";
  try {
    fleet = await startFleet({ nodeIds, disksPerNode: 2, placementGroupCount, storageClasses: "STANDARD=2+1" });
  } finally {
    if (previous === undefined) delete process.env.CAIRN_LOG_LEVEL;
    else process.env.CAIRN_LOG_LEVEL = previous;
  }
}, 180_000);

afterAll(async () => {
  await fleet?.dispose();
}, 120_000);

/** Every JSON line of a node's log (its stdout and stderr) that names `requestId`. */
function linesNaming(nodeId: string, requestId: string): Record<string, unknown>[] {
  const text = readFileSync(join(fleet.directory, "state", "run", `${nodeId}.log`), "utf8");
  const lines: Record<string, unknown>[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.includes(requestId) || !raw.startsWith("{")) continue;
    const line = JSON.parse(raw) as Record<string, unknown>;
    if (line["requestId"] === requestId) lines.push(line);
  }
  return lines;
}

/** Polls until `condition` holds over the nodes' logs (a line is written as its work happens, possibly after the reply), bounded. */
async function waitForLogs(label: string, condition: () => boolean, boundMs = 10_000): Promise<void> {
  const deadline = clock.monotonicMs() + boundMs;
  while (!condition()) {
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: not seen in the logs within ${boundMs} ms`);
    await clock.sleep(50);
  }
}

test("a PUT's and a GET's x-amz-request-id name log lines on both other nodes", async () => {
  const bucket = "traced";
  const client = fleet.clients.get(gateway)!;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const map = await fleet.currentMap();
  const partitionOwner = (key: string): string | undefined =>
    map.partitions.find((entry) => entry.bucket === bucket && entry.partition === bucketPartitionOf(key, partitionCount))?.nodeId;
  const placementGroupOwner = (key: string): string | undefined =>
    map.placementGroups.find((entry) => entry.placementGroupId === placementGroupOf(bucket, key, placementGroupCount))?.nodeId;
  const nodeOfDisk = new Map(map.placement.hosts.flatMap((host) => host.disks.map((disk) => [disk.diskId, host.hostId] as const)));
  const dataShardNodes = (key: string): string[] =>
    actingSet(placementGroupOf(bucket, key, placementGroupCount), map.placement, actingSetWidth)
      .slice(0, dataShards)
      .map((diskId) => nodeOfDisk.get(diskId) ?? "?");
  // A key whose partition, PG and data shards all live away from the gateway (drawn from the seed).
  let key: string | undefined;
  for (let attempt = 0; attempt < 1_000 && key === undefined; attempt += 1) {
    const candidate = `traced-${random.integer(1_000_000)}`;
    const away = [partitionOwner(candidate), placementGroupOwner(candidate), ...dataShardNodes(candidate)];
    if (away.every((nodeId) => nodeId !== undefined && nodeId !== gateway && nodeIds.includes(nodeId))) key = candidate;
  }
  if (key === undefined) throw new Error("no key whose partition, PG and data shards all live away from n1");
  console.log(
    `fleet-request-id: key ${key}: partition on ${partitionOwner(key)}, PG ${placementGroupOf(bucket, key, placementGroupCount)} on ${placementGroupOwner(key)}, ` +
      `data shards on ${dataShardNodes(key).join(" and ")}`,
  );

  const body = bodyOf(key, 300_000);
  const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const get = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  expect(md5(await get.Body!.transformToByteArray())).toBe(md5(body));
  const putId = put.$metadata.requestId!;
  const getId = get.$metadata.requestId!;
  expect(putId).toMatch(/^[0-9A-F]{16}$/);
  expect(getId).toMatch(/^[0-9A-F]{16}$/);
  const others = nodeIds.filter((id) => id !== gateway);

  await waitForLogs(`PUT ${putId} on ${others.join(" and ")}`, () => others.every((id) => linesNaming(id, putId).length > 0));
  await waitForLogs(`GET ${getId} on ${others.join(" and ")}`, () => others.every((id) => linesNaming(id, getId).length > 0));
  const events = (nodeId: string, requestId: string): string[] => [...new Set(linesNaming(nodeId, requestId).map((line) => `${line["actor"]}:${line["event"]}`))].sort();
  for (const id of others) console.log(`fleet-request-id: ${id}: PUT ${putId}: ${events(id, putId).join(", ")}; GET ${getId}: ${events(id, getId).join(", ")}`);

  // The partition owner committed it under the PUT's id; the PG owner indexed its data under it.
  const partitionLines = linesNaming(partitionOwner(key)!, putId);
  expect(partitionLines.some((line) => line["event"] === "commit-requested" && line["key"] === key)).toBe(true);
  expect(partitionLines.some((line) => line["event"] === "commit-done" && line["key"] === key && line["outcome"] === "committed")).toBe(true);
  expect(linesNaming(placementGroupOwner(key)!, putId).some((line) => line["event"] === "pg-index-write-done")).toBe(true);
  // The GET looked the key up at its partition, from the cache or the store.
  expect(
    linesNaming(partitionOwner(key)!, getId).some((line) => line["event"] === "head-cached" || (line["event"] === "bp-operation-done" && line["kind"] === "HeadObject")),
  ).toBe(true);
  // Disks on both other nodes stored shards for the PUT and served shards for the GET.
  for (const id of others) {
    expect(linesNaming(id, putId).some((line) => line["event"] === "shard-append")).toBe(true);
    expect(linesNaming(id, getId).some((line) => line["event"] === "shard-read")).toBe(true);
    for (const line of [...linesNaming(id, putId), ...linesNaming(id, getId)]) {
      expect(line["node"]).toBe(id);
      expect(typeof line["time"]).toBe("string");
      expect(typeof line["actor"]).toBe("string");
    }
  }
}, 120_000);
