import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault, manualClock, type ActorRef } from "../../runtime/index.ts";
import { diskActorPath, diskBehavior } from "./behavior.ts";
import { DiskDriver } from "./disk-driver.ts";
import type { DiskMessage } from "./protocol.ts";

let directory = "";
let disk: DiskDriver;
const replyTo = (): ActorRef<never> => disk.replyTo();
const send = (message: DiskMessage): Promise<void> => disk.send(message);
const replyFor = (to: ActorRef<unknown>): Promise<unknown> => disk.replyFor(to);

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-disk-behavior-"));
  disk = new DiskDriver(manualClock(0), "disk-test");
  await disk.start(diskBehavior({ diskId: "disk-test", directory }));
});

afterEach(async () => {
  await disk.stop();
  await rm(directory, { recursive: true, force: true });
});

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function append(shardKey: string, text: string, epoch = 0): Promise<unknown> {
  const to = replyTo();
  await send({ kind: "AppendShard", epoch, shardKey, bytes: bytesOf(text), replyTo: to });
  return replyFor(to);
}

async function read(shardKey: string, range: { offsetBytes?: number; lengthBytes?: number } = {}, epoch = 0): Promise<unknown> {
  const to = replyTo();
  await send({ kind: "ReadShard", epoch, shardKey, ...range, replyTo: to });
  return replyFor(to);
}

function textOfReply(reply: unknown): string {
  if (isFault(reply)) throw new Error(`expected a ReadShardReply, got fault ${reply.fault}: ${reply.detail}`);
  const { kind, bytes } = reply as { kind: string; bytes: Uint8Array };
  expect(kind).toBe("ReadShardReply");
  return new TextDecoder().decode(bytes);
}

function faultOf(reply: unknown): string | undefined {
  return isFault(reply) ? reply.fault : undefined;
}

