import { afterEach, describe, expect, test } from "bun:test";
import { isFault, type Fault } from "../fault.ts";
import { randomSeed, seededRandom } from "../random.ts";
import { actorRef, type ActorRef } from "../ref.ts";
import { encodeControlFrame } from "./frame-codec.ts";
import {
  deadLetterLines,
  startTestNode,
  waitFor,
  type EchoMessage,
  type EchoReply,
  type TestNode,
  type TestNodeOptions,
} from "./testing/nodes.ts";
import { closeCodes, type LinkEvent, type PeerAddress } from "./transport.ts";

const seed = Number(process.env["CAIRN_TEST_SEED"] ?? randomSeed());
console.log(`transport.test.ts seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test runtime/transport/transport.test.ts)`);
const random = seededRandom(seed);

let directory = new Map<string, PeerAddress>();
const running: TestNode[] = [];

async function start(options: Omit<TestNodeOptions, "directory" | "random">): Promise<TestNode> {
  const node = await startTestNode({ ...options, directory, random: random.fork(`${options.nodeId}:${running.length}`) });
  running.push(node);
  return node;
}

afterEach(async () => {
  for (const node of running.splice(0)) await node.host.shutdown();
  directory = new Map();
});

function echo(from: TestNode, to: ActorRef<EchoMessage>, payload: unknown, timeoutMs = 10_000): Promise<EchoReply | Fault> {
  return from.host.ask<EchoMessage, EchoReply>(to, (replyTo) => ({ kind: "Echo", payload, replyTo }), timeoutMs);
}

function expectFault(value: unknown, kind: Fault["fault"]): void {
  if (!isFault(value)) throw new Error(`expected a ${kind} fault, got ${JSON.stringify(value)}`);
  expect(value.fault).toBe(kind);
}

