/**
 * The first whole-fleet simulation: 5–7 nodes exchange tells and asks while a
 * fault workload kills and restarts nodes, cuts and heals links, and changes
 * the loss rate. Workers also commit to a shared in-memory MetaStore whose
 * commits are delayed and conflicted from the seed, so handlers are often
 * mid-await when their node dies.
 *
 * Invariants, checked for every seed:
 * - every ask resolves exactly once, to its own reply or a fault, no later
 *   than its timeout (unless its asker's node died first: then never);
 * - no message is handed to an actor of a dead or other incarnation;
 * - per ordered pair of actors, delivered messages keep their send order;
 * - a handler abandoned by a kill has no effect after the kill (its tells
 *   never arrive);
 * - the same seed run twice gives the same trace hash.
 *
 * A failure prints its seed and the command that replays it.
 */
import { expect, test } from "bun:test";
import { createMemoryStorage, openMemoryStore, type MetaStore } from "../../cluster/metadata/index.ts";
import {
  actorRef,
  createSimulatedWorld,
  isFault,
  longTailDelay,
  refText,
  seededRandom,
  type ActorRef,
  type Behavior,
  type Fault,
  type NodeId,
  type SimulatedWorld,
} from "../../runtime/index.ts";
import { simulationSeeds } from "./harness.ts";

/** Simulated length of the workload, then of the quiet period that lets every ask end. */
const workloadMs = 3_000;
const quietMs = 2_000;
const askTimeoutMsMax = 500;

type WorkerMessage =
  | { readonly kind: "Ping"; readonly from: ActorRef<DriverMessage>; readonly sequence: number; readonly toIncarnation: number }
  | { readonly kind: "Echo"; readonly id: string; readonly replyTo: ActorRef<EchoReply>; readonly mode: "now" | "late" | "never"; readonly lateMs: number }
  | { readonly kind: "Crash" };

interface EchoReply {
  readonly id: string;
  readonly by: string;
}

type DriverMessage =
  | { readonly kind: "Tick" }
  | { readonly kind: "Ack"; readonly by: string; readonly byNodeId: NodeId; readonly byIncarnation: number; readonly sentAtEvent: number };

interface AskRecord {
  readonly id: string;
  readonly askerNodeId: NodeId;
  readonly askerIncarnation: number;
  readonly startMs: number;
  readonly timeoutMs: number;
  resolutions: number;
  resolvedAtMs: number | undefined;
  /** The world's event count at resolution: orders it against a kill at the same millisecond. */
  resolvedAtEvent: number | undefined;
  outcome: "reply" | Fault["fault"] | undefined;
}

/** What one seed's run observed. */
interface RunRecord {
  readonly violations: string[];
  readonly asks: Map<string, AskRecord>;
  /** `nodeId#incarnation` → simulated ms of its kill. */
  readonly killedAtMs: Map<string, number>;
  /** `nodeId#incarnation` → the world's event count at its kill. */
  readonly killedAtEvent: Map<string, number>;
  pings: number;
  acks: number;
  kills: number;
  partitions: number;
  crashes: number;
}

/** Totals over every seed, to show the workload reached each outcome. */
const coverage = { replies: 0, timeouts: 0, unreachable: 0, overloaded: 0, pings: 0, acks: 0, kills: 0, partitions: 0, crashes: 0, seeds: 0 };

