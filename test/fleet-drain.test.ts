/**
 * Marking disks out, in again, and draining a dead node, in a real 5-node
 * fleet, driven through `cairn repl --exec` as an operator would:
 * - `disk.out` of a live disk: the map marks it out, positions move only
 *   off it, the PGs backfill (copying from it), it ends holding no shard,
 *   and every object reads back;
 * - `disk.in`: it takes positions back and holds shards again;
 * - `node.drain` of a node that was SIGKILLed: its disks go out, its PGs
 *   and partitions move, the shards it held are rebuilt from the others,
 *   every PG is clean and every object reads back while it stays dead;
 * - that node started again: its out disks hold copies no PG reads any
 *   more, and the orphan sweep (every second here, so it also runs through
 *   every move above) deletes them all while every object reads back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fleetActingSetWidth } from "../cluster/fleet/fleet-node.ts";
import { readFleetFile } from "../cluster/fleet/fleet-file.ts";
import { actingSet } from "../cluster/placement/index.ts";
import type { FleetMap } from "../cluster/membership/index.ts";
import { systemClock } from "../runtime/index.ts";
import { bodyOf, md5, startFleet, type TestFleet } from "./support/fleet.ts";

const clock = systemClock();
const bucket = "drain";
/** Generous: a backfill of this data set takes seconds; CI's machine may be loaded. */
const moveBoundMs = 60_000;
let fleet: TestFleet;
let width: number;
const objects = new Map<string, number>();

beforeAll(async () => {
  fleet = await startFleet({
    nodeIds: ["d1", "d2", "d3", "d4", "d5"],
    disksPerNode: 2,
    placementGroupCount: 16,
    storageClasses: "STANDARD=3+2",
    repair: { healIntervalMs: 300, scrubIntervalMs: 3_600_000, orphanSweepIntervalMs: 1_000 },
  });
  width = fleetActingSetWidth(readFleetFile(fleet.fleetPath));
  const s3 = fleet.clients.get("d1")!;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Coded objects (over the replication bound) and small replicated ones.
  for (let index = 0; index < 24; index += 1) {
    const key = `object-${index}`;
    const size = index % 3 === 0 ? 700 + index : 150_000 + index * 1_000;
    objects.set(key, size);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, size) }));
  }
}, 120_000);

afterAll(async () => {
  await fleet?.dispose();
});

