/**
 * Repair against real disk and PG actors and the object service on a nact
 * host: a lost shard is rebuilt from the others; bytes flipped in a volume
 * file are never served, are found by the scrubber and rebuilt by the
 * healer; a disk replaced by an empty one is swept and refilled.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage, type ReadShardReply } from "../../actors/disk/index.ts";
import type { PlacementGroupMessage, StatPlacementGroupReply } from "../../actors/placement-group/index.ts";
import type { ObjectInfo } from "../../gateway/index.ts";
import { isFault, randomSeed, seededRandom, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import type { MetaStore } from "../metadata/index.ts";
import { stripeShardKey, chunkShardKey, type ObjectService } from "../object-service.ts";
import { actingSet, placementGroupOf, type ClusterMap } from "../placement/index.ts";
import { Healer } from "./healer.ts";
import { RepairSchedule } from "./repair-schedule.ts";
import { openRepairWorld, readObjectBytes, repairWorldDiskIds, repairWorldMap, type RepairWorld } from "./repair-world.ts";
import { Scrubber } from "./scrubber.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`repair: seed ${seed} (replay with CAIRN_TEST_SEED=${seed})`);

const diskIds = repairWorldDiskIds;
const map = repairWorldMap;
const shardBytes = 16 * 1024;

let world: RepairWorld;
let directory = "";
let store: MetaStore;
let host: Host;
let disks: Map<string, ActorRef<DiskMessage>>;
let placementGroups: ActorRef<PlacementGroupMessage>[];
let service: ObjectService;
let healer: Healer;
let scrubber: Scrubber;

const view = () => world.view();

beforeEach(async () => {
  world = await openRepairWorld({ seed, shardBytes, replicationBytesMax: 8 * 1024, prefix: "cairn-repair-" });
  ({ directory, store, host, disks, placementGroups, service } = world);
  healer = new Healer({ host, store, view, bytesPerSecondMax: 1024 * 1024 * 1024 });
  scrubber = new Scrubber({ host, store, view, placementGroupCount: map.placementGroupCount, bytesPerSecondMax: 1024 * 1024 * 1024 });
});

afterEach(async () => {
  await world.close();
});

async function* chunked(bytes: Uint8Array, pieceBytes = 10_000): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes);
}

async function put(key: string, bytes: Uint8Array): Promise<ObjectInfo> {
  const outcome = await service.putObject({ bucket: "b", key, body: chunked(bytes), headers: {}, userMetadata: {}, storageClass: "STANDARD" });
  if (typeof outcome === "string") throw new Error(outcome);
  return outcome;
}

function read(key: string): Promise<Buffer> {
  return readObjectBytes(service, "b", key);
}

async function readShard(diskId: string, shardKey: string): Promise<Uint8Array | Fault> {
  const reply = await host.ask<DiskMessage, ReadShardReply | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "ReadShard", epoch: 1, shardKey, replyTo }), 10_000);
  return isFault(reply) ? reply : reply.bytes;
}

async function damagedCount(placementGroupId: number): Promise<number> {
  const reply = await host.ask<PlacementGroupMessage, StatPlacementGroupReply | Fault>(
    placementGroups[placementGroupId]!,
    (replyTo) => ({ kind: "StatPlacementGroup", epoch: 1, replyTo }),
    10_000,
  );
  if (isFault(reply)) throw new Error(reply.detail);
  return reply.damagedShardCount;
}

/** Waits, with a bound, until `condition` holds (damage is recorded in the background of a read). */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 2_000; attempt += 1) {
    if (await condition()) return;
    await Bun.sleep(2);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A repair schedule run by hand (`runOnce`) over every PG, no local disks to scrub. */
function manualSchedule(scrubIntervalMs = 3_600_000): RepairSchedule {
  return new RepairSchedule({
    host,
    healer,
    scrubber,
    placementGroups: () => placementGroups.map((_, id) => id),
    localDisks: () => [],
    healIntervalMs: 60_000,
    scrubIntervalMs,
    log: () => undefined,
  });
}

/** A seventh disk joins: a new map epoch, every PG told its new acting set. Returns the grown map. */
async function addSeventhDisk(): Promise<ClusterMap> {
  const grown: ClusterMap = { ...map, epoch: 2, hosts: [{ hostId: "node-test", disks: [...diskIds, "disk-6"].map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }] };
  disks.set("disk-6", await host.spawn(diskActorPath("disk-6"), diskBehavior({ diskId: "disk-6", directory: join(directory, "disk-6") })));
  for (const [id, ref] of placementGroups.entries()) {
    const reply = await host.ask<PlacementGroupMessage, unknown>(ref, (replyTo) => ({ kind: "UpdateActingSet", epoch: 2, diskIds: actingSet(id, grown, 6), replyTo }), 10_000);
    expect(isFault(reply)).toBe(false);
  }
  world.viewEpoch = 2;
  return grown;
}

describe("repair", () => {
  test("a deleted shard (coded and replicated) is found by a read and rebuilt byte for byte by the healer", async () => {
    const coded = seededRandom(seed + 1).bytes(3 * 4 * shardBytes + 500);
    const small = seededRandom(seed + 2).bytes(2_000);
    const codedInfo = await put("coded", coded);
    const smallInfo = await put("small", small);
    for (const [info, key] of [
      [codedInfo, stripeShardKey(codedInfo.dataId, 1, 2)],
      [smallInfo, chunkShardKey(smallInfo.dataId, 0)],
    ] as const) {
      const pg = placementGroupOf("b", info.key, map.placementGroupCount);
      const acting = actingSet(pg, map, 6);
      const diskId = key.includes(".") ? acting[2]! : acting[0]!;
      const original = await readShard(diskId, key);
      if (isFault(original)) throw new Error(original.detail);
      await host.ask<DiskMessage, unknown>(disks.get(diskId)!, (replyTo) => ({ kind: "DeleteShard", epoch: 1, shardKey: key, replyTo }), 10_000);
      // The read still answers with the right bytes, and records the damage.
      expect(await read(info.key)).toEqual(Buffer.from(info.key === "coded" ? coded : small));
      await until(async () => (await damagedCount(pg)) === 1, `the damage of ${info.key} recorded`);
      const report = await healer.healPlacementGroup(pg);
      expect(report).toEqual({ healed: 1, bytesWritten: original.byteLength, moot: 0, deferred: 0, unhealable: 0 });
      expect(Buffer.from((await readShard(diskId, key)) as Uint8Array)).toEqual(Buffer.from(original));
      expect(await damagedCount(pg)).toBe(0);
    }
  });

  test("a damaged shard of data freed since (its object deleted, the Janitor not yet run) is moot, not rebuilt or deferred", async () => {
    const body = seededRandom(seed + 3).bytes(2 * 4 * shardBytes + 7);
    const info = await put("freed", body);
    const pg = placementGroupOf("b", "freed", map.placementGroupCount);
    const key = stripeShardKey(info.dataId, 0, 1);
    const diskId = actingSet(pg, map, 6)[1]!;
    await host.ask<DiskMessage, unknown>(disks.get(diskId)!, (replyTo) => ({ kind: "DeleteShard", epoch: 1, shardKey: key, replyTo }), 10_000);
    expect(await read("freed")).toEqual(Buffer.from(body));
    await until(async () => (await damagedCount(pg)) === 1, "the damage recorded");
    expect(await service.deleteObject("b", "freed")).toEqual({ deleteMarker: false });
    const report = await healer.healPlacementGroup(pg);
    expect(report).toEqual({ healed: 0, bytesWritten: 0, moot: 1, deferred: 0, unhealable: 0 });
    expect(await damagedCount(pg)).toBe(0);
    expect(isFault(await readShard(diskId, key))).toBe(true); // nothing was written back
  });

  test("a shard gone without anyone noticing (no read met it) is found by the schedule's sweep once per scrub interval and rebuilt", async () => {
    const body = seededRandom(seed + 4).bytes(2 * 4 * shardBytes + 11);
    const info = await put("silent", body);
    const pg = placementGroupOf("b", "silent", map.placementGroupCount);
    const key = stripeShardKey(info.dataId, 1, 4);
    const diskId = actingSet(pg, map, 6)[4]!;
    const original = (await readShard(diskId, key)) as Uint8Array;
    const schedule = manualSchedule(200);
    // The first run sweeps every PG (nothing swept yet) and finds nothing to do.
    expect((await schedule.runOnce()).recorded).toBe(0);
    await host.ask<DiskMessage, unknown>(disks.get(diskId)!, (replyTo) => ({ kind: "DeleteShard", epoch: 1, shardKey: key, replyTo }), 10_000);
    // Within the interval the acting set is unchanged: no sweep, the loss stays unseen.
    expect((await schedule.runOnce()).swept).toBe(0);
    expect(await damagedCount(pg)).toBe(0);
    await Bun.sleep(250);
    const run = await schedule.runOnce();
    expect(run.recorded).toBe(1);
    expect(run.heal.healed).toBe(1);
    expect(Buffer.from((await readShard(diskId, key)) as Uint8Array)).toEqual(Buffer.from(original));
    expect(await damagedCount(pg)).toBe(0);
  });

  test("bytes flipped in a volume file are never served; the scrubber finds them and the healer rebuilds them", async () => {
    const body = seededRandom(seed + 3).bytes(2 * 4 * shardBytes);
    const info = await put("rot", body);
    const pg = placementGroupOf("b", "rot", map.placementGroupCount);
    const victim = actingSet(pg, map, 6)[1]!;
    const shardKey = stripeShardKey(info.dataId, 0, 1);
    const original = (await readShard(victim, shardKey)) as Uint8Array;
    // Flip one byte inside that shard's payload, found by its content in the volume file.
    const volume = readdirSync(join(directory, victim))
      .map((name) => join(directory, victim, name))
      .filter((path) => statSync(path).isFile())
      .find((path) => readFileSync(path).includes(Buffer.from(original.subarray(0, 64))));
    expect(volume).toBeDefined();
    const file = readFileSync(volume!);
    const at = file.indexOf(Buffer.from(original.subarray(0, 64))) + 1000;
    file[at] = file[at]! ^ 0x5a;
    writeFileSync(volume!, file);

    expect(isFault(await readShard(victim, shardKey)) && ((await readShard(victim, shardKey)) as Fault).fault).toBe("Corrupt");
    // Never served: the object reads back right from the other shards.
    expect(await read("rot")).toEqual(Buffer.from(body));

    const scrubbed = await scrubber.scrubDisk(victim);
    expect(scrubbed.corrupt).toBe(1);
    expect(scrubbed.reported).toBe(1);
    await healer.healPlacementGroup(pg);
    expect(Buffer.from((await readShard(victim, shardKey)) as Uint8Array)).toEqual(Buffer.from(original));
    expect((await scrubber.scrubDisk(victim)).corrupt).toBe(0);
    expect(await damagedCount(pg)).toBe(0);
  });

  test("a disk replaced by an empty one: the sweep lists every shard it should hold and the healer refills it", async () => {
    const bodies = new Map<string, Uint8Array>();
    for (let index = 0; index < 12; index += 1) {
      const body = seededRandom(seed + 10 + index).bytes(index % 3 === 0 ? 3_000 : 5 * 4 * shardBytes + index);
      bodies.set(`k${index}`, body);
      await put(`k${index}`, body);
    }
    const replaced = "disk-3";
    const held = async (): Promise<number> => {
      const reply = await host.ask<DiskMessage, { shardCount: number } | Fault>(disks.get(replaced)!, (replyTo) => ({ kind: "StatDisk", replyTo }), 10_000);
      if (isFault(reply)) throw new Error(reply.detail);
      return reply.shardCount;
    };
    const before = await held();
    expect(before).toBeGreaterThan(0);
    await host.stop(disks.get(replaced)!);
    rmSync(join(directory, replaced), { recursive: true, force: true });
    disks.set(replaced, await host.spawn(diskActorPath(replaced), diskBehavior({ diskId: replaced, directory: join(directory, replaced) })));
    expect(await held()).toBe(0);

    let recorded = 0;
    for (let pg = 0; pg < map.placementGroupCount; pg += 1) recorded += await healer.sweepPlacementGroup(pg);
    expect(recorded).toBe(before);
    let healed = 0;
    for (let pg = 0; pg < map.placementGroupCount; pg += 1) healed += (await healer.healPlacementGroup(pg)).healed;
    expect(healed).toBe(before);
    expect(await held()).toBe(before);
    for (const [key, body] of bodies) expect(await read(key)).toEqual(Buffer.from(body));
    for (let pg = 0; pg < map.placementGroupCount; pg += 1) expect(await damagedCount(pg)).toBe(0);
  });

  test("backfill: a disk added moves shards only where the acting sets changed, copied from their former disks, reads never fail, and the former copies go", async () => {
    const bodies = new Map<string, Uint8Array>();
    for (let index = 0; index < 10; index += 1) {
      const body = seededRandom(seed + 40 + index).bytes(index % 4 === 0 ? 2_000 : 3 * 4 * shardBytes + index);
      bodies.set(`b${index}`, body);
      await put(`b${index}`, body);
    }
    const schedule = manualSchedule();
    // A first run records each PG's acting set as complete.
    await schedule.runOnce();
    const before = new Map(placementGroups.map((_, id) => [id, actingSet(id, map, 6)]));

    // A seventh disk joins: a new map epoch, new acting sets.
    const grown = await addSeventhDisk();
    const after = new Map(placementGroups.map((_, id) => [id, actingSet(id, grown, 6)]));
    const changedPositions = [...after].reduce((sum, [id, set]) => sum + set.filter((diskId, position) => diskId !== before.get(id)![position]).length, 0);
    expect(changedPositions).toBeGreaterThan(0);

    // Reads keep working before and while the backfill runs.
    const reads = Promise.all([...bodies].map(async ([key, body]) => expect(await read(key)).toEqual(Buffer.from(body))));
    const report = await schedule.runOnce();
    await reads;
    expect(report.heal.deferred).toBe(0);
    expect(report.retired).toBeGreaterThan(0);
    for (const [key, body] of bodies) expect(await read(key)).toEqual(Buffer.from(body));

    // Every shard sits exactly where the new acting set puts it, and nowhere else.
    for (const key of bodies.keys()) {
      const info = await service.headObject("b", key);
      if (typeof info === "string" || "deleteMarker" in info) throw new Error(key);
      const pg = placementGroupOf("b", key, map.placementGroupCount);
      const set = after.get(pg)!;
      const replicated = info.sizeBytes <= 8 * 1024;
      const width = replicated ? 3 : 6;
      const units = replicated ? 1 : Math.ceil(info.sizeBytes / (4 * shardBytes));
      for (let unit = 0; unit < units; unit += 1) {
        for (let position = 0; position < width; position += 1) {
          const shardKey = replicated ? chunkShardKey(info.dataId, unit) : stripeShardKey(info.dataId, unit, position);
          for (const diskId of [...diskIds, "disk-6"]) {
            const held = await host.ask<DiskMessage, { present: boolean[] } | Fault>(disks.get(diskId)!, (replyTo) => ({ kind: "CheckShards", epoch: 2, shardKeys: [shardKey], replyTo }), 10_000);
            if (isFault(held)) throw new Error(held.detail);
            const shouldHold = replicated ? set.slice(0, 3).includes(diskId) : set[position] === diskId;
            expect({ shardKey, diskId, held: held.present[0] }).toEqual({ shardKey, diskId, held: shouldHold });
          }
        }
      }
    }
    // The new sets are recorded as complete: a further run has nothing to move.
    const again = await schedule.runOnce();
    expect(again.retired).toBe(0);
    expect(again.heal.healed).toBe(0);
  });

  test("reads during a backfill come from a changed position's former disk: an object stays readable with two more disks down", async () => {
    const bodies = new Map<string, Uint8Array>();
    for (let index = 0; index < 8; index += 1) {
      const body = seededRandom(seed + 80 + index).bytes(2 * 4 * shardBytes + index);
      bodies.set(`f${index}`, body);
      await put(`f${index}`, body);
    }
    await manualSchedule().runOnce(); // records each PG's acting set as complete
    const grown = await addSeventhDisk();
    // No backfill has run: the new disk holds nothing. With 4+2, a stripe needs 4 of its 6 positions;
    // the changed one is empty and two more disks are taken away, so only the former disk can make 4.
    let checked = 0;
    for (const [key, body] of bodies) {
      const pg = placementGroupOf("b", key, map.placementGroupCount);
      const before = actingSet(pg, map, 6);
      const after = actingSet(pg, grown, 6);
      const changed = after.findIndex((diskId, position) => diskId !== before[position]);
      if (changed < 0) continue;
      const down = after.filter((diskId, position) => position !== changed && diskId !== before[changed]).slice(0, 2);
      const kept = down.map((diskId) => [diskId, disks.get(diskId)!] as const);
      for (const diskId of down) disks.delete(diskId);
      try {
        expect(await read(key)).toEqual(Buffer.from(body));
      } finally {
        for (const [diskId, ref] of kept) disks.set(diskId, ref);
      }
      checked += 1;
    }
    expect(checked).toBeGreaterThan(0);
  });

  test("a scrub pass reports its counts page by page, ending at the report's totals", async () => {
    for (let index = 0; index < 6; index += 1) await put(`s${index}`, seededRandom(seed + 120 + index).bytes(4 * shardBytes + index));
    const paged = new Scrubber({ host, store, view, placementGroupCount: map.placementGroupCount, bytesPerSecondMax: 1024 * 1024 * 1024, pageShards: 2 });
    const seen: { checked: number; bytesChecked: number }[] = [];
    const report = await paged.scrubDisk("disk-0", (soFar) => seen.push({ checked: soFar.checked, bytesChecked: soFar.bytesChecked }));
    expect(report.checked).toBeGreaterThan(2);
    expect(seen.length).toBeGreaterThan(1);
    for (let index = 1; index < seen.length; index += 1) expect(seen[index]!.checked).toBeGreaterThanOrEqual(seen[index - 1]!.checked);
    expect(seen.at(-1)).toEqual({ checked: report.checked, bytesChecked: report.bytesChecked });
  });
});