function workerBehavior(world: SimulatedWorld, record: RunRecord, store: MetaStore): Behavior<Map<string, number>, WorkerMessage> {
  return {
    // Fresh after every restart: a restarted worker accepts any sequence number once.
    initialState: () => new Map<string, number>(),
    async receive(lastSequences, message, context) {
      const self = context.self;
      if (!world.isUp(self.nodeId) || world.incarnation(self.nodeId) !== self.incarnation) {
        record.violations.push(`${refText(self)} handled ${message.kind} while its run is dead`);
      }
      switch (message.kind) {
        case "Ping": {
          if (message.toIncarnation !== self.incarnation) {
            record.violations.push(`${refText(self)} got a Ping meant for incarnation ${message.toIncarnation}`);
          }
          const sender = refText(message.from);
          const last = lastSequences.get(sender) ?? 0;
          if (message.sequence <= last) record.violations.push(`FIFO: ${sender} → ${refText(self)}: ${message.sequence} after ${last}`);
          lastSequences.set(sender, message.sequence);
          record.pings += 1;
          // A store commit on the world clock: the node may die while it waits.
          await store.transact(async (tx) => tx.add(new TextEncoder().encode(`pings/${self.nodeId}`), 1n), { attemptsMax: 50 });
          context.tell(message.from, {
            kind: "Ack",
            by: refText(self),
            byNodeId: self.nodeId,
            byIncarnation: self.incarnation,
            sentAtEvent: world.eventCount(),
          });
          return lastSequences;
        }
        case "Echo":
          if (message.mode === "never") return lastSequences;
          if (message.mode === "late") {
            // Answered later without holding the mailbox; on a killed node this sleep never ends.
            void context.clock.sleep(message.lateMs).then(() => context.tell(message.replyTo, { id: message.id, by: refText(self) }));
            return lastSequences;
          }
          context.tell(message.replyTo, { id: message.id, by: refText(self) });
          return lastSequences;
        case "Crash":
          record.crashes += 1;
          throw new Error("crash requested by the workload");
      }
    },
  };
}

function driverBehavior(world: SimulatedWorld, record: RunRecord, nodeIds: readonly NodeId[], active: () => boolean): Behavior<{ sequences: Map<string, number>; askCount: number }, DriverMessage> {
  return {
    initialState: () => ({ sequences: new Map(), askCount: 0 }),
    async receive(state, message, context) {
      const self = context.self;
      if (message.kind === "Ack") {
        // An Ack sent by a handler that outlived its node's kill would be a leaked effect.
        const killedAtEvent = record.killedAtEvent.get(`${message.byNodeId}#${message.byIncarnation}`);
        if (killedAtEvent !== undefined && message.sentAtEvent >= killedAtEvent) {
          record.violations.push(`Ack from ${message.by} sent at event ${message.sentAtEvent}, after its kill at event ${killedAtEvent}`);
        }
        record.acks += 1;
        return state;
      }
      if (!active()) return state;
      const random = context.random;
      const operations = 1 + random.integer(3);
      for (let operation = 0; operation < operations; operation += 1) {
        const targetNodeId = nodeIds[random.integer(nodeIds.length)]!;
        const current = world.incarnation(targetNodeId);
        // Now and then a ref from an earlier run of the target: it must be refused.
        const incarnation = current > 1 && random.next() < 0.1 ? current - 1 : current;
        const target = actorRef<WorkerMessage>(targetNodeId, incarnation, "worker");
        const choice = random.next();
        if (choice < 0.5) {
          const key = refText(target);
          const sequence = (state.sequences.get(key) ?? 0) + 1;
          state.sequences.set(key, sequence);
          context.tell(target, { kind: "Ping", from: self, sequence, toIncarnation: incarnation });
        } else if (choice < 0.95) {
          state.askCount += 1;
          const id = `${refText(self)}/${state.askCount}`;
          const timeoutMs = 50 + random.integer(askTimeoutMsMax - 50 + 1);
          const modeDraw = random.next();
          const mode = modeDraw < 0.7 ? "now" : modeDraw < 0.9 ? "late" : "never";
          const lateMs = random.integer(2 * timeoutMs);
          const ask: AskRecord = {
            id,
            askerNodeId: self.nodeId,
            askerIncarnation: self.incarnation,
            startMs: world.elapsedMs(),
            timeoutMs,
            resolutions: 0,
            resolvedAtMs: undefined,
            resolvedAtEvent: undefined,
            outcome: undefined,
          };
          record.asks.set(id, ask);
          void context
            .ask<WorkerMessage, EchoReply>(target, (replyTo) => ({ kind: "Echo", id, replyTo, mode, lateMs }), timeoutMs)
            .then((reply) => {
              ask.resolutions += 1;
              ask.resolvedAtMs = world.elapsedMs();
              ask.resolvedAtEvent = world.eventCount();
              if (isFault(reply)) {
                ask.outcome = reply.fault;
              } else {
                ask.outcome = "reply";
                if (reply.id !== id) record.violations.push(`ask ${id} got the reply to ${reply.id}`);
              }
            });
        } else {
          context.tell(target, { kind: "Crash" });
        }
      }
      await context.clock.sleep(10 + random.integer(40));
      context.tell(self, { kind: "Tick" });
      return state;
    },
  };
}

