/**
 * The production host: behaviours run as nact actors in this process.
 *
 * nact gives each actor a serial mailbox (one message at a time, in arrival
 * order, the next waiting for an async handler) and a crash hook. It lacks
 * what Cairn's rules need, so this file adds it around nact:
 * - an async `initialState` that finishes before the first message;
 * - bounded mailboxes (queued + running messages per actor);
 * - dead letters that are counted and logged (nact drops them silently);
 * - `ask` with a reply ref, a mandatory timeout on the host clock, and fault
 *   values instead of rejections;
 * - restarts with backoff and a restart limit, and `AssertionError` stopping
 *   an actor at once.
 *
 * Behaviours never see nact: they get an `ActorContext`, and refs are plain
 * `{ nodeId, incarnation, path }` data. nact actors are all children of the
 * system, named by a counter; the Cairn path lives in this host's registry.
 *
 * With a `Transport` (runtime/transport/) a ref on another node is reached
 * over it: a remote ask carries its number as `corr`, so a refusal from the
 * peer ("undeliverable") or from the transport (link down beyond its grace,
 * outbox full) settles the ask at once instead of at its timeout. Inbound
 * messages are checked against the target's `wireSchema` here, where they
 * arrive from the wire. Without a transport a ref on another node is a dead
 * letter, as before.
 */
import { checkSpawn, compileWireCheck, messageKind, replyPathPrefix, replyRefOf, RestartRecord } from "./actor-rules.ts";
import { dispatch as nactDispatch, spawn as nactSpawn, start as nactStart, stop as nactStop } from "nact";
import type { ActorSystemRef, Ref as NactRef, SupervisionContext } from "nact";
import { assert } from "./assert.ts";
import type { ActorContext, ActorCrash, Behavior, Clock, Host, Random, SpawnOptions, SupervisionPolicy } from "./behavior.ts";
import { sleepUnlessAborted, systemClock } from "./clock.ts";
import { fault, type Fault } from "./fault.ts";
import { currentRequestId, noteMessageRequestId, runWithRequestId } from "./log.ts";
import { randomSeed, seededRandom } from "./random.ts";
import { actorRef, refText, type ActorRef, type NodeId } from "./ref.ts";
import type { Transport, TransportReceiver, UndeliverableReport } from "./transport/transport.ts";

export interface NactHostOptions {
  readonly nodeId: NodeId;
  /**
   * This run of the node (a positive integer that grows across restarts;
   * membership hands it out in a fleet). Defaults to 1.
   */
  readonly incarnation?: number;
  /** Defaults to `systemClock()`. */
  readonly clock?: Clock;
  /** Defaults to `seededRandom(randomSeed())`; the seed is logged so the run can be replayed. */
  readonly random?: Random;
  /** Told about every crash and what was done about it. Without it crashes are logged. */
  readonly onCrash?: (crash: ActorCrash) => void;
  /** Structured log lines (dead letters, crashes, failed `stopped` hooks). Defaults to JSON on stderr. */
  readonly log?: (line: Record<string, unknown>) => void;
  /**
   * Reaches actors on other nodes. Its `nodeId` and `incarnation` must be the
   * host's; the host attaches to it and closes it at `shutdown`.
   */
  readonly transport?: Transport;
}

/** The policy an actor gets when `spawn` is given none. */
export const defaultSupervisionPolicy: SupervisionPolicy = {
  restartsMax: 5,
  windowMs: 60_000,
  backoffMsInitial: 10,
  backoffMsMax: 5_000,
};

/** The mailbox bound an actor gets when `spawn` is given none. */
export const defaultMailboxMax = 10_000;



/** Starts a host for `options.nodeId` whose actors run on nact. */
export function createNactHost(options: NactHostOptions): Host {
  return new NactHost(options);
}

/** Why a message could not be delivered. Remote refusals reuse these words where they mean the same. */
type Undeliverable =
  | "unknown actor"
  | "actor stopped"
  | "mailbox full"
  | "dead incarnation"
  | "other node (no remoting yet)"
  | "invalid message"
  | "wrong node"
  | "ask already ended"
  | "unknown node"
  | "unreachable"
  | "outbox full"
  | "not encodable";