describe("transport between two hosts over loopback", () => {
  test("tell and ask both ways; per-pair order kept; one link for the pair", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const events: LinkEvent[] = [];
    a.transport.onLinkEvent((event) => events.push(event));

    const fromA = await echo(a, b.echo, { hello: "from a" });
    expect(fromA).toEqual({ kind: "EchoReply", payload: { hello: "from a" }, from: "node-b" });
    const fromB = await echo(b, a.echo, [1, "two"]);
    expect(fromB).toEqual({ kind: "EchoReply", payload: [1, "two"], from: "node-a" });

    // 2,000 tells each way, interleaved with nothing: each side must see them in send order.
    for (let sequence = 0; sequence < 2_000; sequence += 1) {
      a.host.tell(b.echo, { kind: "Record", sequence });
      b.host.tell(a.echo, { kind: "Record", sequence });
    }
    const seenAtB = await a.host.ask<EchoMessage, number[]>(b.echo, (replyTo) => ({ kind: "Recorded", replyTo }), 10_000);
    const seenAtA = await b.host.ask<EchoMessage, number[]>(a.echo, (replyTo) => ({ kind: "Recorded", replyTo }), 10_000);
    const expected = Array.from({ length: 2_000 }, (_, index) => index);
    expect(seenAtB).toEqual(expected);
    expect(seenAtA).toEqual(expected);

    expect(a.transport.stats().linksAdopted).toBe(1);
    expect(b.transport.stats().linksAdopted).toBe(1);
    expect(events).toEqual([{ type: "up", nodeId: "node-b", incarnation: 1, dialedBy: "node-a" }]);
    expect(a.transport.peerIncarnation("node-b")).toBe(1);
    const rttMs = await a.transport.ping("node-b", 5_000);
    expect(typeof rttMs === "number" && rttMs >= 0).toBe(true);
    expect(a.host.deadLetterCount() + b.host.deadLetterCount()).toBe(0);
  });

  test("a 4 MiB shard round-trips byte-exact as a binary part", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const shard = random.bytes(4 * 1024 * 1024);
    const reply = await echo(a, b.echo, { kind: "AppendShard", bytes: shard, nested: [random.bytes(3_000)] });
    if (isFault(reply)) throw new Error(`fault: ${reply.detail}`);
    const payload = reply.payload as { bytes: Uint8Array; nested: Uint8Array[] };
    expect(payload.bytes).toBeInstanceOf(Uint8Array);
    expect(payload.bytes.byteLength).toBe(shard.byteLength);
    expect(Buffer.compare(payload.bytes, shard)).toBe(0);
    expect(payload.nested[0]!.byteLength).toBe(3_000);
    // Two parts each way (the shard and the 3,000-byte array), counted as part bytes, not inside MessagePack.
    expect(a.transport.stats().partBytesSent).toBe(shard.byteLength + 3_000);
    expect(b.transport.stats().partBytesSent).toBe(shard.byteLength + 3_000);
  });

  test("simultaneous dials from both ends settle on one link and lose nothing", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const [fromA, fromB] = await Promise.all([echo(a, b.echo, "a"), echo(b, a.echo, "b")]);
    expect(fromA).toMatchObject({ payload: "a" });
    expect(fromB).toMatchObject({ payload: "b" });
    await waitFor(() => a.transport.linkState("node-b") === "up" && b.transport.linkState("node-a") === "up", "both links up");
    // Whichever way the race went, afterwards each side holds one link and traffic flows.
    for (let round = 0; round < 20; round += 1) {
      expect(await echo(a, b.echo, round)).toMatchObject({ payload: round });
      expect(await echo(b, a.echo, round)).toMatchObject({ payload: round });
    }
    expect(a.host.deadLetterCount() + b.host.deadLetterCount()).toBe(0);
  });

  test("an ask to an unknown actor fails at once with a fault, and both sides count a dead letter", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const missing = actorRef<EchoMessage>("node-b", 1, "no/such/actor");
    // A minute's timeout: only the peer's "undeliverable" answer can end this ask in time.
    const reply = await echo(a, missing, "anyone?", 60_000);
    expectFault(reply, "Unreachable");
    expect((reply as Fault).detail).toContain("unknown actor");
    expect(a.host.deadLetterCount()).toBe(1);
    expect(b.host.deadLetterCount()).toBe(1);
    expect(deadLetterLines(b)[0]).toMatchObject({ to: "node-b#1:no/such/actor", kind: "Echo", reason: "from node-a: unknown actor" });
    expect(deadLetterLines(a)[0]).toMatchObject({ to: "node-b#1:no/such/actor", kind: "Echo", reason: "refused by node-b: unknown actor" });

    // A tell is refused the same way: counted on both sides, never silently dropped.
    a.host.tell(missing, { kind: "Record", sequence: 1 });
    await waitFor(() => a.host.deadLetterCount() === 2 && b.host.deadLetterCount() === 2, "tell counted on both sides");
  });

  test("a message that does not match the actor's wire schema is refused as invalid (Corrupt), counted on both sides", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const wrongShape = b.echo as unknown as ActorRef<{ kind: string; replyTo: unknown }>;
    a.host.tell(wrongShape as unknown as ActorRef<unknown>, { kind: "Record", sequence: "not a number" });
    await waitFor(() => a.host.deadLetterCount() === 1 && b.host.deadLetterCount() === 1, "invalid tell counted on both sides");
    // An incarnation of 0 breaks the schema's `minimum: 1`.
    const invalid = await a.host.ask(wrongShape, (replyTo) => ({ kind: "Recorded", replyTo: { ...replyTo, incarnation: 0 } }), 60_000);
    expectFault(invalid, "Corrupt");
    expect(deadLetterLines(b).at(-1)).toMatchObject({ reason: "from node-a: invalid message", kind: "Recorded" });
    expect(deadLetterLines(a).at(-1)).toMatchObject({ reason: "refused by node-b: invalid message" });
    // Local messages are not checked against the wire schema (they never crossed a wire).
    b.host.tell(b.echo as unknown as ActorRef<unknown>, { kind: "Record", sequence: 1.5 });
    const recorded = await b.host.ask<EchoMessage, number[]>(b.echo, (replyTo) => ({ kind: "Recorded", replyTo }), 5_000);
    expect(recorded).toEqual([1.5]);
  });

  test("a restarted peer (incarnation + 1, same port) refuses refs of its old run; the sender learns the new incarnation", async () => {
    const a = await start({ nodeId: "node-a" });
    const b1 = await start({ nodeId: "node-b" });
    expect(await echo(a, b1.echo, 1)).toMatchObject({ payload: 1 });
    const oldRef = b1.echo;
    await b1.host.shutdown();
    running.splice(running.indexOf(b1), 1);
    const b2 = await start({ nodeId: "node-b", incarnation: 2, port: b1.address.port });
    expect(b2.address.port).toBe(b1.address.port);

    // A node that never met node-b sends to the old run: the handshake tells it
    // node-b's incarnation, so it refuses the queued message itself.
    const c = await start({ nodeId: "node-c" });
    const refused = await echo(c, oldRef, "stale", 60_000);
    expectFault(refused, "Unreachable");
    expect((refused as Fault).detail).toContain("dead incarnation");
    expect(c.host.deadLetterCount()).toBe(1);
    // A ref that names a run the sender has not seen (a future one) goes out and node-b refuses it: both count.
    const futureRef = actorRef<EchoMessage>("node-b", 3, "echo");
    const refusedByPeer = await echo(c, futureRef, "too new", 60_000);
    expectFault(refusedByPeer, "Unreachable");
    expect((refusedByPeer as Fault).detail).toContain("refused by node-b: dead incarnation");
    expect(deadLetterLines(b2).at(-1)).toMatchObject({ reason: "from node-c: dead incarnation", to: "node-b#3:echo" });
    expect(c.host.deadLetterCount()).toBe(2);
    expect(b2.host.deadLetterCount()).toBe(1);

    // node-a reconnects to the new run and then refuses the old ref itself.
    await waitFor(() => a.transport.peerIncarnation("node-b") === 2 || a.transport.linkState("node-b") === "unreachable", "node-a notices the restart");
    expect(await echo(a, b2.echo, 2)).toMatchObject({ payload: 2, from: "node-b" });
    expect(a.transport.peerIncarnation("node-b")).toBe(2);
    const beforeCount = a.host.deadLetterCount();
    const stale = await echo(a, oldRef, "stale", 60_000);
    expectFault(stale, "Unreachable");
    expect((stale as Fault).detail).toContain("dead incarnation");
    expect(a.host.deadLetterCount()).toBe(beforeCount + 1);
  });

  test("a stale run of a node (an older incarnation) cannot take the link from the current one", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b", incarnation: 5 });
    expect(await echo(a, b.echo, "current")).toMatchObject({ payload: "current" });
    const bAddress = directory.get("node-b")!;
    const zombie = await start({ nodeId: "node-b", incarnation: 4 });
    directory.set("node-b", bAddress);
    expectFault(await echo(zombie, a.echo, "I am node-b", 60_000), "Unreachable");
    expect(a.logs.some((line) => line["event"] === "transport-stale-incarnation" && line["incarnation"] === 4)).toBe(true);
    expect(a.transport.peerIncarnation("node-b")).toBe(5);
    expect(a.transport.linkState("node-b")).toBe("up");
    expect(await echo(a, b.echo, "still current")).toMatchObject({ payload: "still current", from: "node-b" });
  });

  test("a wrong fleet secret is refused at the handshake: logged, nothing delivered, the asker gets Unreachable", async () => {
    const a = await start({ nodeId: "node-a" });
    const intruder = await start({ nodeId: "node-z", fleetSecret: "not-the-fleet-secret-at-all-000000" });
    intruder.host.tell(a.echo, { kind: "Record", sequence: 666 });
    const reply = await echo(intruder, a.echo, "let me in", 60_000);
    expectFault(reply, "Unreachable");
    // The dialer checks the acceptor's proof first, so node-z finds the mismatch and node-a sees the refusal.
    await waitFor(() => intruder.logs.some((line) => line["event"] === "transport-authentication-failed"), "dialer logs the failure");
    await waitFor(() => a.logs.some((line) => line["event"] === "transport-handshake-refused"), "acceptor logs the refusal");
    expect(intruder.transport.stats().authenticationFailures).toBeGreaterThanOrEqual(1);
    expect(intruder.transport.stats().linksAdopted).toBe(0);
    expect(a.transport.stats().linksAdopted).toBe(0);
    expect(a.transport.stats().messagesReceived).toBe(0);
    const recorded = await a.host.ask<EchoMessage, number[]>(a.echo, (replyTo) => ({ kind: "Recorded", replyTo }), 5_000);
    expect(recorded).toEqual([]);
    // The other way round: node-a dials node-z and finds the mismatch itself.
    expectFault(await echo(a, intruder.echo, "hello?", 60_000), "Unreachable");
    expect(a.transport.stats().authenticationFailures).toBeGreaterThanOrEqual(1);
    expect(intruder.transport.stats().messagesReceived).toBe(0);
    // The tell and the ask never left node-z: both are its dead letters.
    expect(intruder.host.deadLetterCount()).toBe(2);
  });

  test("a killed peer: waiting and new asks resolve Unreachable promptly; when it returns, traffic flows again", async () => {
    const a = await start({ nodeId: "node-a" });
    const b = await start({ nodeId: "node-b" });
    const events: LinkEvent[] = [];
    a.transport.onLinkEvent((event) => events.push(event));
    expect(await echo(a, b.echo, "up")).toMatchObject({ payload: "up" });

    // An ask that b will never answer, with a timeout far beyond the test's patience.
    const swallowed = a.host.ask<EchoMessage, unknown>(b.echo, (replyTo) => ({ kind: "Swallow", replyTo }), 120_000);
    await waitFor(() => b.transport.stats().messagesReceived >= 2, "b received the swallowed ask");
    const port = b.address.port;
    await b.host.shutdown();
    running.splice(running.indexOf(b), 1);
    expectFault(await swallowed, "Unreachable");
    expect(events.some((event) => event.type === "down" && event.nodeId === "node-b")).toBe(true);

    // Past the grace, a new ask fails at once (no dial wait, no timeout wait).
    await waitFor(() => a.transport.linkState("node-b") === "unreachable", "link marked unreachable");
    expectFault(await echo(a, b.echo, "anyone?", 120_000), "Unreachable");
    const tellsBefore = a.host.deadLetterCount();
    a.host.tell(b.echo, { kind: "Record", sequence: 1 });
    expect(a.host.deadLetterCount()).toBe(tellsBefore + 1);

    // The node comes back (a new run at the same address): node-a's reconnect loop finds it.
    const b2 = await start({ nodeId: "node-b", incarnation: 2, port });
    await waitFor(() => a.transport.linkState("node-b") === "up", "node-a reconnects");
    expect(await echo(a, b2.echo, "back")).toMatchObject({ payload: "back", from: "node-b" });
    expect(events.filter((event) => event.type === "up").map((event) => (event as { incarnation: number }).incarnation)).toEqual([1, 2]);
  });

  test("outbox bound: beyond it a tell is a counted dead letter and an ask is Overloaded", async () => {
    const a = await start({ nodeId: "node-a", limits: { outboxMessagesMax: 3 } });
    const b = await start({ nodeId: "node-b" });
    // No link yet: the first messages wait in the outbox while node-a dials.
    for (let sequence = 0; sequence < 3; sequence += 1) a.host.tell(b.echo, { kind: "Record", sequence });
    a.host.tell(b.echo, { kind: "Record", sequence: 3 });
    expect(a.host.deadLetterCount()).toBe(1);
    expect(deadLetterLines(a)[0]).toMatchObject({ reason: "outbox full", kind: "Record" });
    expectFault(await echo(a, b.echo, "full"), "Overloaded");
    await waitFor(() => a.transport.linkState("node-b") === "up", "link up");
    const recorded = await a.host.ask<EchoMessage, number[]>(b.echo, (replyTo) => ({ kind: "Recorded", replyTo }), 10_000);
    expect(recorded).toEqual([0, 1, 2]);
  });

  test("backpressure: above the socket's high-water mark messages queue in the bounded outbox", async () => {
    const a = await start({ nodeId: "node-a", limits: { outboxMessagesMax: 1, socketBufferedBytesHighWater: 1 } });
    const b = await start({ nodeId: "node-b" });
    expect(await echo(a, b.echo, "link up")).toMatchObject({ payload: "link up" });
    // 16 MiB per message: more than loopback's socket buffers take at once, so the socket reports buffered bytes.
    const big = () => ({ kind: "Echo" as const, payload: { one: random.bytes(8 * 1024 * 1024), two: random.bytes(8 * 1024 * 1024) } });
    const first = a.host.ask<EchoMessage, EchoReply>(b.echo, (replyTo) => ({ ...big(), replyTo }), 30_000);
    const second = a.host.ask<EchoMessage, EchoReply>(b.echo, (replyTo) => ({ ...big(), replyTo }), 30_000);
    const third = a.host.ask<EchoMessage, EchoReply>(b.echo, (replyTo) => ({ ...big(), replyTo }), 30_000);
    expectFault(await third, "Overloaded");
    // The queued one is sent when the socket drains.
    expect(isFault(await first)).toBe(false);
    expect(isFault(await second)).toBe(false);
  });

  test("corrupt, text and oversized frames close the socket with a log; the transport keeps serving", async () => {
    const a = await start({ nodeId: "node-a", limits: { partBytesMax: 64 * 1024, headFrameBytesMax: 16 * 1024 } });
    const b = await start({ nodeId: "node-b" });
    const url = `ws://127.0.0.1:${a.address.port}/cairn/v1`;
    const closeCode = (send: (socket: WebSocket) => void): Promise<number> =>
      new Promise((resolve) => {
        const socket = new WebSocket(url);
        socket.binaryType = "arraybuffer";
        socket.onopen = () => send(socket);
        socket.onclose = (event) => resolve(event.code);
      });
    expect(await closeCode((socket) => socket.send(random.bytes(100)))).toBe(closeCodes.protocol);
    expect(await closeCode((socket) => socket.send("hello as text"))).toBe(closeCodes.protocol);
    expect(await closeCode((socket) => socket.send(encodeControlFrame("ping", { sequence: 1 })))).toBe(closeCodes.protocol);
    const truncatedHead = encodeControlFrame("hello", { nodeId: "x" }).subarray(0, 3);
    expect(await closeCode((socket) => socket.send(truncatedHead))).toBe(closeCodes.protocol);
    expect(await closeCode((socket) => socket.send(new Uint8Array(20 * 1024)))).toBe(closeCodes.oversized);
    // Beyond the server's payload limit Bun closes the socket itself (1009, message too big).
    expect(await closeCode((socket) => socket.send(new Uint8Array(200 * 1024)))).toBe(1009);
    const refusals = a.logs.filter((line) => line["event"] === "transport-frame-refused");
    expect(refusals.length).toBe(5);
    // Still serving: a real peer gets through.
    expect(await echo(b, a.echo, "still here")).toMatchObject({ payload: "still here" });
  });
});

