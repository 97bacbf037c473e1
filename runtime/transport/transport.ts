/**
 * The node-to-node transport: one authenticated WebSocket per pair of nodes,
 * carrying the frames of `frame-codec.ts`.
 *
 * Sockets are Bun's own: `Bun.serve` accepts, the global `WebSocket` dials.
 * `bench/transport.ts` measured them against the `ws` package under Bun
 * (figures in `README.md` and `bench/RESULTS.md`).
 *
 * Who dials: either node dials when it has traffic for a peer and no link.
 * When both dial at once, the connection dialed by the node with the lower
 * id wins, decided at the acceptor when the dialer's proof checks out:
 * - the acceptor has a link already: the new connection replaces it (the
 *   dialer would not dial unless its side of the old link was gone), except
 *   when that link was dialed by the acceptor and the acceptor's id is the
 *   lower: then the new one is a leftover of a simultaneous connect and is
 *   refused (close 4001);
 * - the acceptor is dialing the same peer itself: if the dialer's id is
 *   lower, the acceptor drops its own dial and adopts; otherwise it refuses
 *   the connection (close 4001) and its own dial wins at the other end;
 * - otherwise it adopts.
 * The acceptor sends `welcome` only when it adopts, and the dialer sends
 * nothing but handshake frames before `welcome`, so a refused connection
 * never carries a message. One pair therefore has one link, and the frames
 * of one direction keep their order.
 */
import { assert } from "../assert.ts";
import type { Clock, Random } from "../behavior.ts";
import { sleepUnlessAborted, systemClock } from "../clock.ts";
import { fault, type Fault } from "../fault.ts";
import { currentRequestId } from "../log.ts";
import { randomSeed, seededRandom } from "../random.ts";
import { refText, type ActorRef, type NodeId } from "../ref.ts";
import {
  FrameDecoder,
  defaultFrameLimits,
  encodeControlFrame,
  encodeMessageFrames,
  isFrameError,
  messageLabels,
  type DecodedFrame,
  type FrameLimits,
} from "./frame-codec.ts";
import { handshakeProof, nonceBytes, proofMatches, type HandshakeFacts } from "./handshake.ts";

/** Where a node listens. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** Limits of a transport. Every queue, wait and retry has one. */
export interface TransportLimits extends FrameLimits {
  /** Most messages waiting in one peer's outbox (link not up, or socket above the high-water mark). */
  readonly outboxMessagesMax: number;
  /** Most bytes (head frames and parts) waiting in one peer's outbox. */
  readonly outboxBytesMax: number;
  /** Above this many bytes buffered in a socket, new messages wait in the outbox. */
  readonly socketBufferedBytesHighWater: number;
  /** Largest message, head and parts together. */
  readonly messageBytesMax: number;
  /** How long a link may be down before queued messages and waiting asks fail as `Unreachable`. */
  readonly unreachableGraceMs: number;
  /** First reconnect delay; doubles per failed dial up to `reconnectBackoffMsMax`; jittered in [½, 1] of it. */
  readonly reconnectBackoffMsInitial: number;
  readonly reconnectBackoffMsMax: number;
  /** Failed dials in a row before the transport stops retrying until the next send or `connect`. */
  readonly reconnectAttemptsMax: number;
  /** A connection not authenticated within this is closed. */
  readonly handshakeTimeoutMs: number;
  /** A link sends a heartbeat ping this often. */
  readonly heartbeatIntervalMs: number;
  /** A link that received nothing for this long is closed as dead. */
  readonly linkSilenceMsMax: number;
  /** How often a full outbox re-checks the socket's buffered amount. */
  readonly drainPollMs: number;
}

export const defaultTransportLimits: TransportLimits = {
  ...defaultFrameLimits,
  outboxMessagesMax: 10_000,
  outboxBytesMax: 256 * 1024 * 1024,
  socketBufferedBytesHighWater: 8 * 1024 * 1024,
  messageBytesMax: 64 * 1024 * 1024,
  unreachableGraceMs: 1_000,
  reconnectBackoffMsInitial: 50,
  reconnectBackoffMsMax: 5_000,
  reconnectAttemptsMax: 50,
  handshakeTimeoutMs: 5_000,
  heartbeatIntervalMs: 1_000,
  linkSilenceMsMax: 5_000,
  drainPollMs: 1,
};

export interface WebSocketTransportOptions {
  readonly nodeId: NodeId;
  /** This run of the node; must equal the host's. */
  readonly incarnation: number;
  /** Where to listen. Port 0 picks a free port (see `address()`). */
  readonly listen: PeerAddress;
  /** Shared by every node of the fleet; never sent. At least 16 bytes. */
  readonly fleetSecret: string | Uint8Array;
  /** Looks up a peer's address when `setPeer` has none (membership feeds one or the other). */
  readonly peers?: (nodeId: NodeId) => PeerAddress | undefined;
  /** Times heartbeats, backoffs and the unreachable grace. Defaults to `systemClock()`. */
  readonly clock?: Clock;
  /** Jitters reconnect delays. Defaults to a fresh seed, which is logged. */
  readonly random?: Random;
  readonly limits?: Partial<TransportLimits>;
  /** Structured log lines. Defaults to JSON on stderr. */
  readonly log?: (line: Record<string, unknown>) => void;
}

/**
 * Why the transport did not take a message. `unknown node`: no address for
 * it; `unreachable`: its link has been down longer than the grace;
 * `dead incarnation`: the peer has since restarted; `outbox full`: too much
 * waiting already; `not encodable`: the message breaks a wire limit.
 */
