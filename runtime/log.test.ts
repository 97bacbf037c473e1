import { afterEach, describe, expect, test } from "bun:test";
import type { ActorContext, Behavior } from "./behavior.ts";
import { manualClock, systemClock } from "./clock.ts";
import { isFault } from "./fault.ts";
import { createNactHost } from "./host-nact.ts";
import {
  actorLog,
  configureLogging,
  currentRequestId,
  logEnabled,
  parseLogLevel,
  requestIdCharsMax,
  requestIdOfMessage,
  runWithRequestId,
  type LoggingConfiguration,
} from "./log.ts";
import { randomSeed, seededRandom } from "./random.ts";
import { actorRef, type ActorRef } from "./ref.ts";
import { encodeMessageFrames, FrameDecoder, isFrameError, defaultFrameLimits } from "./transport/frame-codec.ts";
import { startTestNode, type TestNode } from "./transport/testing/nodes.ts";
import type { PeerAddress } from "./transport/transport.ts";

const seed = Number(process.env["CAIRN_TEST_SEED"] ?? randomSeed());
console.log(`log.test.ts seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test runtime/log.test.ts)`);
const random = seededRandom(seed);

let restore: LoggingConfiguration | undefined;
const lines: Record<string, unknown>[] = [];
function capture(level: "debug" | "info" | "warn" | "error"): void {
  lines.length = 0;
  restore ??= configureLogging({ level, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  configureLogging({ level, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
}

afterEach(() => {
  if (restore !== undefined) configureLogging(restore);
  restore = undefined;
});

const fakeContext = { self: actorRef<never>("node-a", 1, "disks/d0"), clock: manualClock(Date.UTC(2026, 0, 2, 3, 4, 5, 678)) };

describe("actorLog", () => {
  test("one JSON line with time, level, node, actor, event, the request id in context, then the call's fields (never replacing the fixed ones)", () => {
    capture("debug");
    runWithRequestId("REQ1", () => actorLog(fakeContext, "debug", "shard-appended", { shardKey: "k", lengthBytes: 3, node: "spoofed" }));
    actorLog(fakeContext, "warn", "disk-fault", { fault: "Corrupt" });
    expect(lines).toEqual([
      { time: "2026-01-02T03:04:05.678Z", level: "debug", node: "node-a", actor: "disks/d0", event: "shard-appended", requestId: "REQ1", shardKey: "k", lengthBytes: 3 },
      { time: "2026-01-02T03:04:05.678Z", level: "warn", node: "node-a", actor: "disks/d0", event: "disk-fault", fault: "Corrupt" },
    ]);
  });

  test("below the level nothing is written and the clock is not read; logEnabled says so", () => {
    capture("info");
    let clockReads = 0;
    const counting = { ...fakeContext, clock: { ...fakeContext.clock, nowMs: () => (clockReads += 1) } };
    actorLog(counting, "debug", "shard-appended");
    expect(lines).toEqual([]);
    expect(clockReads).toBe(0);
    expect(logEnabled("debug")).toBe(false);
    expect(logEnabled("info")).toBe(true);
    actorLog(counting, "info", "x");
    expect(lines.length).toBe(1);
    expect(clockReads).toBe(1);
  });

  test("a cause message names its own request, not the context's", () => {
    capture("debug");
    const message = { kind: "CommitPut" };
    // Only hosts note messages; here a local host does it on accept (see below). Without a note there is no id.
    runWithRequestId("OTHER", () => actorLog(fakeContext, "debug", "commit-done", {}, message));
    expect(lines[0]!["requestId"]).toBeUndefined();
  });

  test("a bigint field is written as text rather than losing the line", () => {
    capture("debug");
    actorLog(fakeContext, "info", "big", { value: 2n ** 70n });
    expect(lines[0]!["value"]).toBe("1180591620717411303424");
  });

  test("CAIRN_LOG_LEVEL text: unset is info, case does not matter, anything else is an error", () => {
    expect(parseLogLevel(undefined)).toBe("info");
    expect(parseLogLevel("")).toBe("info");
    expect(parseLogLevel("DEBUG")).toBe("debug");
    expect(parseLogLevel(" warn ")).toBe("warn");
    expect(parseLogLevel("verbose")).toBeInstanceOf(Error);
  });
});

describe("the request context in Bun", () => {
  test("survives awaits, timers and promises settled from another context; runWithRequestId(undefined) clears it", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const seen: (string | undefined)[] = [];
    const work = (async () => {
      await null;
      seen.push(currentRequestId());
      await gate;
      seen.push(currentRequestId());
      await systemClock().sleep(1);
      seen.push(currentRequestId());
      runWithRequestId(undefined, () => seen.push(currentRequestId()));
    });
    const running = runWithRequestId("R1", work);
    runWithRequestId("R2", () => open());
    await running;
    expect(seen).toEqual(["R1", "R1", "R1", undefined]);
    expect(currentRequestId()).toBeUndefined();
  });
});

type ProbeMessage =
  | { readonly kind: "Probe"; readonly replyTo: ActorRef<ProbeReply> }
  | { readonly kind: "Relay"; readonly to: ActorRef<ProbeMessage>; readonly replyTo: ActorRef<ProbeReply> };
interface ProbeReply {
  readonly kind: "ProbeReply";
  readonly requestIds: readonly (string | undefined)[];
}

/** Answers a Probe with the request id it was handled in; a Relay asks `to` first and adds its own. */
function probeBehavior(): Behavior<null, ProbeMessage> {
  return {
    initialState: () => null,
    async receive(state, message, context: ActorContext<ProbeMessage>) {
      const mine = currentRequestId();
      actorLog(context, "debug", message.kind === "Probe" ? "probed" : "relayed");
      if (message.kind === "Probe") {
        context.tell(message.replyTo, { kind: "ProbeReply", requestIds: [mine] });
        return state;
      }
      const further = await context.ask<ProbeMessage, ProbeReply>(message.to, (replyTo) => ({ kind: "Probe", replyTo }), 5_000);
      context.tell(message.replyTo, { kind: "ProbeReply", requestIds: [mine, ...(isFault(further) ? ["fault"] : further.requestIds)] });
      return state;
    },
  };
}

describe("a request id follows messages across actors and nodes", () => {
  const nodes: TestNode[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.host.shutdown();
  });

  test("one host: an ask made in a request context is handled in it, and so is the ask that actor makes; a later message without one is not", async () => {
    capture("debug");
    const host = createNactHost({ nodeId: "node-a", random: random.fork("local") , log: () => undefined });
    try {
      const leaf = await host.spawn("leaf", probeBehavior());
      const relay = await host.spawn("relay", probeBehavior());
      const ask = (): Promise<ProbeReply | unknown> =>
        host.ask<ProbeMessage, ProbeReply>(relay, (replyTo) => ({ kind: "Relay", to: leaf, replyTo }), 5_000);
      expect(await runWithRequestId("LOCAL-1", ask)).toEqual({ kind: "ProbeReply", requestIds: ["LOCAL-1", "LOCAL-1"] });
      expect(await ask()).toEqual({ kind: "ProbeReply", requestIds: [undefined, undefined] });
      const relayed = lines.filter((line) => line["event"] === "relayed").map((line) => line["requestId"]);
      expect(relayed).toEqual(["LOCAL-1", undefined]);
      // The host noted which request each accepted message came with.
      const message = { kind: "Probe" as const, replyTo: actorRef<ProbeReply>("node-a", 1, "nobody") };
      runWithRequestId("NOTED", () => host.tell(leaf, message));
      expect(requestIdOfMessage(message)).toBe("NOTED");
    } finally {
      await host.shutdown();
    }
  });

  test("three nodes over the WebSocket transport: a → relay on b → leaf on c, all in the request's context", async () => {
    capture("debug");
    const directory = new Map<string, PeerAddress>();
    for (const nodeId of ["node-a", "node-b", "node-c"]) nodes.push(await startTestNode({ nodeId, directory, random: random.fork(nodeId) }));
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    const relay = await b.host.spawn("relay", probeBehavior());
    const leaf = await c.host.spawn("leaf", probeBehavior());
    const ask = (): Promise<unknown> => a.host.ask<ProbeMessage, ProbeReply>(relay, (replyTo) => ({ kind: "Relay", to: leaf, replyTo }), 5_000);
    expect(await runWithRequestId("CROSS-NODE-1", ask)).toEqual({ kind: "ProbeReply", requestIds: ["CROSS-NODE-1", "CROSS-NODE-1"] });
    expect(await ask()).toEqual({ kind: "ProbeReply", requestIds: [undefined, undefined] });
    const byNode = lines.filter((line) => line["requestId"] === "CROSS-NODE-1").map((line) => `${line["node"]}:${line["actor"]}:${line["event"]}`);
    expect(byNode.sort()).toEqual(["node-b:relay:relayed", "node-c:leaf:probed"]);
  });
});

describe("the envelope's requestId field", () => {
  const to = { nodeId: "node-b", incarnation: 1, path: "echo" };
  const decodeOne = (frames: Uint8Array[]): unknown => {
    const decoder = new FrameDecoder(defaultFrameLimits);
    let result: unknown;
    for (const frame of frames) result = decoder.push(frame);
    return result;
  };

  test("travels when set, is absent from the frame when not (so such frames are byte-for-byte what they were)", () => {
    const withId = decodeOne(encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: { kind: "Echo" }, requestId: "ABC" })) as { body: Record<string, unknown> };
    expect(withId.body["requestId"]).toBe("ABC");
    const plain = encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: { kind: "Echo" } });
    const undefinedId = encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: { kind: "Echo" }, requestId: undefined });
    expect(undefinedId).toEqual(plain);
    const decoded = decodeOne(plain) as { body: Record<string, unknown> };
    expect("requestId" in decoded.body).toBe(false);
  });

  test("a requestId that is not a short string refuses the frame", () => {
    const tooLong = encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: {}, requestId: "x".repeat(requestIdCharsMax + 1) });
    expect(isFrameError(decodeOne(tooLong))).toBe(true);
    const atMost = encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: {}, requestId: "x".repeat(requestIdCharsMax) });
    expect(isFrameError(decodeOne(atMost))).toBe(false);
    const notText = encodeMessageFrames({ to, from: "node-a", kind: "Echo", epoch: undefined, corr: 3, body: {}, requestId: 7 as unknown as string });
    expect(isFrameError(decodeOne(notText))).toBe(true);
  });
});