describe("transport across processes", () => {
  test("a node in a child process: asks both ways, a 4 MiB shard, then SIGKILL → Unreachable promptly", async () => {
    const a = await start({ nodeId: "node-a" });
    const child = Bun.spawn([process.execPath, "run", `${import.meta.dir}/testing/child-node.ts`], {
      env: { ...process.env, CAIRN_CHILD_NODE_ID: "node-b", CAIRN_PARENT_NODE_ID: "node-a", CAIRN_PARENT_PORT: String(a.address.port), CAIRN_TEST_SEED: String(seed) },
      stdout: "pipe",
      stderr: "ignore",
    });
    try {
      const lines: Record<string, unknown>[] = [];
      const reading = (async () => {
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of child.stdout) {
          buffered += decoder.decode(chunk);
          for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
            lines.push(JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>);
            buffered = buffered.slice(newline + 1);
          }
        }
      })();
      await waitFor(() => lines.some((line) => "ready" in line), "child ready", 15_000);
      const port = (lines.find((line) => "ready" in line)!["ready"] as { port: number }).port;
      directory.set("node-b", { host: "127.0.0.1", port });
      await waitFor(() => lines.some((line) => "askedParent" in line), "child asked the parent", 15_000);
      expect(lines.find((line) => "askedParent" in line)!["askedParent"]).toEqual({ from: "node-b", pid: child.pid });

      const childEcho = actorRef<EchoMessage>("node-b", 1, "echo");
      const shard = random.bytes(4 * 1024 * 1024);
      const reply = await echo(a, childEcho, shard, 15_000);
      if (isFault(reply)) throw new Error(`fault: ${reply.detail}`);
      expect(Buffer.compare(reply.payload as Uint8Array, shard)).toBe(0);

      const swallowed = a.host.ask<EchoMessage, unknown>(childEcho, (replyTo) => ({ kind: "Swallow", replyTo }), 120_000);
      child.kill("SIGKILL");
      await child.exited;
      expectFault(await swallowed, "Unreachable");
      await reading;
    } finally {
      child.kill("SIGKILL");
    }
  });
});