export type SendRefusal = "unknown node" | "unreachable" | "dead incarnation" | "outbox full" | "not encodable";
export type SendOutcome = "accepted" | SendRefusal;

/** A message this node sent that was not delivered, reported back to the host. */
export interface UndeliverableReport {
  readonly to: ActorRef<unknown>;
  readonly kind: string | undefined;
  /** The sender's ask number, 0 for a tell. */
  readonly corr: number;
  readonly reason: string;
  /** `peer`: the receiving node refused it; `transport`: it never left this node (link down beyond grace, shutdown). */
  readonly refusedBy: "peer" | "transport";
}

/** What the transport needs from the host it serves. */
export interface TransportReceiver {
  /**
   * A message from `from` for an actor on this node: `"delivered"` or why not
   * (sent back to the sender). `requestId` is the S3 request the sender was
   * serving when it sent it (the envelope's optional field), if any.
   */
  deliver(to: ActorRef<unknown>, message: unknown, from: NodeId, requestId?: string): string;
  /** A message this node sent was not delivered. */
  undeliverable(report: UndeliverableReport): void;
  /**
   * Nothing more will come from `nodeId` for refs of an incarnation below
   * `incarnationBelow` (every incarnation when undefined): asks waiting on
   * them should give up.
   */
  peerUnreachable(nodeId: NodeId, incarnationBelow: number | undefined, reason: string): void;
}

/** A link coming up or going down; membership listens to these. */
export type LinkEvent =
  | { readonly type: "up"; readonly nodeId: NodeId; readonly incarnation: number; readonly dialedBy: NodeId }
  | { readonly type: "down"; readonly nodeId: NodeId; readonly incarnation: number; readonly reason: string };

export type LinkState = "up" | "connecting" | "unreachable" | "idle";

/** Counters since the transport started. */
export interface TransportStats {
  readonly messagesSent: number;
  readonly messagesReceived: number;
  readonly partBytesSent: number;
  readonly linksAdopted: number;
  readonly authenticationFailures: number;
  readonly framesRefused: number;
}

/** A node's transport as the host sees it. A simulated network implements the same. */
export interface Transport {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  /** Connects the host; must be called once, before traffic. */
  attach(receiver: TransportReceiver): void;
  /** Takes a message for a ref on another node, or says why not. Never throws for an operating fault. */
  send(to: ActorRef<unknown>, message: unknown, corr: number): SendOutcome;
  /** Stops every link and the listener; queued messages are reported undeliverable. */
  close(): Promise<void>;
}

/** Close codes this transport uses: 4000–4999 are the application's, and a client may send no others but 1000. */
export const closeCodes = {
  protocol: 4000,
  superseded: 4001,
  authentication: 4002,
  silent: 4003,
  handshakeTimeout: 4004,
  sendFailed: 4005,
  shutdown: 4006,
  oversized: 4007,
  staleIncarnation: 4008,
} as const;

/** The socket operations a connection needs, over Bun's server and client sockets alike. */
interface WireSocket {
  send(frame: Uint8Array): boolean;
  bufferedBytes(): number;
  close(code: number, reason: string): void;
}

interface OutboxEntry {
  readonly frames: readonly Uint8Array[];
  readonly bytes: number;
  readonly to: ActorRef<unknown>;
  readonly kind: string | undefined;
  readonly corr: number;
}

type ConnectionPhase = "opening" | "hello-sent" | "challenge-sent" | "proof-sent" | "adopted" | "closed";

class Connection {
  readonly role: "dialer" | "acceptor";
  readonly socket: WireSocket;
  readonly decoder: FrameDecoder;
  readonly nonce: Uint8Array;
  /** Stops the handshake timer and, once adopted, the heartbeat. */
  readonly timers = new AbortController();
  phase: ConnectionPhase = "opening";
  /** Set when this side closed the socket (as opposed to the peer or the network). */
  closedHere = false;
  peerNodeId: NodeId | undefined;
  peerIncarnation: number | undefined;
  peerNonce: Uint8Array | undefined;
  lastReceivedMs: number;

  constructor(role: "dialer" | "acceptor", socket: WireSocket, limits: FrameLimits, nowMs: number, peerNodeId?: NodeId) {
    this.role = role;
    this.socket = socket;
    this.decoder = new FrameDecoder(limits);
    // Nonces must be unpredictable to a peer, so they come from the OS, not from the seeded Random.
    this.nonce = crypto.getRandomValues(new Uint8Array(nonceBytes));
    this.lastReceivedMs = nowMs;
    this.peerNodeId = peerNodeId;
  }
}

class Peer {
  readonly nodeId: NodeId;
  address: PeerAddress | undefined;
  link: Connection | undefined;
  dial: Connection | undefined;
  incarnation: number | undefined;
  readonly outbox: OutboxEntry[] = [];
  outboxHead = 0;
  outboxBytes = 0;
  /** Monotonic time the link was found missing while wanted; undefined while up or idle. */
  downSinceMs: number | undefined;
  /** The grace ran out with no link: sends are refused at once until a link is up. */
  unreachable = false;
  dialFailureCount = 0;
  graceTimer: AbortController | undefined;
  reconnectTimer: AbortController | undefined;
  draining = false;
  readonly pings = new Map<number, (rttMs: number | Fault) => void>();

  constructor(nodeId: NodeId) {
    this.nodeId = nodeId;
  }

  outboxLength(): number {
    return this.outbox.length - this.outboxHead;
  }