/**
 * What travels through nact: the start signal, or a behaviour's message with
 * the S3 request it was sent for (runtime/log.ts), if any.
 */
type Envelope = { readonly start: true } | MessageEnvelope;
type MessageEnvelope = { readonly start: false; readonly message: unknown; readonly requestId: string | undefined };

/** The services an actor cell needs from its host. */
interface CellHost {
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly system: ActorSystemRef;
  tell<T>(to: ActorRef<T>, message: T): void;
  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault>;
  deadLetters(to: ActorRef<unknown>, count: number, reason: Undeliverable | "dropped from mailbox at stop"): void;
  /** A message accepted into `to`'s mailbox will never be handled: counted, and an ask in it answered at once. */
  droppedUnhandled(to: ActorRef<unknown>, message: unknown): void;
  crashed(crash: ActorCrash): void;
  log(line: Record<string, unknown>): void;
  removed(cell: ActorCell): void;
}

interface PendingAsk {
  settle(reply: unknown): void;
  /** The node asked, when it is not this one, and the incarnation the ref named. */
  readonly peer: NodeId | undefined;
  readonly peerIncarnation: number;
}

class NactHost implements Host {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly clock: Clock;
  readonly random: Random;
  readonly #onCrash: ((crash: ActorCrash) => void) | undefined;
  readonly #log: (line: Record<string, unknown>) => void;
  readonly #system: ActorSystemRef;
  readonly #cellHost: CellHost;
  /** Live and stopping actors by path, in spawn order (Map keeps insertion order). */
  readonly #cells = new Map<string, ActorCell>();
  readonly #asks = new Map<string, PendingAsk>();
  readonly #transport: Transport | undefined;
  #askSequence = 0;
  #cellSequence = 0;
  #deadLetterCount = 0;
  #shutdown: Promise<void> | undefined;

  constructor(options: NactHostOptions) {
    assert(typeof options.nodeId === "string" && options.nodeId.length > 0, "createNactHost: nodeId must be a non-empty string");
    this.nodeId = options.nodeId;
    this.incarnation = options.incarnation ?? 1;
    assert(Number.isSafeInteger(this.incarnation) && this.incarnation >= 1, "createNactHost: incarnation must be a positive integer");
    this.clock = options.clock ?? systemClock();
    this.#log = options.log ?? ((line) => console.error(JSON.stringify(line)));
    this.#onCrash = options.onCrash;
    if (options.random === undefined) {
      this.random = seededRandom(randomSeed());
      this.#log({ level: "info", event: "host-random-seed", nodeId: this.nodeId, seed: this.random.seed });
    } else {
      this.random = options.random;
    }
    this.#system = nactStart();
    this.#cellHost = {
      nodeId: this.nodeId,
      clock: this.clock,
      system: this.#system,
      tell: (to, message) => this.tell(to, message),
      ask: (to, build, timeoutMs) => this.ask(to, build, timeoutMs),
      deadLetters: (to, count, reason) => this.#deadLetters(to, count, reason, undefined),
      droppedUnhandled: (to, message) => this.#droppedUnhandled(to, message),
      crashed: (crash) => this.#crashed(crash),
      log: (line) => this.#log({ nodeId: this.nodeId, ...line }),
      removed: (cell) => {
        if (this.#cells.get(cell.ref.path) === cell) this.#cells.delete(cell.ref.path);
      },
    };
    this.#transport = options.transport;
    if (this.#transport !== undefined) {
      assert(
        this.#transport.nodeId === this.nodeId && this.#transport.incarnation === this.incarnation,
        `createNactHost: transport is for ${this.#transport.nodeId}#${this.#transport.incarnation}, host is ${this.nodeId}#${this.incarnation}`,
      );
      const receiver: TransportReceiver = {
        deliver: (to, message, from, requestId) => this.#deliverInbound(to, message, from, requestId),
        undeliverable: (report) => this.#undeliverable(report),
        peerUnreachable: (nodeId, incarnationBelow, reason) => this.#peerUnreachable(nodeId, incarnationBelow, reason),
      };
      this.#transport.attach(receiver);
    }
  }

