/** The Compactor against a real disk actor with small volumes: deleted space comes back, live shards stay readable. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage, type ReadShardReply, type StatDiskReply } from "../../actors/disk/index.ts";
import { createNactHost, isFault, randomSeed, seededRandom, systemClock, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { openMemoryStore } from "../metadata/index.ts";
import { Compactor } from "./compactor.ts";
import { Healer } from "./healer.ts";
import { RepairSchedule } from "./repair-schedule.ts";
import { Scrubber } from "./scrubber.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`compactor: seed ${seed} (replay with CAIRN_TEST_SEED=${seed})`);

let directory = "";
let host: Host;
let disk: ActorRef<DiskMessage>;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-compactor-"));
  host = createNactHost({ nodeId: "node-test", clock: systemClock(), random: seededRandom(seed), log: () => undefined });
  disk = await host.spawn(diskActorPath("d0"), diskBehavior({ diskId: "d0", directory, volumeBytesMax: 256 * 1024 }));
});
afterEach(async () => {
  await host.shutdown();
  rmSync(directory, { recursive: true, force: true });
});

async function stat(): Promise<StatDiskReply> {
  const reply = await host.ask<DiskMessage, StatDiskReply | Fault>(disk, (replyTo) => ({ kind: "StatDisk", replyTo }), 10_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply;
}

test("sealed volumes past the dead-space threshold are compacted; the live shards read back", async () => {
  const random = seededRandom(seed);
  const shards = new Map<string, Uint8Array>();
  for (let index = 0; index < 120; index += 1) {
    const bytes = random.bytes(10_000);
    shards.set(`s${index}`, bytes);
    await host.ask<DiskMessage, unknown>(disk, (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey: `s${index}`, bytes, replyTo }), 10_000);
  }
  // Four in five deleted: the sealed volumes are mostly dead.
  for (let index = 0; index < 120; index += 1) {
    if (index % 5 === 0) continue;
    await host.ask<DiskMessage, unknown>(disk, (replyTo) => ({ kind: "DeleteShard", epoch: 1, shardKey: `s${index}`, replyTo }), 10_000);
    shards.delete(`s${index}`);
  }
  const before = await stat();
  expect(before.deadBytes).toBeGreaterThan(before.liveBytes);
  const compactor = new Compactor({ host, view: () => ({ epoch: 1, diskRef: () => disk, placementGroupRef: () => undefined }), stepBytesMax: 1024 * 1024 });
  const totals = await compactor.compactDisk("d0");
  expect(totals.volumesCompacted).toBeGreaterThan(0);
  expect(totals.bytesReclaimed).toBeGreaterThan(totals.bytesCopied);
  const after = await stat();
  expect(after.deadBytes).toBeLessThan(before.deadBytes);
  expect(after.volumeCount).toBeLessThan(before.volumeCount);
  for (const [key, bytes] of shards) {
    const reply = await host.ask<DiskMessage, ReadShardReply | Fault>(disk, (replyTo) => ({ kind: "ReadShard", epoch: 1, shardKey: key, replyTo }), 10_000);
    if (isFault(reply)) throw new Error(`${key}: ${reply.detail}`);
    expect(Buffer.from(reply.bytes)).toEqual(Buffer.from(bytes));
  }
});

test("a disk short of space is compacted at once, from a lower dead fraction, without waiting for the interval; a disk with room waits", async () => {
  const mib = 1024 * 1024;
  // Two disks with the same shards, a third of them deleted (under the usual 50 % threshold); one short of space.
  const spaceOf = new Map([
    ["short", { totalBytes: 100 * mib, freeBytes: 20 * mib }],
    ["roomy", { totalBytes: 100 * mib, freeBytes: 90 * mib }],
  ]);
  const disks = new Map<string, ActorRef<DiskMessage>>();
  for (const diskId of spaceOf.keys()) {
    disks.set(
      diskId,
      await host.spawn(
        diskActorPath(diskId),
        diskBehavior({ diskId, directory: join(directory, diskId), volumeBytesMax: 256 * 1024, reserveBytes: 16 * mib, measureSpace: async () => spaceOf.get(diskId)! }),
      ),
    );
  }
  const random = seededRandom(seed + 1);
  for (const ref of disks.values()) {
    for (let index = 0; index < 90; index += 1) {
      await host.ask<DiskMessage, unknown>(ref, (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey: `s${index}`, bytes: random.bytes(10_000), replyTo }), 10_000);
    }
    for (let index = 0; index < 90; index += 3) {
      await host.ask<DiskMessage, unknown>(ref, (replyTo) => ({ kind: "DeleteShard", epoch: 1, shardKey: `s${index}`, replyTo }), 10_000);
    }
  }
  const view = () => ({ epoch: 1, diskRef: (diskId: string) => disks.get(diskId), placementGroupRef: () => undefined });
  const compactor = new Compactor({ host, view, stepBytesMax: 4 * mib });
  expect(await compactor.spaceShort("short")).toBe(true);
  expect(await compactor.spaceShort("roomy")).toBe(false);
  const store = openMemoryStore();
  const schedule = new RepairSchedule({
    host,
    healer: new Healer({ host, store, view, bytesPerSecondMax: 1024 * mib }),
    scrubber: new Scrubber({ host, store, view, placementGroupCount: 1, bytesPerSecondMax: 1024 * mib }),
    placementGroups: () => [],
    localDisks: () => [...disks.keys()],
    healIntervalMs: 60_000,
    scrubIntervalMs: 3_600_000,
    compactor,
    compactIntervalMs: 3_600_000,
  });
  // The first run is the interval's: at the usual threshold nothing qualifies on either disk.
  expect((await schedule.runOnce()).compacted).toEqual([]);
  // The next, an hour before the interval comes again: only the disk short of space is compacted.
  const second = await schedule.runOnce();
  expect(second.compacted.map((entry) => entry.diskId)).toEqual(["short"]);
  expect(second.compacted[0]!.bytesReclaimed).toBeGreaterThan(0);
  for (let index = 1; index < 90; index += 1) {
    if (index % 3 === 0) continue;
    const reply = await host.ask<DiskMessage, ReadShardReply | Fault>(disks.get("short")!, (replyTo) => ({ kind: "ReadShard", epoch: 1, shardKey: `s${index}`, replyTo }), 10_000);
    expect(isFault(reply)).toBe(false);
  }
});
