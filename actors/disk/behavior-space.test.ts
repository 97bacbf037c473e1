/**
 * The DiskActor on a full disk: shard writes refused with `Overloaded`
 * ("disk full") before the reserve is touched, reads and deletes served, and
 * writes admitted again once space comes back. The first tests measure space
 * through a stand-in (the figures and the clock are the test's); the last one
 * runs on a real tmpfs (root only) where the filesystem itself says ENOSPC.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm, rmdir, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNactHost, isFault, manualClock, seededRandom, type ActorRef, type Fault, type ManualClock } from "../../runtime/index.ts";
import { diskActorPath, diskBehavior, reserveBytesDefault, volumeBytesMaxFor, type DiskSpace } from "./behavior.ts";
import { DiskDriver } from "./disk-driver.ts";
import type { DiskMessage, StatDiskReply } from "./protocol.ts";

const mebibyte = 1024 * 1024;
const intervalMs = 1_000;

let directory = "";
let clock: ManualClock;
let disk: DiskDriver;
/** What the stand-in statfs answers; tests change it to fill and free the disk. */
let space: DiskSpace;
let measurements = 0;
const replyTo = (): ActorRef<never> => disk.replyTo();
const send = (message: DiskMessage): Promise<void> => disk.send(message);
const replyFor = (to: ActorRef<unknown>): Promise<unknown> => disk.replyFor(to);

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-disk-space-"));
  clock = manualClock(0);
  disk = new DiskDriver(clock, "disk-space");
  measurements = 0;
});

afterEach(async () => {
  await disk.stop();
  await rm(directory, { recursive: true, force: true });
});

async function start(options: {
  reserveBytes?: number;
  /** "statfs" for the actor's own measurement; default the stand-in answering `space`. */
  measure?: "statfs" | ((directory: string) => Promise<DiskSpace>);
  directory?: string;
}): Promise<void> {
  const stand = async (): Promise<DiskSpace> => {
    measurements += 1;
    return space;
  };
  await disk.start(diskBehavior({
    diskId: "disk-space",
    directory: options.directory ?? directory,
    spaceCheckIntervalMs: intervalMs,
    ...(options.reserveBytes === undefined ? {} : { reserveBytes: options.reserveBytes }),
    ...(options.measure === "statfs" ? {} : { measureSpace: options.measure ?? stand }),
  }));
}

async function append(shardKey: string, sizeBytes: number): Promise<unknown> {
  const to = replyTo();
  await send({ kind: "AppendShard", epoch: 1, shardKey, bytes: new Uint8Array(sizeBytes).fill(7), replyTo: to });
  return replyFor(to);
}

async function stat(): Promise<StatDiskReply> {
  const to = replyTo();
  await send({ kind: "StatDisk", replyTo: to });
  return (await replyFor(to)) as StatDiskReply;
}

function isDiskFull(reply: unknown): boolean {
  return isFault(reply) && reply.fault === "Overloaded" && reply.detail.includes("disk full");
}

