/**
 * A whole fleet in one process, on simulated time, driven by one seed.
 *
 * The world owns one event queue ordered by (time, insertion sequence), one
 * simulated clock, one seeded `Random` (forked per purpose: `node:<id>#<n>`
 * for a node's run, `link:<a>><b>` for a network link, so adding a node or a
 * message on one link does not shift any other stream), the simulated
 * network, and the nodes. Running the world pops one event at a time, sets
 * the clock to its time, runs it, then lets every microtask settle before the
 * next event: an async behaviour that awaits only simulated things (sleeps,
 * asks, in-memory stores) reaches its next wait before time moves on, and the
 * whole run is a function of the seed. Real I/O inside a behaviour would
 * settle at a moment the seed does not fix, so simulations use in-memory
 * stores only.
 *
 * The world fails loudly, with its seed: a node-start function that rejects,
 * an actor stopped by an `AssertionError` (when `failOnAssertion`, the
 * default), an event budget exhausted, or too many events at one instant (a
 * livelock: something reschedules itself with no delay) all make the next
 * `run…` call throw a `SimulationError`.
 */
import { assert, isAssertionError } from "../assert.ts";
import type { ActorCrash, Random } from "../behavior.ts";
import { seededRandom } from "../random.ts";
import { refText, type ActorRef, type NodeId } from "../ref.ts";
import { EventQueue } from "./event-queue.ts";
import { SimulatedNetwork, type NetworkOptions } from "./network.ts";
import { simulatedClock, type SimulatedClock, type TimerHandle } from "./simulated-clock.ts";
import { SimulatedHost, type Undeliverable, type WireEnvelope } from "./simulated-host.ts";
import { TraceHash } from "./trace-hash.ts";

export interface SimulatedWorldOptions {
  /** The one seed every random choice of the run comes from: an integer in [0, 2^32). */
  readonly seed: number;
  /** Wall-clock ms at simulated time 0. Defaults to 2026-01-01T00:00:00Z, fixed so runs replay. */
  readonly startMs?: number;
  readonly network?: Partial<NetworkOptions>;
  /** Most events one `run…` call may process before it is reported as never going idle. Default 5,000,000. */
  readonly eventsPerRunMax?: number;
  /** Most events at one simulated instant before it is reported as a livelock. Default 100,000. */
  readonly eventsPerInstantMax?: number;
  /** Log lines kept for `logTail` (a ring). Default 1,000. */
  readonly logLinesMax?: number;
  /** Also receives every log line (with `timeMs`, `nodeId`, `incarnation`). */
  readonly log?: (line: Record<string, unknown>) => void;
  /** An actor stopped by an `AssertionError` fails the run. Default true: a simulation is a bug hunt. */
  readonly failOnAssertion?: boolean;
}

/** Starts a node's actors: run at `addNode` and again after every `restart`, with the new run's host. */
export type NodeStart = (host: SimulatedHost) => void | Promise<void>;

export interface AddNodeOptions {
  /** This node's wall clock reads this many ms ahead of world time (negative: behind). */
  readonly clockOffsetMs?: number;
}

/** A message handed to an actor or a waiting ask, as delivery listeners see it. */
export interface Delivery {
  readonly timeMs: number;
  readonly what: "message" | "reply" | "undeliverable";
  readonly to: ActorRef<unknown>;
  readonly message: unknown;
}

/** A simulation that failed: carries the seed that replays it. */
export class SimulationError extends Error {
  override readonly name = "SimulationError";
  readonly seed: number;
  readonly timeMs: number;
  constructor(seed: number, timeMs: number, detail: string, options?: { cause?: unknown }) {
    super(`simulation seed ${seed}, t=${timeMs} ms: ${detail}`, options);
    this.seed = seed;
    this.timeMs = timeMs;
  }
}

/** Whether a run of a node is alive; shared by its host's services, timers and the world. */
interface RunLiveness {
  alive: boolean;
}

interface NodeRun {
  readonly incarnation: number;
  readonly host: SimulatedHost;
  readonly liveness: RunLiveness;
  started: boolean;
}

interface NodeEntry {
  readonly nodeId: NodeId;
  readonly start: NodeStart;
  readonly clockOffsetMs: number;
  current: NodeRun;
  /** Every run's host, for dead-letter totals. */
  readonly hosts: SimulatedHost[];
}

