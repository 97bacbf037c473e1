/**
 * Node-to-node transport figures between two processes on this machine.
 *
 *   bun run bench/transport.ts [--asks N] [--tells N] [--shards N]
 *   npm run bench:transport
 *
 * The parent starts node-a; a child process (this file with `--peer`) starts
 * node-b plus two raw WebSocket echo servers. For each of
 *   cairn   — Cairn host → WebSocket transport (Bun's sockets, Cairn frames)
 *   bun-raw — Bun.serve + Bun's WebSocket client, bare binary messages
 *   ws-raw  — the npm `ws` package (loaded by path, so Bun's built-in `ws`
 *             stand-in is not what runs) for server and client, bare messages
 * it measures, in one run:
 *   ask  — round trip of a small request, one at a time: p50/p99 (µs)
 *   tell — one-way small messages per second (a count round trip every
 *          5,000 so queues stay bounded; the same pacing for every path)
 *   shard — 1 MiB payloads acknowledged by a small reply, 8 in flight: MiB/s
 */
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import {
  actorRef,
  createNactHost,
  createWebSocketTransport,
  isFault,
  seededRandom,
  systemClock,
  type ActorRef,
  type Behavior,
  type Host,
} from "../runtime/index.ts";

const npmWs = createRequire(import.meta.url)("../node_modules/ws/index.js") as typeof import("ws");

const { values } = parseArgs({
  options: {
    peer: { type: "boolean", default: false },
    asks: { type: "string", default: "5000" },
    tells: { type: "string", default: "200000" },
    shards: { type: "string", default: "512" },
  },
});

const fleetSecret = "bench-fleet-secret-0123456789abcdef";
const clock = systemClock();
const tellWindow = 5_000;
const shardWindow = 8;
const shardBytes = 1024 * 1024;

type SinkMessage =
  | { readonly kind: "Echo"; readonly payload: unknown; readonly replyTo: ActorRef<unknown> }
  | { readonly kind: "Count" }
  | { readonly kind: "GetCount"; readonly replyTo: ActorRef<number> }
  | { readonly kind: "Put"; readonly bytes: Uint8Array; readonly replyTo: ActorRef<number> };

function sinkBehavior(): Behavior<{ count: number }, SinkMessage> {
  return {
    initialState: () => ({ count: 0 }),
    receive(state, message, context) {
      switch (message.kind) {
        case "Echo":
          context.tell(message.replyTo, message.payload);
          return state;
        case "Count":
          state.count += 1;
          return state;
        case "GetCount":
          context.tell(message.replyTo, state.count);
          return state;
        case "Put":
          context.tell(message.replyTo, message.bytes.byteLength);
          return state;
      }
    },
  };
}

// Raw protocol, first byte: 1 echo, 2 count, 3 get count (reply: uint32), 4 put (reply: one byte).
function rawReply(state: { count: number }, data: Uint8Array): Uint8Array | undefined {
  switch (data[0]) {
    case 1:
      return data;
    case 2:
      state.count += 1;
      return undefined;
    case 3: {
      const reply = new Uint8Array(4);
      new DataView(reply.buffer).setUint32(0, state.count);
      return reply;
    }
    default:
      return new Uint8Array([1]);
  }
}

async function runPeer(): Promise<void> {
  const transport = createWebSocketTransport({
    nodeId: "node-b",
    incarnation: 1,
    listen: { host: "127.0.0.1", port: 0 },
    fleetSecret,
    peers: (nodeId) => (nodeId === "node-a" ? { host: "127.0.0.1", port: Number(process.env["BENCH_PARENT_PORT"]) } : undefined),
    random: seededRandom(2),
    log: () => undefined,
  });
  const host = createNactHost({ nodeId: "node-b", random: seededRandom(3), transport, log: () => undefined });
  await host.spawn("sink", sinkBehavior(), { mailboxMax: 100_000 });

  const bunState = { count: 0 };
  const bunServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request, server) => (server.upgrade(request, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      maxPayloadLength: 16 * 1024 * 1024,
      message(ws, data) {
        const reply = rawReply(bunState, typeof data === "string" ? new TextEncoder().encode(data) : data);
        if (reply !== undefined) ws.send(reply);
      },
    },
  });

  const wsState = { count: 0 };
  const wsServer = new npmWs.WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false });
  wsServer.on("connection", (socket) => {
    socket.on("message", (data: Buffer) => {
      const reply = rawReply(wsState, data);
      if (reply !== undefined) socket.send(reply);
    });
  });
  await new Promise<void>((resolve) => wsServer.once("listening", () => resolve()));
  const wsPort = (wsServer.address() as { port: number }).port;
  console.log(JSON.stringify({ cairnPort: transport.address().port, bunPort: bunServer.port, wsPort }));
  // Serve until the parent closes our stdin (or kills us).
  for await (const _chunk of Bun.stdin.stream()) {
    // Nothing is read; the loop ends when the parent is gone.
  }
  process.exit(0);
}

