/**
 * The deterministic host: one node of a `SimulatedWorld`, with the same
 * semantics as the nact host (runtime/host-nact.ts) but every step driven by
 * the world's event queue and simulated clock instead of nact and real timers.
 *
 * Same as nact: a serial mailbox per actor (an async `receive` finishes before
 * the next message starts); an async `initialState` before the first message;
 * bounded mailboxes (`Overloaded` to an ask, a dead letter for a tell);
 * supervision (restart with doubling backoff on the clock, `restartsMax`
 * within `windowMs`, an `AssertionError` stops at once, `stopped` runs on the
 * old state); `ask` with a mandatory timeout and reply refs under `tmp/`;
 * counted and logged dead letters; refs carry the node's incarnation and a ref
 * of another incarnation is refused.
 *
 * Different by design:
 * - Each message an actor handles is one world event (a "turn"), so actors on
 *   every node interleave in one seeded order.
 * - Messages to other nodes go through the world's `SimulatedNetwork`, copied
 *   by value (`structuredClone`): nothing mutable is shared between nodes.
 *   What cannot be delivered there comes back to the sender (a dead letter on
 *   both sides; an ask resolves to `Unreachable`, or `Overloaded` for a full
 *   mailbox), as the real transport does. `wireSchema` is checked on arrival.
 * - `kill()` (through `world.kill`) ends the node at once: no `stopped` hook
 *   runs, handlers in progress are abandoned (their sleeps never wake, their
 *   tells and asks go nowhere), pending asks never resolve.
 */
import { checkSpawn, compileWireCheck, messageKind, replyPathPrefix, replyRefOf, RestartRecord } from "../actor-rules.ts";
import { assert } from "../assert.ts";
import type { ActorContext, ActorCrash, Behavior, Host, Random, SpawnOptions, SupervisionPolicy } from "../behavior.ts";
import { fault, type Fault } from "../fault.ts";
import { defaultMailboxMax, defaultSupervisionPolicy } from "../host-nact.ts";
import { actorRef, refText, type ActorRef, type NodeId } from "../ref.ts";
import type { SimulatedClock, TimerHandle } from "./simulated-clock.ts";


// The same path rule as the nact host: segments of letters, digits and
// `._~:@=+-`, joined by single slashes.
const pathPattern = /^[A-Za-z0-9._~:@=+-]+(?:\/[A-Za-z0-9._~:@=+-]+)*$/;

/** A message between nodes, as the network carries it. */
export interface WireEnvelope {
  readonly fromNodeId: NodeId;
  readonly fromIncarnation: number;
  readonly to: ActorRef<unknown>;
  /** A deep copy, owned by the network and then by the receiver. */
  readonly message: unknown;
  /** For an ask's request: the asker's reply path, so a refusal can end the ask at once. */
  readonly replyPath: string | undefined;
}

/** Why a message could not be delivered. */
export type Undeliverable = "unknown actor" | "actor stopped" | "mailbox full" | "dead incarnation" | "invalid message" | "node down" | "unreachable";

/** What a host needs from its world. */
export interface HostServices {
  /** True while this run of the node is alive; false for ever after a kill or a completed shutdown. */
  alive(): boolean;
  /** Schedules `run` after `delayMs` of simulated time; skipped if this run of the node has died by then. */
  schedule(delayMs: number, label: string, run: () => void): void;
  /** Sends a message to another node through the network. */
  transmit(envelope: WireEnvelope): void;
  /** Records a delivery in the trace (and tells the world's delivery listeners). */
  delivered(what: "message" | "reply", to: ActorRef<unknown>, message: unknown): void;
  crashed(crash: ActorCrash): void;
  log(line: Record<string, unknown>): void;
  /** Called once a shutdown has finished: the node is down. */
  shutDown(): void;
}

export interface SimulatedHostOptions {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly clock: SimulatedClock;
  readonly random: Random;
  readonly services: HostServices;
}

interface PendingAsk {
  /** The node and run the request went to, so a link known down can end the ask early. */
  readonly peer: NodeId;
  readonly peerIncarnation: number;
  settle(reply: unknown): void;
}

/** A `Host` on the simulated clock and network. Made by `SimulatedWorld.addNode` / `restart`. */
export class SimulatedHost implements Host {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly clock: SimulatedClock;
  readonly random: Random;
  readonly #services: HostServices;
  readonly #cells = new Map<string, SimulatedCell>();
  readonly #asks = new Map<string, PendingAsk>();
  #askSequence = 0;
  #deadLetterCount = 0;
  #shutdown: Promise<void> | undefined;
  #killed = false;
  readonly #cellHost: CellHost;