const defaultStartMs = Date.UTC(2026, 0, 1);

/** Creates a world from one seed. */
export function createSimulatedWorld(options: SimulatedWorldOptions): SimulatedWorld {
  return new SimulatedWorld(options);
}

export class SimulatedWorld {
  readonly seed: number;
  /** The root stream; fork it per purpose (`world.random.fork("workload")`) rather than drawing from it. */
  readonly random: Random;
  /** World time, owned by no node: its sleeps fire whatever happens to the nodes. */
  readonly clock: SimulatedClock;
  readonly network: SimulatedNetwork;
  readonly #startMs: number;
  readonly #queue = new EventQueue();
  readonly #nodes = new Map<NodeId, NodeEntry>();
  readonly #trace = new TraceHash();
  readonly #deliveryListeners: ((delivery: Delivery) => void)[] = [];
  readonly #crashes: ActorCrash[] = [];
  readonly #logLines: Record<string, unknown>[] = [];
  readonly #logLinesMax: number;
  readonly #externalLog: ((line: Record<string, unknown>) => void) | undefined;
  readonly #eventsPerRunMax: number;
  readonly #eventsPerInstantMax: number;
  readonly #failOnAssertion: boolean;
  #elapsedMs = 0;
  #eventCount = 0;
  #instantEventCount = 0;
  #running = false;
  #failure: SimulationError | undefined;