interface Figures {
  readonly askP50Us: number;
  readonly askP99Us: number;
  readonly tellsPerSecond: number;
  readonly shardMiBPerSecond: number;
}

/** A path under test: an ask of a small request, a one-way tell, a count round trip, a 1 MiB put. */
interface Path {
  ask(): Promise<void>;
  tell(): void;
  count(): Promise<number>;
  put(bytes: Uint8Array): Promise<void>;
}

function percentile(sortedUs: readonly number[], fraction: number): number {
  return sortedUs[Math.min(sortedUs.length - 1, Math.floor(sortedUs.length * fraction))]!;
}

async function measure(path: Path, asks: number, tells: number, shards: number, payload: Uint8Array): Promise<Figures> {
  for (let index = 0; index < Math.min(500, asks); index += 1) await path.ask();
  const latenciesUs: number[] = [];
  for (let index = 0; index < asks; index += 1) {
    const startMs = clock.monotonicMs();
    await path.ask();
    latenciesUs.push((clock.monotonicMs() - startMs) * 1000);
  }
  latenciesUs.sort((left, right) => left - right);

  const countBefore = await path.count();
  const tellStartMs = clock.monotonicMs();
  for (let sent = 0; sent < tells; ) {
    const batch = Math.min(tellWindow, tells - sent);
    for (let index = 0; index < batch; index += 1) path.tell();
    sent += batch;
    const counted = await path.count();
    if (counted - countBefore !== sent) throw new Error(`tell count ${counted - countBefore}, sent ${sent}: messages were lost`);
  }
  const tellSeconds = (clock.monotonicMs() - tellStartMs) / 1000;

  const shardStartMs = clock.monotonicMs();
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < shards) {
      started += 1;
      await path.put(payload);
    }
  };
  await Promise.all(Array.from({ length: shardWindow }, () => worker()));
  const shardSeconds = (clock.monotonicMs() - shardStartMs) / 1000;
  return {
    askP50Us: percentile(latenciesUs, 0.5),
    askP99Us: percentile(latenciesUs, 0.99),
    tellsPerSecond: tells / tellSeconds,
    shardMiBPerSecond: (shards * payload.byteLength) / (1024 * 1024) / shardSeconds,
  };
}

function cairnPath(host: Host): Path {
  const sink = actorRef<SinkMessage>("node-b", 1, "sink");
  const check = <T>(value: T): T => {
    if (isFault(value)) throw new Error(`fault: ${value.fault} ${value.detail}`);
    return value;
  };
  return {
    ask: async () => {
      check(await host.ask<SinkMessage, unknown>(sink, (replyTo) => ({ kind: "Echo", payload: "ping-0123456789", replyTo }), 10_000));
    },
    tell: () => host.tell(sink, { kind: "Count" }),
    count: async () => check(await host.ask<SinkMessage, number>(sink, (replyTo) => ({ kind: "GetCount", replyTo }), 30_000)) as number,
    put: async (bytes) => {
      check(await host.ask<SinkMessage, number>(sink, (replyTo) => ({ kind: "Put", bytes, replyTo }), 30_000));
    },
  };
}