  constructor(options: SimulatedHostOptions) {
    assert(options.nodeId.length > 0, "SimulatedHost: nodeId must be non-empty");
    assert(Number.isSafeInteger(options.incarnation) && options.incarnation >= 1, "SimulatedHost: incarnation must be a positive integer");
    this.nodeId = options.nodeId;
    this.incarnation = options.incarnation;
    this.clock = options.clock;
    this.random = options.random;
    this.#services = options.services;
    this.#cellHost = {
      nodeId: this.nodeId,
      clock: this.clock,
      services: this.#services,
      tell: (to, message) => this.tell(to, message),
      ask: (to, build, timeoutMs) => this.ask(to, build, timeoutMs),
      deadLetters: (to, count, reason) => this.#deadLetters(to, count, reason, undefined),
      removed: (cell) => {
        if (this.#cells.get(cell.ref.path) === cell) this.#cells.delete(cell.ref.path);
      },
    };
  }

  /** True until the node is killed or has shut down. */
  alive(): boolean {
    return this.#services.alive();
  }

  /** Paths of the actors that are live or stopping, in spawn order. */
  actorPaths(): string[] {
    return [...this.#cells.keys()];
  }

  /** Asks not yet resolved (for tests and leak checks). */
  pendingAskCount(): number {
    return this.#asks.size;
  }

  spawn<S, M>(path: string, behavior: Behavior<S, M>, options: SpawnOptions = {}): Promise<ActorRef<M>> {
    assert(this.#shutdown === undefined && !this.#killed, `spawn ${path}: node ${this.nodeId}#${this.incarnation} is down`);
    assert(!this.#cells.has(path), `spawn ${path}: path already in use on node ${this.nodeId}`);
    const policy = options.supervision ?? defaultSupervisionPolicy;
    checkSpawn(path, policy);
    const mailboxMax = options.mailboxMax ?? defaultMailboxMax;
    assert(Number.isSafeInteger(mailboxMax) && mailboxMax > 0, `spawn ${path}: mailboxMax must be a positive integer, got ${mailboxMax}`);
    const wireCheck = options.wireSchema === undefined ? undefined : compileWireCheck(options.wireSchema);
    const cell = new SimulatedCell({
      host: this.#cellHost,
      ref: actorRef<unknown>(this.nodeId, this.incarnation, path),
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
    // A dead node's abandoned handlers may still run to their end; nothing they send leaves the node.
    if (this.#killed) return;
    if (to.nodeId !== this.nodeId) {
      // After a completed shutdown the node's transport is closed too.
      if (this.#services.alive()) this.#transmit(to, message, undefined);
      else this.#deadLetters(to, 1, "node down", message);
      return;
    }
    const outcome = this.#deliverLocal(to, message);
    if (outcome !== "delivered") this.#deadLetters(to, 1, outcome, message);
  }

  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault> {
    assert(
      typeof timeoutMs === "number" && Number.isFinite(timeoutMs) && timeoutMs > 0,
      `ask ${refText(to)}: timeoutMs must be a positive finite number, got ${timeoutMs}`,
    );
    // An abandoned handler of a dead node waits for ever: nothing it started may come back to life.
    if (this.#killed) return new Promise<R | Fault>(() => {});
    const remote = to.nodeId !== this.nodeId;
    if (remote && !this.#services.alive()) {
      this.#deadLetters(to, 1, "node down", undefined);
      return Promise.resolve(fault("Unreachable", `${refText(to)}: this node is shut down`));
    }
    if (!remote) {
      const unreachable = this.#reachability(to);
      if (unreachable !== undefined) {
        this.#deadLetters(to, 1, unreachable, undefined);
        return Promise.resolve(fault("Unreachable", `${refText(to)}: ${unreachable}`));
      }
    }
    this.#askSequence += 1;
    const replyRef = actorRef<R>(this.nodeId, this.incarnation, `${replyPathPrefix}ask-${this.#askSequence}`);
    let timer: TimerHandle | undefined;
    let resolve!: (result: R | Fault) => void;
    const result = new Promise<R | Fault>((settle) => {
      resolve = settle;
    });
    // Only the first reply counts; the ref is gone after it (or after the
    // timeout), so a second or late reply is a dead letter.
    const pending: PendingAsk = {
      peer: to.nodeId,
      peerIncarnation: to.incarnation,
      settle: (reply) => {
        if (this.#asks.get(replyRef.path) !== pending) return;
        this.#asks.delete(replyRef.path);
        timer?.cancel();
        resolve(reply as R);
      },
    };
    this.#asks.set(replyRef.path, pending);

    let request: T;
    try {
      request = build(replyRef);
    } catch (error) {
      this.#asks.delete(replyRef.path);
      throw error;
    }
    if (remote) {
      this.#transmit(to, request, replyRef.path);
    } else {
      const outcome = this.#deliverLocal(to, request);
      if (outcome !== "delivered") {
        this.#asks.delete(replyRef.path);
        this.#deadLetters(to, 1, outcome, request);
        return Promise.resolve(fault(outcome === "mailbox full" ? "Overloaded" : "Unreachable", `${refText(to)}: ${outcome}`));
      }
    }
    // A reply cancels this timer's event, so an answered ask leaves nothing queued.
    timer = this.clock.timer(timeoutMs, () => pending.settle(fault("Timeout", `${refText(to)}: no reply within ${timeoutMs} ms`)));
    return result;
  }

  stop(ref: ActorRef<unknown>): Promise<void> {
    if (ref.nodeId !== this.nodeId || ref.incarnation !== this.incarnation) {
      this.#log({ level: "warn", event: "stop-ignored", actor: refText(ref), reason: "other node or incarnation" });
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

  /** Ends this run at once (the world's `kill`): no hooks, no replies, nothing more leaves the node. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    for (const cell of this.#cells.values()) cell.kill();
    this.#cells.clear();
    // Dropped, not resolved: the code waiting on them belonged to the dead process.
    this.#asks.clear();
  }

  /** A message from another node arrived for this run; what happened to it (anything but "delivered" goes back). */
  receiveRemote(envelope: WireEnvelope): Undeliverable | "delivered" {
    assert(!this.#killed, "receiveRemote on a killed host");
    const to = envelope.to;
    let outcome: Undeliverable | "delivered";
    if (to.incarnation !== this.incarnation) {
      outcome = "dead incarnation";
    } else if (this.#asks.has(to.path)) {
      outcome = this.#deliverLocal(to, envelope.message);
    } else {
      const cell = this.#cells.get(to.path);
      if (cell === undefined) outcome = "unknown actor";
      else if (!cell.accepts(envelope.message)) outcome = "invalid message";
      else outcome = cell.accept(envelope.message);
    }
    if (outcome !== "delivered") this.#deadLetters(to, 1, outcome, envelope.message);
    return outcome;
  }

  /** A message this run sent was not delivered: count it, and end the ask it started, if any. */
  undeliverable(envelope: WireEnvelope, reason: Undeliverable): void {
    if (this.#killed) return;
    this.#deadLetters(envelope.to, 1, reason, envelope.message);
    if (envelope.replyPath === undefined) return;
    const pending = this.#asks.get(envelope.replyPath);
    pending?.settle(fault(reason === "mailbox full" ? "Overloaded" : "Unreachable", `${refText(envelope.to)}: ${reason}`));
  }

  /**
   * The link to `nodeId` is known to be down (or that node has restarted):
   * asks waiting on it, or on its runs below `incarnationBelow`, give up with
   * `Unreachable` instead of waiting for their timeout, as with the real transport.
   */
  peerUnreachable(nodeId: NodeId, incarnationBelow: number | undefined, reason: string): void {
    if (this.#killed) return;
    for (const pending of [...this.#asks.values()]) {
      if (pending.peer !== nodeId) continue;
      if (incarnationBelow !== undefined && pending.peerIncarnation >= incarnationBelow) continue;
      pending.settle(fault("Unreachable", `${nodeId}: ${reason}`));
    }
  }

  async #shutdownOnce(): Promise<void> {
    // Reverse spawn order, as the nact host: later actors may depend on earlier ones.
    for (const cell of [...this.#cells.values()].reverse()) await cell.stop();
    for (const pending of [...this.#asks.values()]) pending.settle(fault("Unreachable", `host ${this.nodeId} shut down`));
    if (!this.#killed) this.#services.shutDown();
  }

  #transmit(to: ActorRef<unknown>, message: unknown, replyPath: string | undefined): void {
    let copy: unknown;
    try {
      copy = copyMessage(message);
    } catch (error) {
      // A message with functions or promises in it cannot cross a real wire either.
      assert(false, `message to ${refText(to)} cannot be sent to another node: ${String(error)}`);
    }
    this.#services.transmit({ fromNodeId: this.nodeId, fromIncarnation: this.incarnation, to, message: copy, replyPath });
  }

  #reachability(to: ActorRef<unknown>): Undeliverable | undefined {
    if (to.incarnation !== this.incarnation) return "dead incarnation";
    if (this.#asks.has(to.path)) return undefined;
    const cell = this.#cells.get(to.path);
    if (cell === undefined) return "unknown actor";
    return cell.accepting() ? undefined : "actor stopped";
  }

  /** Delivers a message to an actor or a waiting ask of this run. */
  #deliverLocal(to: ActorRef<unknown>, message: unknown): Undeliverable | "delivered" {
    if (to.incarnation !== this.incarnation) return "dead incarnation";
    const pending = this.#asks.get(to.path);
    if (pending !== undefined) {
      this.#services.delivered("reply", to, message);
      pending.settle(message);
      return "delivered";
    }
    const cell = this.#cells.get(to.path);
    if (cell === undefined) return "unknown actor";
    return cell.accept(message);
  }

  #deadLetters(to: ActorRef<unknown>, count: number, reason: string, message: unknown): void {
    if (count <= 0) return;
    this.#deadLetterCount += count;
    const line: Record<string, unknown> = { level: "warn", event: "dead-letter", to: refText(to), reason, count };
    // The message kind only: a message may carry shard bytes or secrets.
    const kind = messageKind(message);
    if (kind !== undefined) line["kind"] = kind;
    this.#log(line);
  }

  #log(line: Record<string, unknown>): void {
    this.#services.log(line);
  }
}

/** What a cell needs from its host. */
interface CellHost {
  readonly nodeId: NodeId;
  readonly clock: SimulatedClock;
  readonly services: HostServices;
  tell<T>(to: ActorRef<T>, message: T): void;
  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault>;
  deadLetters(to: ActorRef<unknown>, count: number, reason: string): void;
  /** The cell has stopped and its path is free. */
  removed(cell: SimulatedCell): void;
}

interface CellOptions {
  readonly host: CellHost;
  readonly ref: ActorRef<unknown>;
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
 * One actor: its mailbox, state and supervision record.
 *
 * `#busy` is true while a start, a message or a restart is in progress; the
 * next message is taken only when it clears, and `stop` waits for it so that
 * `stopped` never runs beside `receive`. Every `await` is followed by a check
 * of `#killed`: a killed node's handler may resume (a store call it awaited
 * settles) but must change nothing visible.
 */
class SimulatedCell {
  readonly ref: ActorRef<unknown>;
  readonly #host: CellHost;
  readonly #services: HostServices;
  readonly #behavior: Behavior<unknown, unknown>;
  readonly #mailboxMax: number;
  readonly #wireCheck: ((message: unknown) => boolean) | undefined;
  readonly #context: ActorContext<unknown>;
  readonly #stopSignal = new AbortController();
  #queue: unknown[] = [];
  /** True while a message is being handled: it still counts against the mailbox bound. */
  #handling = false;
  #state: LiveState | undefined;
  #busy = false;
  #turnScheduled = false;
  #idleWaiters: (() => void)[] = [];
  #stopRequested = false;
  #stopping: Promise<void> | undefined;
  #killed = false;
  readonly #restarts: RestartRecord;
  #startSettled = false;
  #resolveStart!: () => void;
  #rejectStart!: (error: unknown) => void;

  constructor(options: CellOptions) {
    this.ref = options.ref;
    this.#host = options.host;
    this.#services = options.host.services;
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

  /** Resolves once `initialState` has completed; rejects if it failed or the actor was stopped first. */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      this.#resolveStart = resolve;
      this.#rejectStart = reject;
    });
    this.#busy = true;
    // One microtask later, as nact dispatches the start: a `stop` right
    // after `spawn` wins, and the actor never starts.
    queueMicrotask(() => void this.#runStart());
    return started;
  }

  accepting(): boolean {
    return !this.#stopRequested;
  }

  /** True when a message from another node passes the actor's wire schema (or it has none). */
  accepts(message: unknown): boolean {
    return this.#wireCheck === undefined || this.#wireCheck(message);
  }

  accept(message: unknown): "delivered" | "actor stopped" | "mailbox full" {
    if (this.#stopRequested || this.#killed) return "actor stopped";
    if (this.#queue.length + (this.#handling ? 1 : 0) >= this.#mailboxMax) return "mailbox full";
    this.#queue.push(message);
    this.#pump();
    return "delivered";
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stopOnce();
    return this.#stopping;
  }

  kill(): void {
    this.#killed = true;
    this.#queue = [];
    this.#state = undefined;
    this.#idleWaiters = [];
  }

  async #stopOnce(): Promise<void> {
    this.#stopRequested = true;
    this.#stopSignal.abort();
    await this.#whenIdle();
    if (this.#killed) return;
    // What is still queued never ran and never will. An ask among it is answered at once, as the
    // production host does (host-nact.ts #droppedUnhandled), so its asker does not wait out its timeout.
    this.#host.deadLetters(this.ref, this.#queue.length, "dropped from mailbox at stop");
    for (const message of this.#queue) {
      const replyTo = replyRefOf(message);
      if (replyTo !== undefined) this.#host.tell<Fault>(replyTo, fault("Unreachable", `${refText(this.ref)}: actor stopped before it handled ${messageKind(message) ?? "the message"}`));
    }
    this.#queue = [];
    await this.#releaseState();
    if (this.#killed) return;
    this.#settleStart(new Error(`actor ${refText(this.ref)} was stopped before it started`));
    this.#host.removed(this);
  }

  async #runStart(): Promise<void> {
    if (this.#killed) return;
    if (this.#stopRequested) {
      this.#becomeIdle();
      this.#settleStart(new Error(`actor ${refText(this.ref)} was stopped before it started`));
      return;
    }
    try {
      const value = await this.#behavior.initialState(this.#context);
      if (this.#killed) return;
      this.#state = { value };
      this.#settleStart();
    } catch (error) {
      if (this.#killed) return;
      // A failed first start is the spawner's to handle, not supervision's:
      // spawn rejects and the path is freed.
      this.#settleStart(error);
      this.#stopRequested = true;
      void this.stop();
    }
    this.#becomeIdle();
  }

  /** Schedules the next turn if a message waits and nothing else is in progress. */
  #pump(): void {
    if (this.#busy || this.#turnScheduled || this.#stopRequested || this.#killed) return;
    if (this.#queue.length === 0 || this.#state === undefined) return;
    this.#turnScheduled = true;
    this.#services.schedule(0, "turn", () => void this.#turn());
  }

  /** Handles one message: one world event. */
  async #turn(): Promise<void> {
    this.#turnScheduled = false;
    if (this.#killed || this.#stopRequested || this.#busy) return;
    const state = this.#state;
    assert(state !== undefined, `actor ${refText(this.ref)} took a message without a live state`);
    const message = this.#queue.shift();
    this.#busy = true;
    this.#handling = true;
    this.#services.delivered("message", this.ref, message);
    let next: unknown;
    try {
      next = await this.#behavior.receive(state.value, message, this.#context);
    } catch (error) {
      if (this.#killed) return;
      // The message that crashed the actor is finished: it is not retried.
      this.#handling = false;
      await this.#recover(error);
      return;
    }
    if (this.#killed) return;
    this.#state = { value: next };
    this.#handling = false;
    this.#restarts.handled();
    this.#becomeIdle();
  }

  /** Restarts the actor after a crash, or stops it. Messages wait in the mailbox meanwhile. */
  async #recover(error: unknown): Promise<void> {
    let failure = error;
    for (;;) {
      const action = this.#decide(failure);
      this.#services.crashed({ ref: this.ref, error: failure, action });
      await this.#releaseState();
      if (this.#killed) return;
      if (action === "stopped" || this.#stopRequested) {
        // A stop requested during the `stopped` hook wins over the restart.
        this.#stopRequested = true;
        this.#becomeIdle();
        void this.stop();
        return;
      }
      const backoffMs = this.#restarts.nextBackoffMs();
      if (backoffMs > 0) await this.#host.clock.sleep(backoffMs, this.#stopSignal.signal);
      if (this.#killed) return;
      if (this.#stopRequested) {
        this.#becomeIdle();
        return;
      }
      try {
        const value = await this.#behavior.initialState(this.#context);
        if (this.#killed) return;
        this.#state = { value };
        this.#becomeIdle();
        return;
      } catch (restartError) {
        if (this.#killed) return;
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
      if (!this.#killed) this.#services.log({ level: "error", event: "actor-stopped-hook-failed", actor: this.ref.path, error: String(error) });
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
    this.#pump();
  }

  #settleStart(...failure: [] | [unknown]): void {
    if (this.#startSettled) return;
    this.#startSettled = true;
    if (failure.length === 0) this.#resolveStart();
    else this.#rejectStart(failure[0]);
  }
}



/**
 * A deep copy of a message, as a wire would make it. Plain objects, arrays,
 * byte arrays and primitives (the shape of every protocol message) are copied
 * by hand, which is several times faster than `structuredClone` for small
 * messages; anything else (a Map, a Date) goes through `structuredClone`,
 * which refuses what no wire could carry (functions, promises).
 */
function copyMessage(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return value;
    case "function":
    case "symbol":
      throw new Error(`a ${typeof value} cannot be copied into a message`);
    case "object":
      break;
  }
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(copyMessage);
  if (value instanceof Uint8Array) return value.slice();
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyMessage((value as Record<string, unknown>)[key]);
  return copy;
}