  constructor(options: SimulatedWorldOptions) {
    this.seed = options.seed;
    this.random = seededRandom(options.seed);
    this.#startMs = options.startMs ?? defaultStartMs;
    this.#eventsPerRunMax = options.eventsPerRunMax ?? 5_000_000;
    this.#eventsPerInstantMax = options.eventsPerInstantMax ?? 100_000;
    this.#logLinesMax = options.logLinesMax ?? 1_000;
    this.#externalLog = options.log;
    this.#failOnAssertion = options.failOnAssertion ?? true;
    assert(Number.isSafeInteger(this.#eventsPerRunMax) && this.#eventsPerRunMax > 0, "eventsPerRunMax must be a positive integer");
    assert(Number.isSafeInteger(this.#eventsPerInstantMax) && this.#eventsPerInstantMax > 0, "eventsPerInstantMax must be a positive integer");
    this.clock = this.#clockFor(undefined, 0);
    this.network = new SimulatedNetwork(
      {
        elapsedMs: () => this.#elapsedMs,
        schedule: (delayMs, label, run) => void this.#schedule(delayMs, label, run, undefined),
        random: (label) => this.random.fork(label),
        nodeIds: () => [...this.#nodes.keys()],
        linkDown: (a, b) => {
          this.#peerUnreachable(a, b, undefined, "link down");
          this.#peerUnreachable(b, a, undefined, "link down");
        },
      },
      options.network,
    );
  }

  /** Simulated ms since the world started. */
  elapsedMs(): number {
    return this.#elapsedMs;
  }

  /** Adds a node and starts its first run (incarnation 1) with `start`. */
  addNode(nodeId: NodeId, start: NodeStart, options: AddNodeOptions = {}): SimulatedHost {
    assert(typeof nodeId === "string" && nodeId.length > 0, "addNode: nodeId must be a non-empty string");
    assert(!this.#nodes.has(nodeId), `addNode: node ${nodeId} already exists`);
    const clockOffsetMs = options.clockOffsetMs ?? 0;
    const run = this.#newRun(nodeId, 1, clockOffsetMs);
    const entry: NodeEntry = { nodeId, start, clockOffsetMs, current: run, hosts: [run.host] };
    this.#nodes.set(nodeId, entry);
    this.#launch(entry);
    return run.host;
  }

  nodeIds(): NodeId[] {
    return [...this.#nodes.keys()];
  }

  /** True while the node's current run is alive (not killed, not shut down). */
  isUp(nodeId: NodeId): boolean {
    return this.#entry(nodeId).current.liveness.alive;
  }

  /** True once the current run's start function has finished. */
  isStarted(nodeId: NodeId): boolean {
    const run = this.#entry(nodeId).current;
    return run.liveness.alive && run.started;
  }

  /** True when every node is up and started. */
  allStarted(): boolean {
    for (const entry of this.#nodes.values()) if (!(entry.current.liveness.alive && entry.current.started)) return false;
    return true;
  }

  /** The incarnation of the node's current (or last) run. */
  incarnation(nodeId: NodeId): number {
    return this.#entry(nodeId).current.incarnation;
  }

  /** The host of the node's current run; the node must be up. */
  host(nodeId: NodeId): SimulatedHost {
    const run = this.#entry(nodeId).current;
    assert(run.liveness.alive, `host: node ${nodeId} is down`);
    return run.host;
  }

  /**
   * Kills the node's current run at once: its actors vanish without their
   * `stopped` hooks, handlers in progress are abandoned, its timers never
   * fire and its pending asks never resolve. Messages it already put on the
   * wire still arrive; messages to it come back undeliverable ("node down"),
   * and after `unreachableGraceMs` other nodes' asks still waiting on this run
   * end `Unreachable`, as when the real transport sees the link stay down.
   */
  kill(nodeId: NodeId): void {
    const entry = this.#entry(nodeId);
    const run = entry.current;
    assert(run.liveness.alive, `kill: node ${nodeId} is already down`);
    run.liveness.alive = false;
    run.host.kill();
    this.#log(entry.nodeId, run.incarnation, { level: "info", event: "node-killed" });
    // Its peers' links to it close; after the grace their transports give up
    // on asks to that run (a restarted run within the grace does not save them).
    this.#schedule(this.network.options().unreachableGraceMs, "peer-down", () => {
      for (const other of this.#nodes.keys()) {
        if (other !== nodeId) this.#peerUnreachable(other, nodeId, run.incarnation + 1, "node down");
      }
    }, undefined);
  }

  /** Starts a new run of a down node, with incarnation + 1, and runs its start function again. */
  restart(nodeId: NodeId): SimulatedHost {
    const entry = this.#entry(nodeId);
    assert(!entry.current.liveness.alive, `restart: node ${nodeId} is up; kill it first`);
    const run = this.#newRun(nodeId, entry.current.incarnation + 1, entry.clockOffsetMs);
    entry.current = run;
    entry.hosts.push(run.host);
    this.#launch(entry);
    return run.host;
  }

  /** Runs `action` after `delayMs` of simulated time (a fault schedule, a workload step). */
  schedule(delayMs: number, label: string, action: () => void): void {
    assert(Number.isFinite(delayMs) && delayMs >= 0, `schedule: delayMs must be finite and >= 0, got ${delayMs}`);
    this.#schedule(delayMs, label, action, undefined);
  }

  /** Calls `listener` for every delivery, in order, as it happens. */
  onDelivery(listener: (delivery: Delivery) => void): void {
    this.#deliveryListeners.push(listener);
  }

  /** Processes events for `simulatedMs`; time ends exactly `simulatedMs` later. */
  async runFor(simulatedMs: number): Promise<void> {
    await this.#run(() => false, simulatedMs, "runFor");
  }

  /**
   * Processes events until `predicate` holds (checked before the first event
   * and after each) or `simulatedMsMax` has passed. True when it held.
   */
  async runUntil(predicate: () => boolean, simulatedMsMax: number): Promise<boolean> {
    return this.#run(predicate, simulatedMsMax, "runUntil");
  }

  /** Processes events until none is left; a `SimulationError` if some remain after `simulatedMsMax`. */
  async runUntilIdle(simulatedMsMax: number): Promise<void> {
    const idle = await this.#run(() => this.#queue.liveCount() === 0, simulatedMsMax, "runUntilIdle");
    if (!idle) throw this.#error(`not idle after ${simulatedMsMax} simulated ms; pending: ${this.#pendingSummary()}`);
  }

  /** The trace hash: same seed and same code give the same hash. */
  traceHash(): string {
    return this.#trace.hex();
  }

  /** Deliveries folded into the trace so far. */
  deliveryCount(): number {
    return this.#trace.count();
  }

  /** Events processed so far. */
  eventCount(): number {
    return this.#eventCount;
  }

  /** Dead letters counted by every run of every node. */
  deadLetterCount(): number {
    let count = 0;
    for (const entry of this.#nodes.values()) for (const host of entry.hosts) count += host.deadLetterCount();
    return count;
  }

  /** Every actor crash so far, with what supervision did. */
  crashes(): readonly ActorCrash[] {
    return this.#crashes;
  }

  /** The last `count` log lines (all kept ones by default). */
  logTail(count = this.#logLinesMax): Record<string, unknown>[] {
    return this.#logLines.slice(-count);
  }

  // -------------------------------------------------------------------------

  #entry(nodeId: NodeId): NodeEntry {
    const entry = this.#nodes.get(nodeId);
    assert(entry !== undefined, `unknown node ${nodeId}`);
    return entry;
  }

  /** A new run of a node: its liveness, clock, random stream and host. */
  #newRun(nodeId: NodeId, incarnation: number, clockOffsetMs: number): NodeRun {
    // The host's services close over the run's liveness, which exists before the host does.
    const liveness: RunLiveness = { alive: true };
    const host = new SimulatedHost({
      nodeId,
      incarnation,
      clock: this.#clockFor(liveness, clockOffsetMs),
      random: this.random.fork(`node:${nodeId}#${incarnation}`),
      services: {
        alive: () => liveness.alive,
        schedule: (delayMs, label, action) => void this.#schedule(delayMs, label, action, liveness),
        transmit: (envelope) => this.#transmit(envelope),
        delivered: (what, to, message) => this.#delivered(what, to, message),
        crashed: (crash) => this.#crashed(nodeId, incarnation, crash),
        log: (line) => this.#log(nodeId, incarnation, line),
        shutDown: () => {
          liveness.alive = false;
          this.#log(nodeId, incarnation, { level: "info", event: "node-shut-down" });
        },
      },
    });
    return { incarnation, host, liveness, started: false };
  }

  /** Runs the node's start function on its current run, one microtask later (so callers get the host first). */
  #launch(entry: NodeEntry): void {
    const run = entry.current;
    const { nodeId } = entry;
    this.#log(nodeId, run.incarnation, { level: "info", event: "node-started" });
    void Promise.resolve()
      .then(() => entry.start(run.host))
      .then(
        () => {
          if (run.liveness.alive) run.started = true;
        },
        (error: unknown) => {
          if (run.liveness.alive) this.#fail(`node ${nodeId}#${run.incarnation}: its start function failed: ${describe(error)}`, error);
        },
      );
  }

  #clockFor(owner: RunLiveness | undefined, offsetMs: number): SimulatedClock {
    return simulatedClock(
      {
        startMs: this.#startMs,
        elapsedMs: () => this.#elapsedMs,
        timer: (delayMs, wake) => this.#schedule(delayMs, "sleep", wake, owner),
      },
      offsetMs,
    );
  }

  #schedule(delayMs: number, label: string, action: () => void, owner: RunLiveness | undefined): TimerHandle {
    if (owner !== undefined && !owner.alive) return { cancel: () => {} };
    const event = this.#queue.push(this.#elapsedMs + delayMs, label, () => {
      // A dead run's timers and turns never fire: its handlers stay abandoned.
      if (owner === undefined || owner.alive) action();
    });
    return { cancel: () => this.#queue.cancel(event) };
  }

  /** Asks on `at`'s current run waiting on `peer` (below `incarnationBelow`, if given) end `Unreachable`. */
  #peerUnreachable(at: NodeId, peer: NodeId, incarnationBelow: number | undefined, reason: string): void {
    const run = this.#nodes.get(at)?.current;
    if (run !== undefined && run.liveness.alive) run.host.peerUnreachable(peer, incarnationBelow, reason);
  }