  spawn<S, M>(path: string, behavior: Behavior<S, M>, options: SpawnOptions = {}): Promise<ActorRef<M>> {
    assert(this.#shutdown === undefined, `spawn ${path}: host ${this.nodeId} is shut down`);
    assert(!this.#cells.has(path), `spawn ${path}: path already in use on node ${this.nodeId}`);
    const policy = options.supervision ?? defaultSupervisionPolicy;
    checkSpawn(path, policy);
    const mailboxMax = options.mailboxMax ?? defaultMailboxMax;
    // Compiled once per spawn, not per message: inbound checks are on the hot path.
    const wireCheck = options.wireSchema === undefined ? undefined : compileWireCheck(options.wireSchema);
    assert(Number.isSafeInteger(mailboxMax) && mailboxMax > 0, `spawn ${path}: mailboxMax must be a positive integer, got ${mailboxMax}`);

    this.#cellSequence += 1;
    const cell = new ActorCell({
      host: this.#cellHost,
      ref: actorRef<unknown>(this.nodeId, this.incarnation, path),
      nactName: `cell-${this.#cellSequence}`,
      behavior: behavior as unknown as Behavior<unknown, unknown>,
      policy,
      mailboxMax,
      random: this.random.fork(`actor:${path}`),
      wireCheck,
    });
    this.#cells.set(path, cell);
    return cell.start().then(() => cell.ref as ActorRef<M>);
  }

  tell<T>(to: ActorRef<T>, message: T): void {
    const outcome = this.#deliver(to, message, 0);
    if (outcome !== "delivered") this.#deadLetters(to, 1, outcome, message);
  }

  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault> {
    assert(
      typeof timeoutMs === "number" && Number.isFinite(timeoutMs) && timeoutMs > 0,
      `ask ${refText(to)}: timeoutMs must be a positive finite number, got ${timeoutMs}`,
    );
    const unreachable = this.#reachability(to);
    if (unreachable !== undefined) {
      // The request was never built, but it was still a message that could
      // not be delivered: count it like any other.
      this.#deadLetters(to, 1, unreachable, undefined);
      return Promise.resolve(fault("Unreachable", `${refText(to)}: ${unreachable}`));
    }

    this.#askSequence += 1;
    const replyRef = actorRef<R>(this.nodeId, this.incarnation, `${replyPathPrefix}ask-${this.#askSequence}`);
    const timer = new AbortController();
    let resolve!: (result: R | Fault) => void;
    const result = new Promise<R | Fault>((settle) => {
      resolve = settle;
    });
    // Only the first reply counts; the ref is gone after it (or after the
    // timeout), so a second or late reply is a dead letter.
    const settle = (reply: R | Fault): void => {
      if (this.#asks.get(replyRef.path) !== pending) return;
      this.#asks.delete(replyRef.path);
      timer.abort();
      resolve(reply);
    };
    const askNumber = this.#askSequence;
    const pending: PendingAsk = {
      settle: (reply) => settle(reply as R),
      peer: to.nodeId === this.nodeId ? undefined : to.nodeId,
      peerIncarnation: to.incarnation,
    };
    this.#asks.set(replyRef.path, pending);

    let request: T;
    try {
      request = build(replyRef);
    } catch (error) {
      this.#asks.delete(replyRef.path);
      throw error;
    }
    const outcome = this.#deliver(to, request, askNumber);
    if (outcome !== "delivered") {
      this.#asks.delete(replyRef.path);
      this.#deadLetters(to, 1, outcome, request);
      return Promise.resolve(fault(faultKindOf(outcome), `${refText(to)}: ${outcome}`));
    }
    void sleepUnlessAborted(this.clock, timeoutMs, timer.signal).then(() => {
      if (!timer.signal.aborted) settle(fault("Timeout", `${refText(to)}: no reply within ${timeoutMs} ms`));
    });
    return result;
  }

  stop(ref: ActorRef<unknown>): Promise<void> {
    if (ref.nodeId !== this.nodeId || ref.incarnation !== this.incarnation) {
      this.#log({ level: "warn", event: "stop-ignored", nodeId: this.nodeId, actor: refText(ref), reason: "other node or incarnation" });
      return Promise.resolve();
    }
    const cell = this.#cells.get(ref.path);
    return cell === undefined ? Promise.resolve() : cell.stop();
  }

  deadLetterCount(): number {
    return this.#deadLetterCount;
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#shutdownOnce();
    return this.#shutdown;
  }

  async #shutdownOnce(): Promise<void> {
    // Reverse spawn order: later actors may depend on earlier ones (a
    // partition on its disks), so they go first while their dependencies
    // can still answer.
    for (const cell of [...this.#cells.values()].reverse()) await cell.stop();
    // What still waits in the transport's outboxes is reported (and counted) as it closes.
    if (this.#transport !== undefined) await this.#transport.close();
    // Nothing is left to reply; release every waiting asker and its timer.
    for (const pending of [...this.#asks.values()]) pending.settle(fault("Unreachable", `host ${this.nodeId} shut down`));
    nactStop(this.#system);
  }

  #reachability(to: ActorRef<unknown>): Undeliverable | undefined {
    // A remote ref is judged by the transport when the request is sent.
    if (to.nodeId !== this.nodeId) return this.#transport === undefined ? "other node (no remoting yet)" : undefined;
    if (to.incarnation !== this.incarnation) return "dead incarnation";
    if (this.#asks.has(to.path)) return undefined;
    const cell = this.#cells.get(to.path);
    if (cell === undefined) return "unknown actor";
    return cell.accepting() ? undefined : "actor stopped";
  }

  /** `corr` is the ask's number for a request from `ask`, else 0. */
  #deliver(to: ActorRef<unknown>, message: unknown, corr: number): Undeliverable | "delivered" {
    if (to.nodeId !== this.nodeId) {
      if (this.#transport === undefined) return "other node (no remoting yet)";
      if (this.#shutdown !== undefined) return "unreachable";
      const sent = this.#transport.send(to, message, corr);
      return sent === "accepted" ? "delivered" : sent;
    }
    if (to.incarnation !== this.incarnation) return "dead incarnation";
    const pending = this.#asks.get(to.path);
    if (pending !== undefined) {
      pending.settle(message);
      return "delivered";
    }
    const cell = this.#cells.get(to.path);
    if (cell === undefined) return "unknown actor";
    // A local message keeps the sender's request context (the gateway's request, or the one its sender handles).
    return cell.accept(message, currentRequestId());
  }

  /** A message from another node, decoded by the transport. Returns why it was refused, which goes back to the sender. */
  #deliverInbound(to: ActorRef<unknown>, message: unknown, from: NodeId, requestId: string | undefined): string {
    const outcome = this.#inboundOutcome(to, message, requestId);
    if (outcome !== "delivered") this.#deadLetters(to, 1, `from ${from}: ${outcome}`, message);
    return outcome;
  }

  #inboundOutcome(to: ActorRef<unknown>, message: unknown, requestId: string | undefined): Undeliverable | "delivered" {
    if (this.#shutdown !== undefined) return "actor stopped";
    if (to.nodeId !== this.nodeId) return "wrong node";
    if (to.incarnation !== this.incarnation) return "dead incarnation";
    const pending = this.#asks.get(to.path);
    if (pending !== undefined) {
      // A reply: the asker's code checks it, the host does not.
      pending.settle(message);
      return "delivered";
    }
    if (to.path.startsWith(replyPathPrefix)) return "ask already ended";
    const cell = this.#cells.get(to.path);
    if (cell === undefined) return "unknown actor";
    if (!cell.acceptsFromWire(message)) return "invalid message";
    return cell.accept(message, requestId);
  }

  /** A message this node sent was refused by its peer, or never left (the transport gave up on it). */
  #undeliverable(report: UndeliverableReport): void {
    const reason = report.refusedBy === "peer" ? `refused by ${report.to.nodeId}: ${report.reason}` : report.reason;
    this.#deadLetters(report.to, 1, reason, report.kind === undefined ? undefined : { kind: report.kind });
    if (report.corr === 0) return;
    this.#asks.get(`${replyPathPrefix}ask-${report.corr}`)?.settle(fault(faultKindOf(report.reason), `${refText(report.to)}: ${reason}`));
  }

  /** Asks waiting on a node (or on its runs below `incarnationBelow`) that can no longer answer. */
  #peerUnreachable(nodeId: NodeId, incarnationBelow: number | undefined, reason: string): void {
    for (const pending of [...this.#asks.values()]) {
      if (pending.peer !== nodeId) continue;
      if (incarnationBelow !== undefined && pending.peerIncarnation >= incarnationBelow) continue;
      pending.settle(fault("Unreachable", `${nodeId}: ${reason}`));
    }
  }

  /**
   * A message that was accepted (its sender heard "delivered") and then
   * dropped unhandled because its actor stopped. Without an answer its asker
   * would wait out its whole timeout, so a reply ref in the message gets
   * `Unreachable` at once, as an ask to an already stopped actor does. The
   * message never ran, so it had no effect. The reply goes through `tell`
   * and reaches an asker on another node like any reply.
   */
  #droppedUnhandled(to: ActorRef<unknown>, message: unknown): void {
    this.#deadLetters(to, 1, "dropped from mailbox at stop", message);
    const replyTo = replyRefOf(message);
    if (replyTo === undefined) return;
    this.tell<Fault>(replyTo, fault("Unreachable", `${refText(to)}: actor stopped before it handled ${messageKind(message) ?? "the message"}`));
  }

  #deadLetters(to: ActorRef<unknown>, count: number, reason: string, message: unknown): void {
    if (count <= 0) return;
    this.#deadLetterCount += count;
    const line: Record<string, unknown> = { level: "warn", event: "dead-letter", nodeId: this.nodeId, to: refText(to), reason, count };
    // Log the message kind only: a message may carry shard bytes or secrets.
    const kind = messageKind(message);
    if (kind !== undefined) line["kind"] = kind;
    this.#log(line);
  }

  #crashed(crash: ActorCrash): void {
    if (this.#onCrash === undefined) {
      this.#log({ level: "error", event: "actor-crash", nodeId: this.nodeId, actor: crash.ref.path, action: crash.action, error: String(crash.error) });
      return;
    }
    try {
      this.#onCrash(crash);
    } catch (error) {
      // A broken listener must not take supervision down with it.
      this.#log({ level: "error", event: "crash-listener-failed", nodeId: this.nodeId, actor: crash.ref.path, error: String(error) });
    }
  }
}

interface CellOptions {
  readonly host: CellHost;
  readonly ref: ActorRef<unknown>;
  readonly nactName: string;
  readonly behavior: Behavior<unknown, unknown>;
  readonly policy: SupervisionPolicy;
  readonly mailboxMax: number;
  readonly random: Random;
  readonly wireCheck: ((message: unknown) => boolean) | undefined;
}

/** A state box, so that `undefined` can be a behaviour's state and still differ from "no live state". */
interface LiveState {
  readonly value: unknown;
}

/**
 * One actor: its nact actor, state, mailbox count and supervision record.
 *
 * `#busy` is true while a start, a message or a restart is in progress; stop
 * waits for it to clear so `stopped` never runs beside `receive`.
 */
class ActorCell {
  readonly ref: ActorRef<unknown>;
  readonly #host: CellHost;
  readonly #nactName: string;
  readonly #behavior: Behavior<unknown, unknown>;
  readonly #mailboxMax: number;
  readonly #wireCheck: ((message: unknown) => boolean) | undefined;
  readonly #context: ActorContext<unknown>;
  /** Aborted when a stop is requested, cutting a restart backoff short. */
  readonly #stopSignal = new AbortController();
  #nactRef: NactRef<Envelope> | undefined;
  #state: LiveState | undefined;
  /** Messages accepted and not yet finished (queued + running). */
  #inFlightCount = 0;
  /** Messages accepted and not yet begun, in mailbox order: what a stop drops, and answers. */
  readonly #waiting = new Set<MessageEnvelope>();
  #busy = false;
  #idleWaiters: (() => void)[] = [];
  #stopRequested = false;
  #stopping: Promise<void> | undefined;
  /** Monotonic times of the restarts inside the current window. */
  readonly #restarts: RestartRecord;
  /** Crashes since the last message handled without one; sets the backoff. */
  #startSettled = false;
  #resolveStart!: () => void;
  #rejectStart!: (error: unknown) => void;

  constructor(options: CellOptions) {
    this.ref = options.ref;
    this.#host = options.host;
    this.#nactName = options.nactName;
    this.#behavior = options.behavior;
    this.#restarts = new RestartRecord(options.policy);
    this.#mailboxMax = options.mailboxMax;
    this.#wireCheck = options.wireCheck;
    const host = options.host;
    this.#context = {
      self: options.ref,
      nodeId: host.nodeId,
      clock: host.clock,
      random: options.random,
      tell: (to, message) => host.tell(to, message),
      ask: (to, build, timeoutMs) => host.ask(to, build, timeoutMs),
    };
  }

  /** Spawns the nact actor and resolves once `initialState` has completed. */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      this.#resolveStart = resolve;
      this.#rejectStart = reject;
    });
    try {
      this.#nactRef = nactSpawn(
        this.#host.system,
        (_state: undefined, envelope: Envelope) => this.#handle(envelope),
        this.#nactName,
        { onCrash: (_message, error, context) => this.#onNactCrash(error, context) },
      ) as NactRef<Envelope>;
    } catch (error) {
      this.#host.removed(this);
      throw error;
    }
    // The start runs as the actor's first message, so anything told to it
    // meanwhile (a timer it arms, say) queues behind its initial state.
    nactDispatch(this.#nactRef, { start: true });
    return started;
  }

  accepting(): boolean {
    return !this.#stopRequested;
  }

  /** True when a message from another node has the shape this actor declared (or it declared none). */
  acceptsFromWire(message: unknown): boolean {
    return this.#wireCheck === undefined || this.#wireCheck(message);
  }

  /** `requestId`: the S3 request the message was sent for; the message is handled in its context. */
  accept(message: unknown, requestId: string | undefined): "delivered" | "actor stopped" | "mailbox full" {
    if (this.#stopRequested || this.#nactRef === undefined) return "actor stopped";
    if (this.#inFlightCount >= this.#mailboxMax) return "mailbox full";
    this.#inFlightCount += 1;
    noteMessageRequestId(message, requestId);
    const envelope: MessageEnvelope = { start: false, message, requestId };
    this.#waiting.add(envelope);
    nactDispatch(this.#nactRef, envelope);
    return "delivered";
  }

  /** Stops the actor: waits for the message in progress, runs `stopped`, drops the rest as dead letters. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopOnce();
    return this.#stopping;
  }

  async #stopOnce(): Promise<void> {
    this.#stopRequested = true;
    this.#stopSignal.abort();
    await this.#whenIdle();
    if (this.#nactRef !== undefined) nactStop(this.#nactRef);
    // What is still queued never ran and never will: each is counted, and
    // its asker (if any) answered now rather than at its timeout.
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const envelope of waiting) this.#host.droppedUnhandled(this.ref, envelope.message);
    this.#host.deadLetters(this.ref, this.#inFlightCount - waiting.length, "dropped from mailbox at stop");
    this.#inFlightCount = 0;
    await this.#releaseState();
    this.#settleStart(new Error(`actor ${refText(this.ref)} was stopped before it started`));
    this.#host.removed(this);
  }

  async #handle(envelope: Envelope): Promise<undefined> {
    // Every start and message sets its request context explicitly, none
    // included: nact may run it from whatever context drained the mailbox.
    if (envelope.start) {
      await runWithRequestId(undefined, () => this.#runStart());
      return undefined;
    }
    // Begun (or dropped just below): a stop no longer finds it waiting.
    this.#waiting.delete(envelope);
    if (this.#stopRequested) {
      // Normally unreachable (stop halts nact before the next message), but
      // if it happens the message is still accounted for, and answered.
      this.#inFlightCount -= 1;
      this.#host.droppedUnhandled(this.ref, envelope.message);
      return undefined;
    }
    this.#busy = true;
    const state = this.#state;
    assert(state !== undefined, `actor ${refText(this.ref)} received a message without a live state`);
    // A throw or rejection here goes to nact's crash hook, #onNactCrash.
    const next = await runWithRequestId(envelope.requestId, () => this.#behavior.receive(state.value, envelope.message, this.#context));
    this.#state = { value: next };
    this.#inFlightCount -= 1;
    this.#restarts.handled();
    this.#becomeIdle();
    return undefined;
  }

  async #runStart(): Promise<void> {
    if (this.#stopRequested) {
      this.#settleStart(new Error(`actor ${refText(this.ref)} was stopped before it started`));
      return;
    }
    this.#busy = true;
    try {
      const value = await this.#behavior.initialState(this.#context);
      this.#state = { value };
      this.#settleStart();
    } catch (error) {
      // A failed first start is the spawner's to handle, not supervision's:
      // spawn rejects and the path is freed.
      this.#settleStart(error);
      this.#stopRequested = true;
      void this.stop();
    } finally {
      this.#becomeIdle();
    }
  }

  // nact's typings name its decisions with the `Symbol` wrapper type.
  async #onNactCrash(error: unknown, context: SupervisionContext<Envelope, ActorSystemRef>): Promise<Symbol> {
    try {
      const outcome = await this.#recover(error);
      return outcome === "resume" ? context.resume : context.stop;
    } catch (unexpected) {
      // #recover catches the behaviour's errors itself; reaching here is a
      // bug in this host. Stop the actor rather than leave it wedged.
      this.#host.log({ level: "error", event: "supervision-failed", actor: this.ref.path, error: String(unexpected) });
      this.#stopRequested = true;
      this.#becomeIdle();
      void this.stop();
      return context.stop;
    }
  }

  /** Restarts the actor after a crash, or stops it; nact holds the mailbox meanwhile. */
  async #recover(error: unknown): Promise<"resume" | "stop"> {
    // The message that crashed the actor is finished: it is not retried.
    this.#inFlightCount -= 1;
    let failure = error;
    for (;;) {
      const action = this.#decide(failure);
      this.#host.crashed({ ref: this.ref, error: failure, action });
      await this.#releaseState();
      if (action === "stopped" || this.#stopRequested) {
        // A stop requested during the `stopped` hook wins over the restart.
        this.#stopRequested = true;
        this.#becomeIdle();
        void this.stop();
        return "stop";
      }
      const backoffMs = this.#restarts.nextBackoffMs();
      await sleepUnlessAborted(this.#host.clock, backoffMs, this.#stopSignal.signal);
      if (this.#stopRequested) {
        this.#becomeIdle();
        return "stop";
      }
      try {
        // Outside any request: the crashing message's context must not stick to the new state's timers.
        const value = await runWithRequestId(undefined, () => this.#behavior.initialState(this.#context));
        this.#state = { value };
        this.#becomeIdle();
        return "resume";
      } catch (restartError) {
        failure = restartError;
      }
    }
  }

  #decide(error: unknown): ActorCrash["action"] {
    return this.#restarts.decide(error, this.#host.clock.monotonicMs(), this.#stopRequested);
  }

  /** Runs `stopped` on the live state, if any; its failure is logged, never thrown. */
  async #releaseState(): Promise<void> {
    const state = this.#state;
    if (state === undefined) return;
    this.#state = undefined;
    if (this.#behavior.stopped === undefined) return;
    try {
      await this.#behavior.stopped(state.value, this.#context);
    } catch (error) {
      this.#host.log({ level: "error", event: "actor-stopped-hook-failed", actor: this.ref.path, error: String(error) });
    }
  }

  #whenIdle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  #becomeIdle(): void {
    this.#busy = false;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Settles `start()`: resolved when called without a failure, rejected with it otherwise. */
  #settleStart(...failure: [] | [unknown]): void {
    if (this.#startSettled) return;
    this.#startSettled = true;
    if (failure.length === 0) this.#resolveStart();
    else this.#rejectStart(failure[0]);
  }
}


/**
 * The fault an undeliverable message becomes for its asker. Remote refusals
 * map like local ones, so a caller never needs to know where a ref lives:
 * full queues are `Overloaded`; a message that does not match the target's
 * wire schema (or cannot be framed) is `Corrupt`; everything else (unknown or
 * stopped actor, dead incarnation, unreachable or unknown node) is
 * `Unreachable`.
 */
function faultKindOf(reason: string): Fault["fault"] {
  if (reason === "mailbox full" || reason === "outbox full") return "Overloaded";
  if (reason === "invalid message" || reason === "not encodable") return "Corrupt";
  return "Unreachable";
}