  takeOutbox(): OutboxEntry | undefined {
    if (this.outboxHead >= this.outbox.length) return undefined;
    const entry = this.outbox[this.outboxHead]!;
    this.outboxHead += 1;
    this.outboxBytes -= entry.bytes;
    // Compact now and then so a long-lived queue does not keep its consumed head.
    if (this.outboxHead >= 1024 && this.outboxHead * 2 >= this.outbox.length) {
      this.outbox.splice(0, this.outboxHead);
      this.outboxHead = 0;
    }
    return entry;
  }
}

const upgradePath = "/cairn/v1";

/** Starts listening at once (`Bun.serve` binds synchronously); dials peers on demand. */
export function createWebSocketTransport(options: WebSocketTransportOptions): WebSocketTransport {
  return new WebSocketTransport(options);
}

/** The production transport over Bun's WebSockets. */
export class WebSocketTransport implements Transport {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly limits: TransportLimits;
  readonly #secret: Uint8Array;
  readonly #lookup: ((nodeId: NodeId) => PeerAddress | undefined) | undefined;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: (line: Record<string, unknown>) => void;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #connections = new Set<Connection>();
  readonly #listeners = new Set<(event: LinkEvent) => void>();
  readonly #server: ReturnType<typeof Bun.serve<{ connection: Connection | undefined }>>;
  #receiver: TransportReceiver | undefined;
  #closed: Promise<void> | undefined;
  #pingSequence = 0;
  #stats = {
    messagesSent: 0,
    messagesReceived: 0,
    partBytesSent: 0,
    linksAdopted: 0,
    authenticationFailures: 0,
    framesRefused: 0,
  };

  constructor(options: WebSocketTransportOptions) {
    assert(typeof options.nodeId === "string" && options.nodeId.length > 0, "transport: nodeId must be a non-empty string");
    assert(Number.isSafeInteger(options.incarnation) && options.incarnation >= 1, "transport: incarnation must be a positive integer");
    this.nodeId = options.nodeId;
    this.incarnation = options.incarnation;
    this.limits = { ...defaultTransportLimits, ...options.limits };
    checkLimits(this.limits);
    this.#secret = typeof options.fleetSecret === "string" ? new TextEncoder().encode(options.fleetSecret) : options.fleetSecret;
    assert(this.#secret.byteLength >= 16, "transport: fleetSecret must be at least 16 bytes");
    this.#lookup = options.peers;
    this.#clock = options.clock ?? systemClock();
    this.#log = options.log ?? ((line) => console.error(JSON.stringify(line)));
    if (options.random === undefined) {
      this.#random = seededRandom(randomSeed());
      this.#log({ level: "info", event: "transport-random-seed", nodeId: this.nodeId, seed: this.#random.seed });
    } else {
      this.#random = options.random;
    }
    this.#server = Bun.serve<{ connection: Connection | undefined }>({
      hostname: options.listen.host,
      port: options.listen.port,
      fetch: (request, server) => {
        if (new URL(request.url).pathname !== upgradePath) return new Response("not a Cairn transport endpoint\n", { status: 404 });
        if (this.#closed !== undefined) return new Response("shutting down\n", { status: 503 });
        return server.upgrade(request, { data: { connection: undefined } }) ? undefined : new Response("upgrade failed\n", { status: 400 });
      },
      websocket: {
        // A part may be as large as a shard; the decoder enforces the finer limits.
        maxPayloadLength: Math.max(this.limits.partBytesMax, this.limits.headFrameBytesMax),
        // The outbox keeps a socket's buffer near the high-water mark; this is a backstop above it.
        backpressureLimit: this.limits.socketBufferedBytesHighWater + this.limits.messageBytesMax,
        closeOnBackpressureLimit: false,
        perMessageDeflate: false,
        open: (ws) => {
          const socket: WireSocket = {
            send: (frame) => ws.send(frame) !== 0,
            bufferedBytes: () => ws.getBufferedAmount(),
            close: (code, reason) => ws.close(code, reason),
          };
          const connection = new Connection("acceptor", socket, this.limits, this.#clock.monotonicMs());
          ws.data.connection = connection;
          this.#opened(connection);
        },
        message: (ws, data) => {
          const connection = ws.data.connection;
          if (connection === undefined) return;
          if (typeof data === "string") {
            this.#refuseFrame(connection, { frameError: "text frame", oversized: false });
            return;
          }
          this.#received(connection, data);
        },
        close: (ws, code, reason) => {
          const connection = ws.data.connection;
          if (connection !== undefined) this.#socketClosed(connection, code, reason);
        },
      },
    });
  }

  /** The address this transport listens on (with the real port when 0 was asked). */
  address(): PeerAddress {
    return { host: this.#server.hostname ?? "127.0.0.1", port: this.#server.port ?? 0 };
  }

  attach(receiver: TransportReceiver): void {
    assert(this.#receiver === undefined, `transport ${this.nodeId}: a host is attached already`);
    this.#receiver = receiver;
  }

  /** Sets (or with `undefined` forgets) a peer's address; it wins over the `peers` lookup. */
  setPeer(nodeId: NodeId, address: PeerAddress | undefined): void {
    assert(nodeId !== this.nodeId, `transport ${this.nodeId}: a node is not its own peer`);
    this.#peer(nodeId).address = address;
  }

  /** Dials `nodeId` now if there is no link and no dial (membership uses it to keep links warm). */
  connect(nodeId: NodeId): void {
    const peer = this.#peer(nodeId);
    peer.dialFailureCount = 0;
    this.#ensureDialing(peer);
  }

  linkState(nodeId: NodeId): LinkState {
    const peer = this.#peers.get(nodeId);
    if (peer === undefined) return "idle";
    if (peer.link !== undefined) return "up";
    if (peer.unreachable) return "unreachable";
    return peer.dial !== undefined || peer.reconnectTimer !== undefined ? "connecting" : "idle";
  }

  /** The peer's incarnation learned at the last handshake. */
  peerIncarnation(nodeId: NodeId): number | undefined {
    return this.#peers.get(nodeId)?.incarnation;
  }

  /** Listens to links going up and down. Returns the unsubscribe function. */
  onLinkEvent(listener: (event: LinkEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Round-trip time of a ping over the link, in milliseconds, or a fault (no link, timeout). */
  ping(nodeId: NodeId, timeoutMs: number): Promise<number | Fault> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, `ping ${nodeId}: timeoutMs must be positive and finite`);
    const peer = this.#peers.get(nodeId);
    const link = peer?.link;
    if (peer === undefined || link === undefined) return Promise.resolve(fault("Unreachable", `no link to ${nodeId}`));
    this.#pingSequence += 1;
    const sequence = this.#pingSequence;
    const startMs = this.#clock.monotonicMs();
    const timer = new AbortController();
    return new Promise<number | Fault>((resolve) => {
      peer.pings.set(sequence, (result) => {
        peer.pings.delete(sequence);
        timer.abort();
        resolve(typeof result === "number" ? result - startMs : result);
      });
      link.socket.send(encodeControlFrame("ping", { sequence }));
      void sleepUnlessAborted(this.#clock, timeoutMs, timer.signal).then(() => {
        if (!timer.signal.aborted) peer.pings.get(sequence)?.(fault("Timeout", `no pong from ${nodeId} within ${timeoutMs} ms`));
      });
    });
  }

  stats(): TransportStats {
    return { ...this.#stats };
  }

  /** Messages and bytes waiting in outboxes now, over every peer (for metrics). */
  outboxTotals(): { readonly messages: number; readonly bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const peer of this.#peers.values()) {
      messages += peer.outboxLength();
      bytes += peer.outboxBytes;
    }
    return { messages, bytes };
  }

  send(to: ActorRef<unknown>, message: unknown, corr: number): SendOutcome {
    assert(to.nodeId !== this.nodeId, `transport ${this.nodeId}: send to its own node ${refText(to)}`);
    assert(Number.isSafeInteger(corr) && corr >= 0, `transport send ${refText(to)}: corr must be an integer >= 0`);
    if (this.#closed !== undefined) return "unreachable";
    const peer = this.#peer(to.nodeId);
    if (peer.incarnation !== undefined && to.incarnation < peer.incarnation) return "dead incarnation";
    if (peer.link === undefined) {
      if (this.#addressOf(peer) === undefined) return "unknown node";
      if (peer.unreachable) {
        // Keep trying in the background so the peer is found again when it returns.
        this.#ensureDialing(peer);
        return "unreachable";
      }
      this.#markDown(peer);
      this.#ensureDialing(peer);
    }
    const { kind, epoch } = messageLabels(message);
    let frames: Uint8Array[];
    try {
      // The request context of the sender travels with the message (runtime/log.ts).
      frames = encodeMessageFrames({ to, from: this.nodeId, kind, epoch, corr, body: message, requestId: currentRequestId() }, this.limits);
    } catch (error) {
      this.#log({ level: "error", event: "transport-not-encodable", nodeId: this.nodeId, to: refText(to), kind, error: String(error) });
      return "not encodable";
    }
    let bytes = 0;
    for (const frame of frames) bytes += frame.byteLength;
    if (bytes > this.limits.messageBytesMax) {
      this.#log({ level: "error", event: "transport-not-encodable", nodeId: this.nodeId, to: refText(to), kind, error: `message of ${bytes} bytes` });
      return "not encodable";
    }
    const entry: OutboxEntry = { frames, bytes, to, kind, corr };
    const link = peer.link;
    if (link !== undefined && peer.outboxLength() === 0 && link.socket.bufferedBytes() < this.limits.socketBufferedBytesHighWater) {
      this.#write(link, entry);
      return "accepted";
    }
    if (peer.outboxLength() >= this.limits.outboxMessagesMax || peer.outboxBytes + bytes > this.limits.outboxBytesMax) return "outbox full";
    peer.outbox.push(entry);
    peer.outboxBytes += bytes;
    if (link !== undefined) this.#drain(peer);
    return "accepted";
  }

  close(): Promise<void> {
    this.#closed ??= this.#closeOnce();
    return this.#closed;
  }

  async #closeOnce(): Promise<void> {
    for (const peer of this.#peers.values()) {
      peer.graceTimer?.abort();
      peer.reconnectTimer?.abort();
      peer.reconnectTimer = undefined;
      this.#failOutbox(peer, "transport closed");
      for (const settle of [...peer.pings.values()]) settle(fault("Unreachable", "transport closed"));
    }
    for (const connection of [...this.#connections]) this.#closeConnection(connection, closeCodes.shutdown, "node shutting down");
    await this.#server.stop(true);
  }

  // -------------------------------------------------------------------------
  // Peers, dialing and reconnecting

  #peer(nodeId: NodeId): Peer {
    let peer = this.#peers.get(nodeId);
    if (peer === undefined) {
      peer = new Peer(nodeId);
      this.#peers.set(nodeId, peer);
    }
    return peer;
  }

  #addressOf(peer: Peer): PeerAddress | undefined {
    return peer.address ?? this.#lookup?.(peer.nodeId);
  }

  /** Starts the unreachable grace for a peer that is wanted and has no link. */
  #markDown(peer: Peer): void {
    if (peer.downSinceMs !== undefined) return;
    peer.downSinceMs = this.#clock.monotonicMs();
    const timer = new AbortController();
    peer.graceTimer = timer;
    void sleepUnlessAborted(this.#clock, this.limits.unreachableGraceMs, timer.signal).then(() => {
      if (timer.signal.aborted || peer.graceTimer !== timer) return;
      peer.graceTimer = undefined;
      if (peer.link !== undefined) return;
      peer.unreachable = true;
      this.#log({ level: "warn", event: "transport-peer-unreachable", nodeId: this.nodeId, peer: peer.nodeId, graceMs: this.limits.unreachableGraceMs });
      this.#failOutbox(peer, "unreachable");
      this.#receiver?.peerUnreachable(peer.nodeId, undefined, `no link to ${peer.nodeId} for ${this.limits.unreachableGraceMs} ms`);
    });
  }

  #ensureDialing(peer: Peer): void {
    if (this.#closed !== undefined || peer.link !== undefined || peer.dial !== undefined || peer.reconnectTimer !== undefined) return;
    if (peer.dialFailureCount >= this.limits.reconnectAttemptsMax) {
      // Given up after the attempt limit; a new send is a new reason to try.
      peer.dialFailureCount = 0;
    }
    this.#dial(peer);
  }

  #dial(peer: Peer): void {
    const address = this.#addressOf(peer);
    if (address === undefined) return;
    let client: WebSocket;
    try {
      client = new WebSocket(`ws://${address.host}:${address.port}${upgradePath}`);
    } catch (error) {
      this.#log({ level: "warn", event: "transport-dial-failed", nodeId: this.nodeId, peer: peer.nodeId, error: String(error) });
      this.#dialFailed(peer);
      return;
    }
    client.binaryType = "arraybuffer";
    const socket: WireSocket = {
      send: (frame) => {
        client.send(frame);
        return true;
      },
      bufferedBytes: () => client.bufferedAmount,
      close: (code, reason) => client.close(code, reason),
    };
    const connection = new Connection("dialer", socket, this.limits, this.#clock.monotonicMs(), peer.nodeId);
    peer.dial = connection;
    client.onopen = () => {
      if (connection.phase !== "opening") return;
      connection.phase = "hello-sent";
      connection.socket.send(
        encodeControlFrame("hello", { nodeId: this.nodeId, incarnation: this.incarnation, nonce: connection.nonce, peer: peer.nodeId }),
      );
    };
    client.onmessage = (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) {
        this.#refuseFrame(connection, { frameError: "text frame", oversized: false });
        return;
      }
      this.#received(connection, new Uint8Array(event.data));
    };
    client.onclose = (event: CloseEvent) => this.#socketClosed(connection, event.code, event.reason);
    // An error is followed by a close event, which does the accounting.
    client.onerror = () => undefined;
    this.#opened(connection);
  }

  #dialFailed(peer: Peer): void {
    peer.dialFailureCount += 1;
    if (this.#closed !== undefined || peer.link !== undefined) return;
    if (peer.dialFailureCount >= this.limits.reconnectAttemptsMax) {
      this.#log({ level: "warn", event: "transport-reconnect-gave-up", nodeId: this.nodeId, peer: peer.nodeId, attempts: peer.dialFailureCount });
      return;
    }
    this.#scheduleReconnect(peer);
  }

  #scheduleReconnect(peer: Peer): void {
    if (peer.reconnectTimer !== undefined || this.#addressOf(peer) === undefined) return;
    const ceilingMs = Math.min(this.limits.reconnectBackoffMsMax, this.limits.reconnectBackoffMsInitial * 2 ** Math.max(0, peer.dialFailureCount - 1));
    // Jitter keeps a fleet that lost a node from redialing it in lockstep.
    const delayMs = ceilingMs / 2 + (this.#random.next() * ceilingMs) / 2;
    const timer = new AbortController();
    peer.reconnectTimer = timer;
    void sleepUnlessAborted(this.#clock, delayMs, timer.signal).then(() => {
      if (peer.reconnectTimer !== timer) return;
      peer.reconnectTimer = undefined;
      if (timer.signal.aborted || this.#closed !== undefined || peer.link !== undefined || peer.dial !== undefined) return;
      this.#dial(peer);
    });
  }

  // -------------------------------------------------------------------------
  // Connections: handshake, adoption, frames

  #opened(connection: Connection): void {
    this.#connections.add(connection);
    void sleepUnlessAborted(this.#clock, this.limits.handshakeTimeoutMs, connection.timers.signal).then(() => {
      if (connection.phase === "adopted" || connection.phase === "closed") return;
      this.#log({ level: "warn", event: "transport-handshake-timeout", nodeId: this.nodeId, peer: connection.peerNodeId, role: connection.role });
      this.#closeConnection(connection, closeCodes.handshakeTimeout, "handshake timed out");
    });
  }

  #received(connection: Connection, data: Uint8Array): void {
    if (connection.phase === "closed") return;
    connection.lastReceivedMs = this.#clock.monotonicMs();
    const frame = connection.decoder.push(data);
    if (frame === undefined) return;
    if (isFrameError(frame)) {
      this.#refuseFrame(connection, frame);
      return;
    }
    if (connection.phase === "adopted") this.#linkFrame(connection, frame);
    else this.#handshakeFrame(connection, frame);
  }

  #refuseFrame(connection: Connection, error: { frameError: string; oversized: boolean }): void {
    this.#stats.framesRefused += 1;
    this.#log({ level: "error", event: "transport-frame-refused", nodeId: this.nodeId, peer: connection.peerNodeId, reason: error.frameError });
    this.#closeConnection(connection, error.oversized ? closeCodes.oversized : closeCodes.protocol, error.oversized ? "frame too large" : "protocol error");
  }

  #handshakeFrame(connection: Connection, frame: DecodedFrame): void {
    const body = frame.body;
    const expected: Record<ConnectionPhase, string> = {
      opening: connection.role === "acceptor" ? "hello" : "none",
      "hello-sent": "challenge",
      "challenge-sent": "proof",
      "proof-sent": "welcome",
      adopted: "none",
      closed: "none",
    };
    if (frame.type !== expected[connection.phase]) {
      this.#refuseFrame(connection, { frameError: `${frame.type} frame during handshake (expected ${expected[connection.phase]})`, oversized: false });
      return;
    }
    switch (frame.type) {
      case "hello": {
        const nodeId = body["nodeId"];
        const incarnation = body["incarnation"];
        const nonce = body["nonce"];
        if (typeof nodeId !== "string" || nodeId.length === 0 || !isIncarnation(incarnation) || !isNonce(nonce)) {
          this.#refuseFrame(connection, { frameError: "malformed hello", oversized: false });
          return;
        }
        if (body["peer"] !== this.nodeId || nodeId === this.nodeId) {
          this.#log({ level: "warn", event: "transport-wrong-peer", nodeId: this.nodeId, dialer: nodeId, asked: String(body["peer"]) });
          this.#closeConnection(connection, closeCodes.authentication, "wrong node");
          return;
        }
        connection.peerNodeId = nodeId;
        connection.peerIncarnation = incarnation;
        connection.peerNonce = nonce;
        connection.phase = "challenge-sent";
        const proof = handshakeProof(this.#secret, "acceptor", this.#facts(connection));
        connection.socket.send(encodeControlFrame("challenge", { nodeId: this.nodeId, incarnation: this.incarnation, nonce: connection.nonce, proof }));
        return;
      }
      case "challenge": {
        const nodeId = body["nodeId"];
        const incarnation = body["incarnation"];
        const nonce = body["nonce"];
        if (nodeId !== connection.peerNodeId || !isIncarnation(incarnation) || !isNonce(nonce)) {
          this.#refuseFrame(connection, { frameError: "malformed challenge or wrong node", oversized: false });
          return;
        }
        connection.peerIncarnation = incarnation;
        connection.peerNonce = nonce;
        if (!proofMatches(this.#secret, "acceptor", this.#facts(connection), body["proof"])) {
          this.#authenticationFailed(connection);
          return;
        }
        if (this.#staleIncarnation(connection)) return;
        connection.phase = "proof-sent";
        connection.socket.send(encodeControlFrame("proof", { proof: handshakeProof(this.#secret, "dialer", this.#facts(connection)) }));
        return;
      }
      case "proof": {
        if (!proofMatches(this.#secret, "dialer", this.#facts(connection), body["proof"])) {
          this.#authenticationFailed(connection);
          return;
        }
        this.#adoptInbound(connection);
        return;
      }
      case "welcome": {
        const peer = this.#peer(connection.peerNodeId!);
        if (peer.dial === connection) peer.dial = undefined;
        this.#linkUp(peer, connection);
        return;
      }
      default:
        this.#refuseFrame(connection, { frameError: `${frame.type} frame during handshake`, oversized: false });
    }
  }

  #facts(connection: Connection): HandshakeFacts {
    const peerNodeId = connection.peerNodeId!;
    const peerIncarnation = connection.peerIncarnation!;
    const peerNonce = connection.peerNonce!;
    return connection.role === "dialer"
      ? {
          dialerNodeId: this.nodeId,
          dialerIncarnation: this.incarnation,
          dialerNonce: connection.nonce,
          acceptorNodeId: peerNodeId,
          acceptorIncarnation: peerIncarnation,
          acceptorNonce: peerNonce,
        }
      : {
          dialerNodeId: peerNodeId,
          dialerIncarnation: peerIncarnation,
          dialerNonce: peerNonce,
          acceptorNodeId: this.nodeId,
          acceptorIncarnation: this.incarnation,
          acceptorNonce: connection.nonce,
        };
  }

  #authenticationFailed(connection: Connection): void {
    this.#stats.authenticationFailures += 1;
    this.#log({
      level: "error",
      event: "transport-authentication-failed",
      nodeId: this.nodeId,
      peer: connection.peerNodeId,
      role: connection.role,
      reason: "proof does not match the fleet secret",
    });
    this.#closeConnection(connection, closeCodes.authentication, "authentication failed");
  }

  /**
   * Refuses a peer that proves an older incarnation than one already seen:
   * a stale run (a zombie process, an old binary restarted by hand) must not
   * take the link from the current one.
   */
  #staleIncarnation(connection: Connection): boolean {
    const known = this.#peers.get(connection.peerNodeId!)?.incarnation;
    if (known === undefined || connection.peerIncarnation! >= known) return false;
    this.#log({
      level: "warn",
      event: "transport-stale-incarnation",
      nodeId: this.nodeId,
      peer: connection.peerNodeId,
      incarnation: connection.peerIncarnation,
      knownIncarnation: known,
    });
    this.#closeConnection(connection, closeCodes.staleIncarnation, "stale incarnation");
    return true;
  }

  /** The acceptor's side of the one-link-per-pair rule (see the file comment). */
  #adoptInbound(connection: Connection): void {
    if (this.#staleIncarnation(connection)) return;
    const peer = this.#peer(connection.peerNodeId!);
    const existing = peer.link;
    if (existing !== undefined && existing.role === "dialer" && connection.peerNodeId! > this.nodeId) {
      // The lower node's link (ours) is up; a dial from the higher node is a
      // leftover of a simultaneous connect, not a sign our link is dead. If
      // it is dead after all, the heartbeat finds out and we redial.
      this.#closeConnection(connection, closeCodes.superseded, "superseded: the lower node's connection wins");
      return;
    }
    if (peer.link === undefined && peer.dial !== undefined) {
      if (connection.peerNodeId! > this.nodeId) {
        this.#closeConnection(connection, closeCodes.superseded, "superseded: the lower node's connection wins");
        return;
      }
      const ownDial = peer.dial;
      peer.dial = undefined;
      this.#closeConnection(ownDial, closeCodes.superseded, "superseded: the lower node's connection wins");
    }
    connection.socket.send(encodeControlFrame("welcome", {}));
    this.#linkUp(peer, connection);
  }

  #linkUp(peer: Peer, connection: Connection): void {
    const previous = peer.link;
    if (previous !== undefined && previous !== connection) {
      peer.link = undefined;
      this.#closeConnection(previous, closeCodes.superseded, "replaced by a newer connection");
      this.#emit({ type: "down", nodeId: peer.nodeId, incarnation: previous.peerIncarnation!, reason: "replaced by a newer connection" });
    }
    connection.phase = "adopted";
    peer.link = connection;
    this.#stats.linksAdopted += 1;
    const incarnation = connection.peerIncarnation!;
    const previousIncarnation = peer.incarnation;
    peer.incarnation = incarnation;
    peer.downSinceMs = undefined;
    peer.unreachable = false;
    peer.dialFailureCount = 0;
    peer.graceTimer?.abort();
    peer.graceTimer = undefined;
    peer.reconnectTimer?.abort();
    peer.reconnectTimer = undefined;
    this.#log({ level: "info", event: "transport-link-up", nodeId: this.nodeId, peer: peer.nodeId, incarnation, role: connection.role });
    if (previousIncarnation !== undefined && previousIncarnation < incarnation) {
      // The peer restarted: nothing will answer for its old run.
      this.#receiver?.peerUnreachable(peer.nodeId, incarnation, `${peer.nodeId} restarted as incarnation ${incarnation}`);
    }
    this.#emit({ type: "up", nodeId: peer.nodeId, incarnation, dialedBy: connection.role === "dialer" ? this.nodeId : peer.nodeId });
    this.#heartbeat(peer, connection);
    this.#drain(peer);
  }

  #linkFrame(connection: Connection, frame: DecodedFrame): void {
    const peer = this.#peer(connection.peerNodeId!);
    const body = frame.body;
    switch (frame.type) {
      case "message": {
        this.#stats.messagesReceived += 1;
        const to = body["to"] as ActorRef<unknown>;
        const kind = typeof body["kind"] === "string" ? body["kind"] : undefined;
        const corr = body["corr"] as number;
        let outcome: string;
        try {
          // The decoder checked `requestId`: absent, or a bounded string.
          const requestId = body["requestId"] as string | undefined;
          outcome = this.#receiver === undefined ? "no host attached" : this.#receiver.deliver(to, body["body"], peer.nodeId, requestId);
        } catch (error) {
          // A host bug must not take the link down with it; the sender still hears of it.
          this.#log({ level: "error", event: "transport-deliver-failed", nodeId: this.nodeId, peer: peer.nodeId, to: refText(to), error: String(error) });
          outcome = "host error";
        }
        if (outcome !== "delivered") {
          connection.socket.send(encodeControlFrame("undeliverable", { to, kind, corr, reason: outcome }));
        }
        return;
      }
      case "undeliverable": {
        const to = body["to"] as ActorRef<unknown> | undefined;
        const corr = body["corr"];
        if (typeof to !== "object" || to === null || !Number.isSafeInteger(corr) || typeof body["reason"] !== "string") {
          this.#refuseFrame(connection, { frameError: "malformed undeliverable frame", oversized: false });
          return;
        }
        const kind = typeof body["kind"] === "string" ? body["kind"] : undefined;
        this.#receiver?.undeliverable({ to, kind, corr: corr as number, reason: body["reason"], refusedBy: "peer" });
        return;
      }
      case "ping":
        connection.socket.send(encodeControlFrame("pong", { sequence: body["sequence"] }));
        return;
      case "pong": {
        const sequence = body["sequence"];
        if (typeof sequence === "number" && sequence > 0) peer.pings.get(sequence)?.(this.#clock.monotonicMs());
        return;
      }
      default:
        this.#refuseFrame(connection, { frameError: `${frame.type} frame on an established link`, oversized: false });
    }
  }

  #heartbeat(peer: Peer, connection: Connection): void {
    const loop = async (): Promise<void> => {
      for (;;) {
        await sleepUnlessAborted(this.#clock, this.limits.heartbeatIntervalMs, connection.timers.signal);
        if (connection.timers.signal.aborted || peer.link !== connection) return;
        if (this.#clock.monotonicMs() - connection.lastReceivedMs > this.limits.linkSilenceMsMax) {
          this.#log({ level: "warn", event: "transport-link-silent", nodeId: this.nodeId, peer: peer.nodeId, silenceMsMax: this.limits.linkSilenceMsMax });
          this.#closeConnection(connection, closeCodes.silent, "peer silent");
          return;
        }
        // Sequence 0 is a heartbeat: answered, never awaited.
        connection.socket.send(encodeControlFrame("ping", { sequence: 0 }));
      }
    };
    void loop();
  }

  // -------------------------------------------------------------------------
  // Writing, draining, failing

  #write(link: Connection, entry: OutboxEntry): void {
    for (const frame of entry.frames) {
      if (!link.socket.send(frame)) {
        // The socket dropped the frame: the link's frame order is broken, so
        // the link is. The message is lost with it (like any in flight).
        this.#closeConnection(link, closeCodes.sendFailed, "send failed");
        this.#receiver?.undeliverable({ to: entry.to, kind: entry.kind, corr: entry.corr, reason: "link broke while sending", refusedBy: "transport" });
        return;
      }
    }
    this.#stats.messagesSent += 1;
    for (let index = 1; index < entry.frames.length; index += 1) this.#stats.partBytesSent += entry.frames[index]!.byteLength;
  }

  /** Writes queued messages while the socket is below the high-water mark; polls while above. */
  #drain(peer: Peer): void {
    if (peer.draining) return;
    peer.draining = true;
    const loop = async (): Promise<void> => {
      try {
        for (;;) {
          const link = peer.link;
          if (link === undefined || peer.outboxLength() === 0) return;
          while (peer.outboxLength() > 0 && peer.link === link && link.socket.bufferedBytes() < this.limits.socketBufferedBytesHighWater) {
            const entry = peer.takeOutbox()!;
            if (peer.incarnation !== undefined && entry.to.incarnation < peer.incarnation) {
              this.#receiver?.undeliverable({ to: entry.to, kind: entry.kind, corr: entry.corr, reason: "dead incarnation", refusedBy: "transport" });
              continue;
            }
            this.#write(link, entry);
          }
          if (peer.outboxLength() === 0 || peer.link !== link) return;
          await this.#clock.sleep(this.limits.drainPollMs);
        }
      } finally {
        peer.draining = false;
      }
    };
    void loop();
  }

  #failOutbox(peer: Peer, reason: string): void {
    for (let entry = peer.takeOutbox(); entry !== undefined; entry = peer.takeOutbox()) {
      this.#receiver?.undeliverable({ to: entry.to, kind: entry.kind, corr: entry.corr, reason, refusedBy: "transport" });
    }
    peer.outbox.length = 0;
    peer.outboxHead = 0;
    peer.outboxBytes = 0;
  }

  #closeConnection(connection: Connection, code: number, reason: string): void {
    if (connection.phase === "closed") return;
    connection.closedHere = true;
    try {
      connection.socket.close(code, reason);
    } catch {
      // Already closing on the socket's side; the bookkeeping below is what matters.
    }
    this.#socketClosed(connection, code, reason);
  }

  /** Bookkeeping when a socket is gone, whoever closed it. Runs once per connection. */
  #socketClosed(connection: Connection, code: number, reason: string): void {
    if (connection.phase === "closed") return;
    const wasAdopted = connection.phase === "adopted";
    if (!wasAdopted && !connection.closedHere && code === closeCodes.authentication) {
      this.#log({ level: "warn", event: "transport-handshake-refused", nodeId: this.nodeId, peer: connection.peerNodeId, role: connection.role, reason });
    }
    connection.phase = "closed";
    connection.timers.abort();
    this.#connections.delete(connection);
    const nodeId = connection.peerNodeId;
    if (nodeId === undefined) return;
    const peer = this.#peers.get(nodeId);
    if (peer === undefined) return;
    if (peer.dial === connection) {
      peer.dial = undefined;
      if (peer.link === undefined) {
        this.#log({ level: "warn", event: "transport-dial-failed", nodeId: this.nodeId, peer: nodeId, code, reason });
        this.#dialFailed(peer);
      }
      return;
    }
    if (!wasAdopted || peer.link !== connection) return;
    peer.link = undefined;
    for (const settle of [...peer.pings.values()]) settle(fault("Unreachable", `link to ${nodeId} closed`));
    this.#log({ level: "warn", event: "transport-link-down", nodeId: this.nodeId, peer: nodeId, code, reason });
    this.#emit({ type: "down", nodeId, incarnation: connection.peerIncarnation!, reason: `closed ${code} ${reason}` });
    if (this.#closed !== undefined) return;
    this.#markDown(peer);
    this.#scheduleReconnect(peer);
  }

  #emit(event: LinkEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#log({ level: "error", event: "transport-listener-failed", nodeId: this.nodeId, error: String(error) });
      }
    }
  }
}

function isIncarnation(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

function isNonce(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength === nonceBytes;
}

function checkLimits(limits: TransportLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    assert(typeof value === "number" && Number.isFinite(value) && value > 0, `transport limit ${name} must be positive and finite, got ${value}`);
  }
  assert(limits.reconnectBackoffMsMax >= limits.reconnectBackoffMsInitial, "transport: reconnectBackoffMsMax must be >= reconnectBackoffMsInitial");
  assert(limits.messageBytesMax <= limits.outboxBytesMax, "transport: messageBytesMax must fit in outboxBytesMax");
}