  #transmit(envelope: WireEnvelope): void {
    this.network.send(
      envelope.fromNodeId,
      envelope.to.nodeId,
      () => this.#arrive(envelope),
      () => this.#returnToSender(envelope, "unreachable"),
    );
  }

  #arrive(envelope: WireEnvelope): void {
    const run = this.#nodes.get(envelope.to.nodeId)?.current;
    if (run === undefined || !run.liveness.alive) {
      this.#bounce(envelope, "node down");
      return;
    }
    const outcome = run.host.receiveRemote(envelope);
    if (outcome !== "delivered") this.#bounce(envelope, outcome);
  }

  /** Sends "undeliverable" back over the network, as the receiving node's transport would. */
  #bounce(envelope: WireEnvelope, reason: Undeliverable): void {
    // A refusal of the refusal has nowhere to go: the sender's link is down too.
    this.network.send(envelope.to.nodeId, envelope.fromNodeId, () => this.#returnToSender(envelope, reason), () => {});
  }

  #returnToSender(envelope: WireEnvelope, reason: Undeliverable): void {
    const run = this.#nodes.get(envelope.fromNodeId)?.current;
    if (run === undefined || !run.liveness.alive || run.incarnation !== envelope.fromIncarnation) return;
    this.#delivered("undeliverable", envelope.to, reason);
    run.host.undeliverable(envelope, reason);
  }

  #delivered(what: Delivery["what"], to: ActorRef<unknown>, message: unknown): void {
    this.#trace.delivery(this.#elapsedMs, what, refText(to), message);
    if (this.#deliveryListeners.length === 0) return;
    const delivery: Delivery = { timeMs: this.#elapsedMs, what, to, message };
    for (const listener of this.#deliveryListeners) listener(delivery);
  }

  #crashed(nodeId: NodeId, incarnation: number, crash: ActorCrash): void {
    this.#crashes.push(crash);
    this.#log(nodeId, incarnation, { level: "error", event: "actor-crash", actor: crash.ref.path, action: crash.action, error: describe(crash.error) });
    if (this.#failOnAssertion && isAssertionError(crash.error)) {
      this.#fail(`actor ${refText(crash.ref)} broke an assertion: ${crash.error.message}`, crash.error);
    }
  }

  #log(nodeId: NodeId, incarnation: number, line: Record<string, unknown>): void {
    const full = { timeMs: this.#elapsedMs, nodeId, incarnation, ...line };
    this.#logLines.push(full);
    if (this.#logLines.length > this.#logLinesMax) this.#logLines.shift();
    this.#externalLog?.(full);
  }

  #fail(detail: string, cause: unknown): void {
    this.#failure ??= this.#error(detail, cause);
  }

  #error(detail: string, cause?: unknown): SimulationError {
    return new SimulationError(this.seed, this.#elapsedMs, detail, cause === undefined ? undefined : { cause });
  }

  #pendingSummary(): string {
    const counts = [...this.#queue.labelCounts()].sort((a, b) => b[1] - a[1]);
    return counts.map(([label, count]) => `${label}×${count}`).join(", ") || "nothing";
  }

  async #run(done: () => boolean, simulatedMsMax: number, what: string): Promise<boolean> {
    assert(Number.isFinite(simulatedMsMax) && simulatedMsMax >= 0, `${what}: simulatedMsMax must be finite and >= 0, got ${simulatedMsMax}`);
    // Two drivers would interleave their events out of order.
    assert(!this.#running, `${what}: the world is already running; await the previous run call`);
    this.#running = true;
    try {
      const deadlineMs = this.#elapsedMs + simulatedMsMax;
      let events = 0;
      await settleMicrotasks();
      this.#throwIfFailed();
      for (;;) {
        if (done()) return true;
        const next = this.#queue.peek();
        if (next === undefined || next.timeMs > deadlineMs) {
          this.#elapsedMs = Math.max(this.#elapsedMs, deadlineMs);
          return done();
        }
        // Checked before the event leaves the queue, so the report lists it.
        events += 1;
        if (events > this.#eventsPerRunMax) {
          throw this.#error(`${what}: more than ${this.#eventsPerRunMax} events in one run call; the run never goes idle; pending: ${this.#pendingSummary()}`);
        }
        const instantCount = next.timeMs > this.#elapsedMs ? 1 : this.#instantEventCount + 1;
        if (instantCount > this.#eventsPerInstantMax) {
          throw this.#error(`livelock: more than ${this.#eventsPerInstantMax} events at one instant; pending: ${this.#pendingSummary()}`);
        }
        this.#queue.pop();
        this.#instantEventCount = instantCount;
        this.#elapsedMs = Math.max(this.#elapsedMs, next.timeMs);
        this.#eventCount += 1;
        next.run();
        await settleMicrotasks();
        this.#throwIfFailed();
      }
    } finally {
      this.#running = false;
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/**
 * Lets every queued microtask, and every microtask those queue, run: a
 * macrotask starts only once the microtask queue is empty.
 */
function settleMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