/** A raw client over anything with `send` and an in-order reply stream. */
function rawPath(send: (bytes: Uint8Array) => void, onReply: (handler: (data: Uint8Array) => void) => void): Path {
  const waiting: ((data: Uint8Array) => void)[] = [];
  let head = 0;
  onReply((data) => {
    const resolve = waiting[head];
    head += 1;
    if (head > 4096) {
      waiting.splice(0, head);
      head = 0;
    }
    resolve?.(data);
  });
  const request = (bytes: Uint8Array): Promise<Uint8Array> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      send(bytes);
    });
  const echoRequest = new Uint8Array([1, ...new TextEncoder().encode("ping-0123456789")]);
  const countRequest = new Uint8Array([2]);
  const getCount = new Uint8Array([3]);
  return {
    ask: async () => {
      await request(echoRequest);
    },
    tell: () => send(countRequest),
    count: async () => {
      const reply = await request(getCount);
      return new DataView(reply.buffer, reply.byteOffset, reply.byteLength).getUint32(0);
    },
    put: async (bytes) => {
      await request(bytes);
    },
  };
}

async function bunRawPath(port: number): Promise<Path> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
  socket.binaryType = "arraybuffer";
  await new Promise<void>((resolve) => (socket.onopen = () => resolve()));
  return rawPath(
    (bytes) => socket.send(bytes),
    (handler) => (socket.onmessage = (event: MessageEvent) => handler(new Uint8Array(event.data as ArrayBuffer))),
  );
}

async function wsRawPath(port: number): Promise<Path> {
  const socket = new npmWs.WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise<void>((resolve) => socket.once("open", () => resolve()));
  return rawPath(
    (bytes) => socket.send(bytes),
    (handler) => socket.on("message", (data: Buffer) => handler(data)),
  );
}

async function runParent(): Promise<void> {
  const asks = Number(values.asks);
  const tells = Number(values.tells);
  const shards = Number(values.shards);
  const transport = createWebSocketTransport({
    nodeId: "node-a",
    incarnation: 1,
    listen: { host: "127.0.0.1", port: 0 },
    fleetSecret,
    random: seededRandom(1),
    log: () => undefined,
  });
  const host = createNactHost({ nodeId: "node-a", random: seededRandom(4), transport, log: () => undefined });
  const child = Bun.spawn([process.execPath, "run", import.meta.path, "--peer"], {
    env: { ...process.env, BENCH_PARENT_PORT: String(transport.address().port) },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const ports = JSON.parse(new TextDecoder().decode(value).trim()) as { cairnPort: number; bunPort: number; wsPort: number };
    transport.setPeer("node-b", { host: "127.0.0.1", port: ports.cairnPort });

    // Payload bytes fixed by a seed; 1 MiB with the 1-byte `put` tag for the raw paths.
    const payload = seededRandom(5).bytes(shardBytes);
    const rawPayload = new Uint8Array(shardBytes);
    rawPayload.set(payload);
    rawPayload[0] = 4;

    console.log(`transport bench: bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, asks=${asks} tells=${tells} shards=${shards} × 1 MiB`);
    const rows: [string, Figures][] = [];
    rows.push(["cairn", await measure(cairnPath(host), asks, tells, shards, payload)]);
    rows.push(["bun-raw", await measure(await bunRawPath(ports.bunPort), asks, tells, shards, rawPayload)]);
    rows.push(["ws-raw", await measure(await wsRawPath(ports.wsPort), asks, tells, shards, rawPayload)]);
    for (const [name, figures] of rows) {
      console.log(
        `${name.padEnd(8)} ask p50 ${figures.askP50Us.toFixed(0).padStart(5)} µs  p99 ${figures.askP99Us.toFixed(0).padStart(5)} µs` +
          `   tell ${figures.tellsPerSecond.toFixed(0).padStart(8)} msg/s   shard ${figures.shardMiBPerSecond.toFixed(0).padStart(5)} MiB/s`,
      );
    }
    if (host.deadLetterCount() !== 0) console.log(`dead letters on node-a: ${host.deadLetterCount()}`);
  } finally {
    child.stdin.end();
    child.kill();
    await host.shutdown();
  }
  process.exit(0);
}

if (values.peer) await runPeer();
else await runParent();