describe("diskBehavior", () => {
  test("diskActorPath names the actor under disks/", () => {
    expect(diskActorPath("disk-3")).toBe("disks/disk-3");
  });

  test("append then read, whole and by range", async () => {
    expect(await append("s1", "hello world")).toEqual({ kind: "AppendShardReply", shardKey: "s1", lengthBytes: 11 });
    expect(textOfReply(await read("s1"))).toBe("hello world");
    expect(textOfReply(await read("s1", { offsetBytes: 6 }))).toBe("world");
    expect(textOfReply(await read("s1", { offsetBytes: 0, lengthBytes: 5 }))).toBe("hello");
  });

  test("a missing shard is a NotFound fault", async () => {
    expect(faultOf(await read("nothing"))).toBe("NotFound");
  });

  test("delete answers whether the shard existed, and the shard is gone", async () => {
    await append("gone", "bytes");
    const first = replyTo();
    await send({ kind: "DeleteShard", epoch: 0, shardKey: "gone", replyTo: first });
    expect(await replyFor(first)).toEqual({ kind: "DeleteShardReply", shardKey: "gone", existed: true });
    const second = replyTo();
    await send({ kind: "DeleteShard", epoch: 0, shardKey: "gone", replyTo: second });
    expect(await replyFor(second)).toEqual({ kind: "DeleteShardReply", shardKey: "gone", existed: false });
    expect(faultOf(await read("gone"))).toBe("NotFound");
  });

  test("StatDisk reports the store's figures", async () => {
    await append("a", "aaaa");
    await append("b", "bbbb");
    await append("a", "AAAAAAAA");
    const to = replyTo();
    await send({ kind: "StatDisk", replyTo: to });
    const reply = (await replyFor(to)) as Record<string, unknown>;
    expect(reply.kind).toBe("StatDiskReply");
    expect(reply.diskId).toBe("disk-test");
    expect(reply.shardCount).toBe(2);
    expect(reply.volumeCount).toBe(1);
    expect(reply.deadBytes).toBeGreaterThan(0);
    expect(reply.liveBytes).toBeGreaterThan(0);
  });

  test("appends are not awaited in receive: many share fdatasyncs and reply after them", async () => {
    const count = 32;
    const syncsBefore = disk.state.store.stats().syncCount;
    const targets: ActorRef<never>[] = [];
    for (let index = 0; index < count; index += 1) {
      const to = replyTo();
      targets.push(to);
      await send({ kind: "AppendShard", epoch: 0, shardKey: `many-${index}`, bytes: bytesOf(`v${index}`), replyTo: to });
    }
    // Every receive has returned, yet none of these appends can have been synced and acknowledged.
    expect(disk.told.length).toBe(0);
    for (const [index, to] of targets.entries()) {
      expect(await replyFor(to)).toEqual({ kind: "AppendShardReply", shardKey: `many-${index}`, lengthBytes: `v${index}`.length });
    }
    expect(disk.state.store.stats().syncCount - syncsBefore).toBeLessThan(count);
  });

  test("a request below the highest epoch seen is fenced", async () => {
    expect(faultOf(await append("e", "epoch five", 5))).toBeUndefined();
    expect(disk.state.epochMax).toBe(5);
    expect(faultOf(await append("e", "stale", 3))).toBe("Fenced");
    expect(faultOf(await read("e", {}, 4))).toBe("Fenced");
    const to = replyTo();
    await send({ kind: "DeleteShard", epoch: 1, shardKey: "e", replyTo: to });
    expect(faultOf(await replyFor(to))).toBe("Fenced");
    // The fenced writes changed nothing.
    expect(textOfReply(await read("e", {}, 5))).toBe("epoch five");
    expect(textOfReply(await read("e", {}, 6))).toBe("epoch five");
    expect(disk.state.epochMax).toBe(6);
  });

  test("SyncDisk makes writes durable, closes the files, and later requests get a fault", async () => {
    const pending = replyTo();
    await send({ kind: "AppendShard", epoch: 0, shardKey: "kept", bytes: bytesOf("durable"), replyTo: pending });
    const sync = replyTo();
    await send({ kind: "SyncDisk", replyTo: sync });
    expect(await replyFor(sync)).toEqual({ kind: "SyncDiskReply" });
    expect(await replyFor(pending)).toEqual({ kind: "AppendShardReply", shardKey: "kept", lengthBytes: 7 });
    expect(disk.state.closed).toBe(true);
    expect(faultOf(await append("after", "x"))).toBe("Unreachable");
    expect(faultOf(await read("kept"))).toBe("Unreachable");
    const stat = replyTo();
    await send({ kind: "StatDisk", replyTo: stat });
    expect((await replyFor(stat)) as Record<string, unknown>).toMatchObject({ kind: "StatDiskReply", shardCount: 1 });

    // A restarted actor finds the data.
    await disk.restart();
    expect(textOfReply(await read("kept"))).toBe("durable");
  });

  test("a bug in a detached operation is answered with a fault and stops the actor on its next message", async () => {
    // 300 two-byte characters pass the schema's character limit but break the store's byte limit (an assert).
    const reply = await append("é".repeat(300), "x");
    expect(faultOf(reply)).toBe("Unreachable");
    expect(disk.state.detachedErrors.length).toBe(1);
    const to = replyTo();
    await expect(send({ kind: "StatDisk", replyTo: to })).rejects.toThrow(/shard key/);
  });

  test("CompactDisk removes mostly-dead sealed volumes, keeps every live shard, and reports what it did", async () => {
    // Small volumes so that overwrites fill sealed volumes with dead records.
    await disk.start(diskBehavior({ diskId: "disk-test", directory, volumeBytesMax: 1024 }));
    for (let round = 0; round < 6; round += 1) {
      for (const key of ["p", "q", "r"]) await append(key, `${key}-${round}-${"x".repeat(100)}`);
    }
    await append("kept", "kept bytes");
    const volumesBefore = disk.state.store.stats().volumeCount;
    const deadBefore = disk.state.store.stats().deadBytes;

    const to = replyTo();
    await send({ kind: "CompactDisk", epoch: 0, deadFractionMin: 0.5, bytesMax: 1024 * 1024, replyTo: to });
    const reply = (await replyFor(to)) as Record<string, unknown>;
    expect(reply.kind).toBe("CompactDiskReply");
    expect(reply.volumesCompacted).toBeGreaterThan(0);
    expect(reply.more).toBe(false);
    expect(disk.state.store.stats().volumeCount).toBe(volumesBefore - (reply.volumesCompacted as number));
    expect(disk.state.store.stats().deadBytes).toBeLessThan(deadBefore);
    for (const key of ["p", "q", "r"]) expect(textOfReply(await read(key))).toBe(`${key}-5-${"x".repeat(100)}`);
    expect(textOfReply(await read("kept"))).toBe("kept bytes");

    // Fenced like every other request.
    await append("kept", "kept bytes", 3);
    const stale = replyTo();
    await send({ kind: "CompactDisk", epoch: 2, deadFractionMin: 0.5, bytesMax: 1024, replyTo: stale });
    expect(faultOf(await replyFor(stale))).toBe("Fenced");
  });

  test("initialState after stopped rebuilds the index from the files", async () => {
    await append("x", "one");
    await append("y", "two");
    await disk.restart();
    expect(textOfReply(await read("x"))).toBe("one");
    expect(textOfReply(await read("y"))).toBe("two");
    expect(disk.state.epochMax).toBe(0);
  });
});
