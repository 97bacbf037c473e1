import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  actorRef,
  isFault,
  manualClock,
  seededRandom,
  type ActorContext,
  type ActorRef,
  type Behavior,
} from "../../runtime/index.ts";
import { diskActorPath, diskBehavior, type DiskState } from "./behavior.ts";
import type { DiskMessage } from "./protocol.ts";

interface Told {
  readonly to: ActorRef<unknown>;
  readonly message: unknown;
}

/** A minimal context: it records every `tell`, and `ask` is not used by the disk actor. */
function recordingContext(): { context: ActorContext<DiskMessage>; told: Told[] } {
  const told: Told[] = [];
  const context: ActorContext<DiskMessage> = {
    self: actorRef<DiskMessage>("node-test", 1, diskActorPath("disk-test")),
    nodeId: "node-test",
    clock: manualClock(0),
    random: seededRandom(1),
    tell<T>(to: ActorRef<T>, message: T): void {
      told.push({ to, message });
    },
    ask(): never {
      throw new Error("the disk actor does not ask");
    },
  };
  return { context, told };
}

let directory = "";
let behavior: Behavior<DiskState, DiskMessage>;
let state: DiskState;
let context: ActorContext<DiskMessage>;
let told: Told[];
let replyCounter = 0;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-disk-behavior-"));
  behavior = diskBehavior({ diskId: "disk-test", directory });
  ({ context, told } = recordingContext());
  state = await behavior.initialState(context);
});

afterEach(async () => {
  await behavior.stopped?.(state, context);
  await rm(directory, { recursive: true, force: true });
});

function replyTo(): ActorRef<never> {
  replyCounter += 1;
  return actorRef("node-client", 1, `temp/reply-${replyCounter}`);
}

async function send(message: DiskMessage): Promise<void> {
  state = await behavior.receive(state, message, context);
}

/**
 * The reply told to `to`. Replies are told when the store's work settles, so
 * this waits for the store to go idle, then for the few promise hops that
 * carry the reply; a reply missing after that is a failure, not a wait.
 */
async function replyFor(to: ActorRef<unknown>): Promise<unknown> {
  await state.store.idle();
  for (let turn = 0; turn < 50; turn += 1) await Promise.resolve();
  const replies = told.filter((entry) => entry.to.path === to.path);
  expect(replies.length).toBe(1);
  return replies[0]?.message;
}

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
    const syncsBefore = state.store.stats().syncCount;
    const targets: ActorRef<never>[] = [];
    for (let index = 0; index < count; index += 1) {
      const to = replyTo();
      targets.push(to);
      await send({ kind: "AppendShard", epoch: 0, shardKey: `many-${index}`, bytes: bytesOf(`v${index}`), replyTo: to });
    }
    // Every receive has returned, yet none of these appends can have been synced and acknowledged.
    expect(told.length).toBe(0);
    for (const [index, to] of targets.entries()) {
      expect(await replyFor(to)).toEqual({ kind: "AppendShardReply", shardKey: `many-${index}`, lengthBytes: `v${index}`.length });
    }
    expect(state.store.stats().syncCount - syncsBefore).toBeLessThan(count);
  });

  test("a request below the highest epoch seen is fenced", async () => {
    expect(faultOf(await append("e", "epoch five", 5))).toBeUndefined();
    expect(state.epochMax).toBe(5);
    expect(faultOf(await append("e", "stale", 3))).toBe("Fenced");
    expect(faultOf(await read("e", {}, 4))).toBe("Fenced");
    const to = replyTo();
    await send({ kind: "DeleteShard", epoch: 1, shardKey: "e", replyTo: to });
    expect(faultOf(await replyFor(to))).toBe("Fenced");
    // The fenced writes changed nothing.
    expect(textOfReply(await read("e", {}, 5))).toBe("epoch five");
    expect(textOfReply(await read("e", {}, 6))).toBe("epoch five");
    expect(state.epochMax).toBe(6);
  });

  test("SyncDisk makes writes durable, closes the files, and later requests get a fault", async () => {
    const pending = replyTo();
    await send({ kind: "AppendShard", epoch: 0, shardKey: "kept", bytes: bytesOf("durable"), replyTo: pending });
    const sync = replyTo();
    await send({ kind: "SyncDisk", replyTo: sync });
    expect(await replyFor(sync)).toEqual({ kind: "SyncDiskReply" });
    expect(await replyFor(pending)).toEqual({ kind: "AppendShardReply", shardKey: "kept", lengthBytes: 7 });
    expect(state.closed).toBe(true);
    expect(faultOf(await append("after", "x"))).toBe("Unreachable");
    expect(faultOf(await read("kept"))).toBe("Unreachable");
    const stat = replyTo();
    await send({ kind: "StatDisk", replyTo: stat });
    expect((await replyFor(stat)) as Record<string, unknown>).toMatchObject({ kind: "StatDiskReply", shardCount: 1 });

    // A restarted actor finds the data.
    await behavior.stopped?.(state, context);
    state = await behavior.initialState(context);
    expect(textOfReply(await read("kept"))).toBe("durable");
  });

  test("a bug in a detached operation is answered with a fault and stops the actor on its next message", async () => {
    // 300 two-byte characters pass the schema's character limit but break the store's byte limit (an assert).
    const reply = await append("é".repeat(300), "x");
    expect(faultOf(reply)).toBe("Unreachable");
    expect(state.detachedErrors.length).toBe(1);
    const to = replyTo();
    await expect(send({ kind: "StatDisk", replyTo: to })).rejects.toThrow(/shard key/);
  });

  test("CompactDisk removes mostly-dead sealed volumes, keeps every live shard, and reports what it did", async () => {
    // Small volumes so that overwrites fill sealed volumes with dead records.
    await behavior.stopped?.(state, context);
    behavior = diskBehavior({ diskId: "disk-test", directory, volumeBytesMax: 1024 });
    state = await behavior.initialState(context);
    for (let round = 0; round < 6; round += 1) {
      for (const key of ["p", "q", "r"]) await append(key, `${key}-${round}-${"x".repeat(100)}`);
    }
    await append("kept", "kept bytes");
    const volumesBefore = state.store.stats().volumeCount;
    const deadBefore = state.store.stats().deadBytes;

    const to = replyTo();
    await send({ kind: "CompactDisk", epoch: 0, deadFractionMin: 0.5, bytesMax: 1024 * 1024, replyTo: to });
    const reply = (await replyFor(to)) as Record<string, unknown>;
    expect(reply.kind).toBe("CompactDiskReply");
    expect(reply.volumesCompacted).toBeGreaterThan(0);
    expect(reply.more).toBe(false);
    expect(state.store.stats().volumeCount).toBe(volumesBefore - (reply.volumesCompacted as number));
    expect(state.store.stats().deadBytes).toBeLessThan(deadBefore);
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
    await behavior.stopped?.(state, context);
    state = await behavior.initialState(context);
    expect(textOfReply(await read("x"))).toBe("one");
    expect(textOfReply(await read("y"))).toBe("two");
    expect(state.epochMax).toBe(0);
  });
});
