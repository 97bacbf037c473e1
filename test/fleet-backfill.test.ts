/**
 * Backfill in a real fleet: a fifth node joins a running 4-node fleet while
 * clients read. The map's placement gains the node's disks; every PG whose
 * acting set changes is told, copies the shards of the changed positions
 * onto the new disks from their former disks, then deletes the former
 * copies. Shown: no read fails meanwhile; positions change only onto the new
 * node's disks (straw2 with carried pins); every PG records its new set as
 * complete; the new disks hold shards, and the fleet as many shards as
 * before (the former copies are gone). The readers read strictly, with no
 * client retry (`maxAttempts: 1`): a partition or PG actor moving to the new
 * node must not leave a request unanswered (a stopped actor's host answers
 * the asks it drops, the partition answers what waited `Fenced`, and the
 * gateway follows the move), so every read during the join succeeds.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fleetActingSetWidth } from "../cluster/fleet/fleet-node.ts";
import { readFleetFile } from "../cluster/fleet/fleet-file.ts";
import { decodeRecordOf, placementGroupCompleteKey, placementGroupHealRange } from "../cluster/metadata/index.ts";
import { actingSet } from "../cluster/placement/index.ts";
import { systemClock } from "../runtime/index.ts";
import { bodyOf, freePort, md5, startFleet, type TestFleet } from "./support/fleet.ts";
import { repositoryRoot, testAccessKeyId, testSecretAccessKey } from "./support/server.ts";

const clock = systemClock();
let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startFleet({
    nodeIds: ["b1", "b2", "b3", "b4"],
    disksPerNode: 2,
    placementGroupCount: 16,
    storageClasses: "STANDARD=3+2",
    repair: { healIntervalMs: 300, scrubIntervalMs: 3_600_000 },
  });
});
afterAll(async () => {
  await fleet?.dispose();
});

async function diskShards(endpoint: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${endpoint}/_cairn/metrics`)).text();
  const shards = new Map<string, number>();
  for (const match of text.matchAll(/^cairn_disk_shards\{disk="([^"]+)"\} ([0-9.e+]+)$/gm)) shards.set(match[1]!, Number(match[2]));
  return shards;
}

test("a node added under load: no failed reads, shards move only onto its disks, former copies are deleted", async () => {
  const s3 = fleet.clients.get("b1")!;
  await s3.send(new CreateBucketCommand({ Bucket: "grow" }));
  const keys = Array.from({ length: 40 }, (_, index) => `obj-${index}`);
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: "grow", Key: key, Body: bodyOf(key, 200_000 + keys.indexOf(key)) }));
  const endpointOf = (s3Port: number): string => `http://127.0.0.1:${s3Port}`;
  const fleetFile = (): { nodes: { id: string; s3Port: number }[] } => JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: { id: string; s3Port: number }[] };
  const totalShards = async (): Promise<number> => {
    let total = 0;
    for (const node of fleetFile().nodes) for (const count of (await diskShards(endpointOf(node.s3Port))).values()) total += count;
    return total;
  };
  const shardsBefore = await totalShards();
  const before = await fleet.currentMap();
  const width = fleetActingSetWidth(readFleetFile(fleet.fleetPath));
  const setsBefore = before.placementGroups.map((entry) => actingSet(entry.placementGroupId, before.placement, width));

  // Readers through every gateway for the whole join and backfill, without client retries: what a
  // client sees fail is counted and printed (a read the SDK would have had to retry counts as failed).
  let reading = true;
  let reads = 0;
  const failures: string[] = [];
  const readerClients = fleetFile().nodes.map(
    (node) =>
      new S3Client({
        endpoint: endpointOf(node.s3Port),
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: testAccessKeyId, secretAccessKey: testSecretAccessKey },
        maxAttempts: 1,
      }),
  );
  const readers = readerClients.map(async (client, index) => {
    while (reading) {
      const key = keys[(reads + index * 7) % keys.length]!;
      try {
        const reply = await client.send(new GetObjectCommand({ Bucket: "grow", Key: key }));
        const bytes = await reply.Body!.transformToByteArray();
        if (md5(bytes) !== md5(bodyOf(key, 200_000 + keys.indexOf(key)))) failures.push(`${key}: wrong bytes`);
      } catch (error) {
        failures.push(`${key}: ${(error as Error).name}`);
      }
      reads += 1;
    }
  });

  // The fifth node: added to the fleet file and started with `fleet up` (the others keep running).
  const file = JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: unknown[] };
  file.nodes.push({ id: "b5", roles: ["storage", "gateway"], address: "127.0.0.1", clusterPort: await freePort(), s3Port: await freePort(), disks: ["b5/d0", "b5/d1"] });
  writeFileSync(fleet.fleetPath, JSON.stringify(file));
  const up = Bun.spawnSync([join(repositoryRoot, "bin/cairn"), "fleet", "up", fleet.fleetPath], {
    cwd: repositoryRoot,
    env: { ...process.env, CAIRN_ACCESS_KEY: testAccessKeyId, CAIRN_SECRET_KEY: testSecretAccessKey },
  });
  expect(up.exitCode).toBe(0);
  const grown = await fleet.waitForMap("b5 up with its disks placed", (map) =>
    map.nodes.some((node) => node.nodeId === "b5" && node.state === "up") && map.placement.hosts.some((host) => host.hostId === "b5"),
  );
  const setsAfter = grown.placementGroups.map((entry) => actingSet(entry.placementGroupId, grown.placement, width));
  let moved = 0;
  setsAfter.forEach((set, placementGroupId) =>
    set.forEach((diskId, position) => {
      if (diskId === setsBefore[placementGroupId]![position]) return;
      moved += 1;
      // Pins carried: a position changes only onto the new node's disks.
      expect(diskId.startsWith("b5/")).toBe(true);
    }),
  );
  expect(moved).toBeGreaterThan(0);

  // Backfill done: every PG has recorded the map's acting set as complete and has nothing left to heal.
  const deadline = clock.monotonicMs() + 90_000;
  for (;;) {
    const map = await fleet.currentMap();
    const sets = map.placementGroups.map((entry) => actingSet(entry.placementGroupId, map.placement, width));
    const state = await fleet.store.transact(async (tx) => {
      let complete = 0;
      let damaged = 0;
      for (let id = 0; id < sets.length; id += 1) {
        const bytes = await tx.get(placementGroupCompleteKey(id));
        const recorded = bytes === undefined ? null : (decodeRecordOf("placementGroupComplete", bytes).value as { diskIds: string[] }).diskIds;
        if (recorded !== null && recorded.join(",") === sets[id]!.join(",")) complete += 1;
        const range = placementGroupHealRange(id);
        damaged += (await tx.getRange(range.begin, range.end, { limit: 1000 })).length;
      }
      return { complete, damaged };
    });
    if (state.complete === sets.length && state.damaged === 0) break;
    if (clock.monotonicMs() > deadline) throw new Error(`backfill not done: ${state.complete} of ${sets.length} PGs complete, ${state.damaged} shards to heal`);
    await clock.sleep(250);
  }
  reading = false;
  await Promise.all(readers);
  for (const client of readerClients) client.destroy();
  console.log(`fleet backfill: ${moved} positions moved onto b5; ${reads} reads during the join (no client retries), ${failures.length} failed${failures.length === 0 ? "" : `: ${failures.join("; ")}`}`);
  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(0);

  // Moved, not copied: once the former copies are deleted the fleet holds as many shards as before.
  const perDisk = new Map<string, number>();
  for (const node of fleetFile().nodes) for (const [disk, count] of await diskShards(endpointOf(node.s3Port))) perDisk.set(disk, count);
  console.log(`fleet backfill: shards per disk after: ${JSON.stringify(Object.fromEntries(perDisk))}`);
  expect(await totalShards()).toBe(shardsBefore);
  // The new node's disks hold shards; every object reads back.
  const b5 = new S3Client({ endpoint: `http://127.0.0.1:${(file.nodes.at(-1) as { s3Port: number }).s3Port}`, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: testAccessKeyId, secretAccessKey: testSecretAccessKey } });
  const shards = await diskShards(`http://127.0.0.1:${(file.nodes.at(-1) as { s3Port: number }).s3Port}`);
  expect((shards.get("b5/disk-0") ?? 0) + (shards.get("b5/disk-1") ?? 0)).toBeGreaterThan(0);
  for (const key of keys) {
    const reply = await b5.send(new GetObjectCommand({ Bucket: "grow", Key: key }));
    expect(md5(await reply.Body!.transformToByteArray())).toBe(md5(bodyOf(key, 200_000 + keys.indexOf(key))));
  }
  b5.destroy();
}, 240_000);