describe("DiskActor: a full disk", () => {
  test("the default reserve: 2 %, at least 16 MiB, at most 4 GiB, at most a quarter of a small filesystem", () => {
    expect(reserveBytesDefault(10 * 1024 * mebibyte)).toBe(Math.floor(10 * 1024 * mebibyte * 0.02));
    expect(reserveBytesDefault(256 * mebibyte)).toBe(16 * mebibyte);
    expect(reserveBytesDefault(32 * mebibyte)).toBe(8 * mebibyte);
    expect(reserveBytesDefault(1024 * 1024 * mebibyte)).toBe(4 * 1024 * mebibyte);
  });

  test("writes stop above the reserve; reads and deletes go on; StatDisk says full", async () => {
    space = { totalBytes: 100 * mebibyte, freeBytes: 10 * mebibyte };
    await start({ reserveBytes: 4 * mebibyte });
    // 6 MiB above the reserve: five 1 MiB shards fit (each record is a little over 1 MiB), the sixth does not.
    const outcomes: unknown[] = [];
    for (let index = 0; index < 6; index += 1) outcomes.push(await append(`s-${index}`, mebibyte));
    expect(outcomes.slice(0, 5).every((reply) => !isFault(reply))).toBe(true);
    expect(isDiskFull(outcomes[5])).toBe(true);
    // Admission is counted, not measured: the stand-in was asked only once, at start.
    expect(measurements).toBe(1);

    const read = replyTo();
    await send({ kind: "ReadShard", epoch: 1, shardKey: "s-0", replyTo: read });
    const readReply = await replyFor(read);
    expect(isFault(readReply) ? readReply.fault : (readReply as { bytes: Uint8Array }).bytes.byteLength).toBe(mebibyte);
    const deleted = replyTo();
    await send({ kind: "DeleteShard", epoch: 1, shardKey: "s-1", replyTo: deleted });
    expect(await replyFor(deleted)).toMatchObject({ kind: "DeleteShardReply", existed: true });

    const figures = await stat();
    expect(figures.full).toBe(true);
    expect(figures.totalBytes).toBe(100 * mebibyte);
    expect(figures.reserveBytes).toBe(4 * mebibyte);
    expect(figures.freeBytes).toBeLessThan(5 * mebibyte);
    expect(figures.shardCount).toBe(4);
  });

  test("space that comes back is noticed by the first write after the check interval", async () => {
    space = { totalBytes: 100 * mebibyte, freeBytes: 5 * mebibyte };
    await start({ reserveBytes: 4 * mebibyte });
    expect(isDiskFull(await append("big", 2 * mebibyte))).toBe(true);
    // The space is freed (another tenant's file removed); within the interval the actor does not measure again.
    space = { totalBytes: 100 * mebibyte, freeBytes: 50 * mebibyte };
    await clock.advance(intervalMs / 2);
    expect(isDiskFull(await append("big", 2 * mebibyte))).toBe(true);
    expect(measurements).toBe(1);
    await clock.advance(intervalMs / 2);
    expect(isFault(await append("big", 2 * mebibyte))).toBe(false);
    expect(measurements).toBe(2);
    expect((await stat()).full).toBe(false);

    // And it fills again: the next measurement below the reserve refuses writes again.
    space = { totalBytes: 100 * mebibyte, freeBytes: 3 * mebibyte };
    await clock.advance(intervalMs);
    expect(isDiskFull(await append("small", 1024))).toBe(true);
    expect(measurements).toBe(3);
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("DiskActor on a real full tmpfs", () => {
  let mountPoint = "";
  let mounted = false;
  beforeEach(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), "cairn-disk-tmpfs-"));
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${4 * mebibyte}`, "tmpfs", mountPoint], { encoding: "utf8" });
    if (mount.status !== 0) throw new Error(`mount -t tmpfs failed: ${mount.stderr}`);
    mounted = true;
  });
  afterEach(async () => {
    await disk.stop();
    if (mounted) spawnSync("umount", [mountPoint]);
    mounted = false;
    await rmdir(mountPoint).catch(() => undefined);
  });

  test("statfs: a ballast file takes the disk below its reserve; removing it lets writes in again", async () => {
    await start({ reserveBytes: mebibyte, measure: "statfs", directory: join(mountPoint, "disk") });
    expect(isFault(await append("before", 256 * 1024))).toBe(false);
    await writeFile(join(mountPoint, "ballast"), new Uint8Array(3 * mebibyte)); // leaves about 3/4 MiB, below the reserve
    await clock.advance(intervalMs);
    expect(isDiskFull(await append("while-full", 256 * 1024))).toBe(true);
    expect(disk.state.store.stats().noSpaceCount).toBe(0); // refused by the reserve, before the filesystem was touched
    await unlink(join(mountPoint, "ballast"));
    await clock.advance(intervalMs);
    expect(isFault(await append("after", 256 * 1024))).toBe(false);
    expect(disk.state.store.has("before") && disk.state.store.has("after") && !disk.state.store.has("while-full")).toBe(true);
  });

  test("an ENOSPC the figures did not foresee: refused, and the disk counts as full until measured again", async () => {
    // A stand-in that overstates free space, as a racing writer on the same filesystem would make it.
    let lie = true;
    const real = async (): Promise<DiskSpace> => {
      measurements += 1;
      return lie ? { totalBytes: 1024 * mebibyte, freeBytes: 1024 * mebibyte } : { totalBytes: 4 * mebibyte, freeBytes: 3 * mebibyte };
    };
    await start({ reserveBytes: 0, measure: real, directory: join(mountPoint, "disk") });
    await writeFile(join(mountPoint, "ballast"), new Uint8Array(3 * mebibyte + 512 * 1024));
    expect(isDiskFull(await append("too-big", mebibyte))).toBe(true);
    expect(disk.state.store.stats().noSpaceCount).toBe(1);
    // Until the next measurement the actor refuses without trying the filesystem again.
    expect(isDiskFull(await append("small", 1024))).toBe(true);
    expect(disk.state.store.stats().noSpaceCount).toBe(1);
    await unlink(join(mountPoint, "ballast"));
    lie = false;
    await clock.advance(intervalMs);
    expect(isFault(await append("after", mebibyte))).toBe(false);
    expect(disk.state.store.has("too-big")).toBe(false);
  });
});

describe("volume size from the filesystem's size", () => {
  test("a sixteenth of the filesystem, between 16 MiB and the store's 1 GiB default", () => {
    const mib = 1024 * 1024;
    expect(volumeBytesMaxFor(256 * mib)).toBe(16 * mib);
    expect(volumeBytesMaxFor(64 * mib)).toBe(16 * mib);
    expect(volumeBytesMaxFor(1024 * mib)).toBe(64 * mib);
    expect(volumeBytesMaxFor(4 * 1024 * 1024 * mib)).toBe(1024 * mib);
  });

  test("a disk on a small filesystem rolls its volumes at that size, so its dead space can be compacted", async () => {
    const mib = 1024 * 1024;
    const directory = mkdtempSync(join(tmpdir(), "cairn-volume-size-"));
    const host = createNactHost({ nodeId: "node-test", random: seededRandom(5), log: () => undefined });
    try {
      // A 256 MiB filesystem (stand-in figures): 16 MiB volumes, so 40 MiB of shards span three or more.
      const disk = await host.spawn(diskActorPath("small"), diskBehavior({ diskId: "small", directory, measureSpace: async () => ({ totalBytes: 256 * mib, freeBytes: 200 * mib }) }));
      const bytes = new Uint8Array(mib);
      for (let index = 0; index < 40; index += 1) {
        const reply = await host.ask<DiskMessage, unknown>(disk, (replyTo) => ({ kind: "AppendShard", epoch: 1, shardKey: `s${index}`, bytes, replyTo }), 10_000);
        expect(isFault(reply)).toBe(false);
      }
      const stat = await host.ask<DiskMessage, StatDiskReply | Fault>(disk, (replyTo) => ({ kind: "StatDisk", replyTo }), 10_000);
      if (isFault(stat)) throw new Error(stat.detail);
      expect(stat.volumeCount).toBeGreaterThanOrEqual(3);
    } finally {
      await host.shutdown();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