function replJson<T>(script: string): T {
  const result = fleet.cairn("repl", "--fleet", fleet.fleetPath, "--exec", script, "--json");
  if (result.code !== 0) throw new Error(`repl --exec '${script}' exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout.trim()) as T;
}

interface BackfillJson {
  done: boolean;
  backfilling: { placementGroupId: number }[];
  outDisks: { diskId: string; shardCount?: number }[];
  draining: { nodeId: string; placementGroups: number; partitions: number }[];
  unreachableOut: string[];
}

interface PlacementGroupJson {
  placementGroupId: number;
  state: string;
  actingSet: string[] | null;
  fault: unknown;
}

/**
 * Polls `backfill.status` and `pg.list` (the operator's view) until nothing moves and every PG is
 * clean on the map's acting set (a PG told of the new set late would otherwise look done).
 */
async function waitUntilMoved(label: string): Promise<BackfillJson> {
  const deadline = clock.monotonicMs() + moveBoundMs;
  for (;;) {
    const map = await fleet.currentMap();
    const sets = setsOf(map);
    const status = replJson<BackfillJson>("backfill.status");
    const pgs = replJson<PlacementGroupJson[]>("pg.list");
    const settled = pgs.every((pg) => pg.state === "clean" && pg.actingSet?.join(",") === sets[pg.placementGroupId]!.join(","));
    if (status.done && settled) return status;
    if (clock.monotonicMs() > deadline) throw new Error(`${label}: still moving after ${moveBoundMs} ms: ${JSON.stringify(status)} ${JSON.stringify(pgs.filter((pg) => pg.state !== "clean"))}`);
    await clock.sleep(500);
  }
}

async function shardsOf(diskId: string): Promise<number> {
  const rows = replJson<{ diskId: string; shardCount?: number }[]>("disk.list");
  const row = rows.find((entry) => entry.diskId === diskId);
  if (row?.shardCount === undefined) throw new Error(`disk.list has no shard count for ${diskId}: ${JSON.stringify(row)}`);
  return row.shardCount;
}

async function expectEveryObjectReads(through: string): Promise<void> {
  const s3 = fleet.clients.get(through)!;
  for (const [key, size] of objects) {
    const reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(md5(await reply.Body!.transformToByteArray())).toBe(md5(bodyOf(key, size)));
  }
}

function setsOf(map: FleetMap): string[][] {
  return map.placementGroups.map((entry) => actingSet(entry.placementGroupId, map.placement, width));
}

/** `cairn_placement_groups` by state, summed over the nodes that are up (each reports the PGs it hosts). */
async function placementGroupStatesScraped(): Promise<Map<string, number>> {
  const map = await fleet.currentMap();
  const up = new Set(map.nodes.filter((node) => node.state === "up").map((node) => node.nodeId));
  const nodes = (JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: { id: string; s3Port: number }[] }).nodes.filter((node) => up.has(node.id));
  const states = new Map<string, number>();
  for (const node of nodes) {
    const text = await (await fetch(`http://127.0.0.1:${node.s3Port}/_cairn/metrics`)).text();
    for (const match of text.matchAll(/^cairn_placement_groups\{state="([a-z]+)"\} ([0-9]+)$/gm)) states.set(match[1]!, (states.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return states;
}

const diskStateOf = (map: FleetMap, diskId: string): string | undefined => map.placement.hosts.flatMap((host) => host.disks).find((disk) => disk.diskId === diskId)?.state;

test("disk.out is refused without --apply; with it the disk leaves every acting set, its shards move off it, and every object reads back", async () => {
  const refused = fleet.cairn("repl", "--fleet", fleet.fleetPath, "--exec", "disk.out d2/disk-0");
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("runs only with --apply");

  const target = "d2/disk-0";
  const shardsBefore = await shardsOf(target);
  expect(shardsBefore).toBeGreaterThan(0);
  const before = await fleet.currentMap();
  const setsBefore = setsOf(before);
  const reply = replJson<{ outcome: string; placementGroups: number[] }>(`disk.out ${target} --apply`);
  expect(reply.outcome).toBe("applied");
  expect(reply.placementGroups.length).toBe(setsBefore.filter((set) => set.includes(target)).length);
  expect(reply.placementGroups.length).toBeGreaterThan(0);
  expect(replJson<{ outcome: string }>(`disk.out ${target} --apply`).outcome).toBe("unchanged");

  const marked = await fleet.waitForMap(`${target} out`, (map) => diskStateOf(map, target) === "out");
  setsOf(marked).forEach((set, placementGroupId) => {
    expect(set).not.toContain(target);
    set.forEach((diskId, position) => {
      // Only the positions the out disk held moved.
      if (setsBefore[placementGroupId]![position] !== target) expect(diskId).toBe(setsBefore[placementGroupId]![position]!);
    });
  });
  const moved = await waitUntilMoved("disk.out");
  expect(moved.backfilling).toEqual([]);
  expect(await shardsOf(target)).toBe(0);
  // The nodes' metrics see every PG active on its new acting set (they asked at the assignment's
  // epoch once, and a PG told of a new set fenced them: every moved PG counted "fenced").
  const states = await placementGroupStatesScraped();
  expect(states.get("fenced") ?? 0).toBe(0);
  expect(states.get("active")).toBe(16);
  await expectEveryObjectReads("d3");
}, 240_000);

test("disk.in brings the disk back: it takes positions again and holds shards", async () => {
  const target = "d2/disk-0";
  expect(replJson<{ outcome: string }>(`disk.in ${target} --apply`).outcome).toBe("applied");
  const back = await fleet.waitForMap(`${target} in`, (map) => diskStateOf(map, target) === "in");
  expect(setsOf(back).some((set) => set.includes(target))).toBe(true);
  await waitUntilMoved("disk.in");
  expect(await shardsOf(target)).toBeGreaterThan(0);
  await expectEveryObjectReads("d1");
}, 240_000);

test("node.drain of a dead node: its disks go out, its units move, its shards are rebuilt from the others, every PG is clean", async () => {
  const victim = "d5";
  process.kill(fleet.pidOf(victim), "SIGKILL");
  await fleet.waitForMap(`${victim} down`, (map) => map.nodes.some((node) => node.nodeId === victim && node.state === "down"));
  const reply = replJson<{ outcome: string; placementGroups: number[] }>(`node.drain ${victim} --apply`);
  expect(reply.outcome).toBe("applied");
  expect(reply.placementGroups.length).toBeGreaterThan(0);
  const drained = await fleet.waitForMap(`${victim} draining, no units`, (map) => {
    const node = map.nodes.find((entry) => entry.nodeId === victim);
    const owns = map.placementGroups.some((entry) => entry.nodeId === victim) || map.partitions.some((entry) => entry.nodeId === victim);
    return node?.draining === true && !owns && map.placement.hosts.find((host) => host.hostId === victim)!.disks.every((disk) => disk.state === "out");
  });
  for (const set of setsOf(drained)) expect(set.some((diskId) => diskId.startsWith(`${victim}/`))).toBe(false);
  const moved = await waitUntilMoved("node.drain");
  expect(moved.unreachableOut.sort()).toEqual([`${victim}/disk-0`, `${victim}/disk-1`]);
  const nodes = replJson<{ nodes: { nodeId: string; draining: boolean }[] }>("node.list").nodes;
  expect(nodes.find((node) => node.nodeId === victim)!.draining).toBe(true);
  // Every object whole with the node still dead: the rebuilt shards serve the reads.
  await expectEveryObjectReads("d2");
  expect(JSON.parse(readFileSync(fleet.fleetPath, "utf8")).nodes.length).toBe(5);
}, 240_000);

test("the drained node started again: the orphan sweep deletes the copies its out disks kept, and every object reads back", async () => {
  const victim = "d5";
  const victimDisks = [`${victim}/disk-0`, `${victim}/disk-1`];
  // Nobody could delete the dead node's copies: its volume files still hold them.
  const volumeBytes = (diskId: string): number => {
    const directory = fleet.diskDirectories.get(diskId)!;
    return readdirSync(directory)
      .filter((name) => name.startsWith("data."))
      .reduce((sum, name) => sum + statSync(join(directory, name)).size, 0);
  };
  expect(victimDisks.reduce((sum, diskId) => sum + volumeBytes(diskId), 0)).toBeGreaterThan(0);
  const up = fleet.cairn("fleet", "up", fleet.fleetPath);
  expect(up.code).toBe(0);
  await fleet.waitForMap(`${victim} up again`, (map) => map.nodes.some((node) => node.nodeId === victim && node.state === "up"));
  // Still out (the drain stands), so no PG places anything there: every shard on them is an orphan.
  const deadline = clock.monotonicMs() + moveBoundMs;
  let counts: number[] = [];
  for (;;) {
    counts = [];
    for (const diskId of victimDisks) counts.push(await shardsOf(diskId));
    if (counts.every((count) => count === 0)) break;
    if (clock.monotonicMs() > deadline) throw new Error(`orphans left on ${victimDisks.join(", ")} after ${moveBoundMs} ms: ${counts.join(", ")}`);
    await clock.sleep(500);
  }
  const settled = await waitUntilMoved("after the sweep");
  expect(settled.backfilling).toEqual([]);
  // The node's metrics count what its sweep deleted.
  const s3Port = (JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as { nodes: { id: string; s3Port: number }[] }).nodes.find((node) => node.id === victim)!.s3Port;
  const metrics = await (await fetch(`http://127.0.0.1:${s3Port}/_cairn/metrics`)).text();
  const deleted = /^cairn_orphan_shards_deleted_total ([0-9]+)$/m.exec(metrics);
  expect(deleted).not.toBeNull();
  expect(Number(deleted![1])).toBeGreaterThan(0);
  await expectEveryObjectReads("d1");
}, 240_000);