/** One seed: the fleet, the workload, the faults, then the invariants. Returns the trace fingerprint. */
async function runFleet(seed: number, track: (world: SimulatedWorld) => SimulatedWorld): Promise<{ hash: string; deliveries: number; events: number }> {
  const setup = seededRandom(seed).fork("setup");
  const world = track(
    createSimulatedWorld({
      seed,
      network: { delay: longTailDelay(1, 8, 300), dropProbability: setup.next() * 0.05, unreachableGraceMs: 200 + setup.integer(800) },
    }),
  );
  const nodeIds = Array.from({ length: 5 + setup.integer(3) }, (_, index) => `n${index + 1}`);
  const record: RunRecord = { violations: [], asks: new Map(), killedAtMs: new Map(), killedAtEvent: new Map(), pings: 0, acks: 0, kills: 0, partitions: 0, crashes: 0 };
  let workloadActive = true;
  // One metadata cluster for the fleet: it survives node kills, as FoundationDB would.
  const storage = createMemoryStorage();

  for (const nodeId of nodeIds) {
    world.addNode(nodeId, async (host) => {
      const store = openMemoryStore({
        storage,
        faults: { clock: world.clock, random: world.random.fork(`store:${nodeId}#${host.incarnation}`), commitDelayMsMax: 20, conflictProbability: 0.05 },
      });
      await host.spawn("worker", workerBehavior(world, record, store), {
        supervision: { restartsMax: 1_000, windowMs: 1_000, backoffMsInitial: 5, backoffMsMax: 50 },
        // Small, so store commits and restart backoffs sometimes fill it: askers then see Overloaded.
        mailboxMax: 8,
      });
      const driver = await host.spawn("driver", driverBehavior(world, record, nodeIds, () => workloadActive));
      host.tell(driver, { kind: "Tick" });
    });
  }

  // Every delivery, as it happens: never to a run that is dead or not current.
  world.onDelivery((delivery) => {
    if (delivery.what === "undeliverable") return;
    const { nodeId, incarnation } = delivery.to;
    if (!world.isUp(nodeId) || world.incarnation(nodeId) !== incarnation) {
      record.violations.push(`${delivery.what} delivered to ${refText(delivery.to)} at ${delivery.timeMs}, current run ${world.incarnation(nodeId)} up=${world.isUp(nodeId)}`);
    }
  });

  // The fault workload: a seeded schedule of kills, restarts, cuts, heals and loss changes.
  const faults = world.random.fork("faults");
  const scheduleFault = (): void => {
    world.schedule(100 + faults.integer(500), "fault", () => {
      if (!workloadActive) return;
      const draw = faults.next();
      const up = nodeIds.filter((nodeId) => world.isUp(nodeId));
      if (draw < 0.3 && up.length > 2) {
        const victim = up[faults.integer(up.length)]!;
        record.killedAtMs.set(`${victim}#${world.incarnation(victim)}`, world.elapsedMs());
        record.killedAtEvent.set(`${victim}#${world.incarnation(victim)}`, world.eventCount());
        world.kill(victim);
        record.kills += 1;
        world.schedule(100 + faults.integer(1_400), "restart", () => {
          if (!world.isUp(victim)) world.restart(victim);
        });
      } else if (draw < 0.55) {
        const side = nodeIds.filter(() => faults.next() < 0.5);
        const rest = nodeIds.filter((nodeId) => !side.includes(nodeId));
        world.network.partition(side, rest);
        record.partitions += 1;
        world.schedule(200 + faults.integer(1_300), "heal", () => world.network.heal());
      } else if (draw < 0.7) {
        world.network.configure({ dropProbability: faults.next() * 0.2 });
      }
      scheduleFault();
    });
  };
  scheduleFault();

  await world.runFor(workloadMs);
  workloadActive = false;
  world.network.heal();
  world.network.configure({ dropProbability: 0 });
  await world.runFor(quietMs);

  // Every ask whose asker lived past its deadline resolved exactly once, in time, to its own reply or a fault.
  for (const ask of record.asks.values()) {
    const deadlineMs = ask.startMs + ask.timeoutMs;
    const killedAtMs = record.killedAtMs.get(`${ask.askerNodeId}#${ask.askerIncarnation}`);
    const askerLived = killedAtMs === undefined || killedAtMs > deadlineMs;
    if (ask.resolutions > 1) record.violations.push(`ask ${ask.id} resolved ${ask.resolutions} times`);
    if (ask.resolvedAtMs !== undefined && ask.resolvedAtMs > deadlineMs) {
      record.violations.push(`ask ${ask.id} resolved at ${ask.resolvedAtMs}, after its deadline ${deadlineMs}`);
    }
    if (askerLived && ask.resolutions !== 1) record.violations.push(`ask ${ask.id} (deadline ${deadlineMs}) never resolved`);
    // Event counts, not milliseconds: a resolution and a kill may share a millisecond, in either order.
    const killedAtEvent = record.killedAtEvent.get(`${ask.askerNodeId}#${ask.askerIncarnation}`);
    if (ask.resolvedAtEvent !== undefined && killedAtEvent !== undefined && ask.resolvedAtEvent >= killedAtEvent) {
      record.violations.push(`ask ${ask.id} resolved at event ${ask.resolvedAtEvent} (${ask.resolvedAtMs} ms), after its asker died at event ${killedAtEvent}`);
    }
    if (ask.outcome === "reply") coverage.replies += 1;
    if (ask.outcome === "Timeout") coverage.timeouts += 1;
    if (ask.outcome === "Unreachable") coverage.unreachable += 1;
    if (ask.outcome === "Overloaded") coverage.overloaded += 1;
  }
  expect(record.violations.slice(0, 10)).toEqual([]);
  expect(record.asks.size).toBeGreaterThan(100);
  coverage.pings += record.pings;
  coverage.acks += record.acks;
  coverage.kills += record.kills;
  coverage.partitions += record.partitions;
  coverage.crashes += record.crashes;
  coverage.seeds += 1;
  return { hash: world.traceHash(), deliveries: world.deliveryCount(), events: world.eventCount() };
}

simulationSeeds({ name: "fleet of 5-7 nodes: asks, tells, kills, partitions, loss", file: import.meta.path, seedCount: 200 }, async ({ seed, track }) => {
  const first = await runFleet(seed, track);
  // Rerunning costs a second run per seed; every fourth seed (and any replayed one) is enough to catch nondeterminism.
  if (seed % 4 === 0 || process.env["CAIRN_SEED"] !== undefined) {
    const second = await runFleet(seed, track);
    expect(second).toEqual(first);
  }
});

test("the fleet workload reached every outcome", () => {
  // Runs after the sweep above (bun runs a file's tests in order) and checks its totals.
  if (coverage.seeds < 5) return; // a single replayed seed need not reach everything
  expect(coverage.replies).toBeGreaterThan(0);
  expect(coverage.timeouts).toBeGreaterThan(0);
  expect(coverage.unreachable).toBeGreaterThan(0);
  expect(coverage.kills).toBeGreaterThan(0);
  expect(coverage.partitions).toBeGreaterThan(0);
  expect(coverage.crashes).toBeGreaterThan(0);
  expect(coverage.acks).toBeGreaterThan(0);
  console.log(`network simulation totals over ${coverage.seeds} seeds: ${JSON.stringify(coverage)}`);
});
