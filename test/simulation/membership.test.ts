/**
 * Membership in the deterministic simulation: 5–7 nodes, each running a
 * ClusterManager and a NodeAgent on a `SimulatedHost`, one in-memory metadata
 * cluster (every node's handle has seeded commit/read delays and injected
 * conflicts on the node's own clock), clocks skewed within the allowance, a
 * lossy network, and a fault schedule drawn from the seed: node kills and
 * restarts, a node isolated from the network *and* the store, network
 * partitions that leave the store reachable, a metadata store outage for
 * every node.
 *
 * A workload makes one fenced metadata write per running unit every 100 ms
 * (`checkOwner` in the write's transaction), as unit actors will; each write
 * is a PUT of its own key, and every acknowledged one must read back with its
 * value at the end of the run.
 *
 * Invariants checked over every run:
 * - at most one running owner per unit per epoch (checked at every start);
 * - the fenced writes of a unit never go back in epoch, and one epoch has
 *   one writer;
 * - every unit of a killed or isolated node runs elsewhere within
 *   `reassignBoundMs` of simulated time; an isolated node stops its units
 *   (self-fencing) before any other node starts them;
 * - a partition that leaves the store reachable marks no node down;
 * - in a store outage, no unit runs anywhere once every lease has ended;
 * - maps move at most `rebalanceMovesPerTickMax` units per epoch between
 *   nodes that stay up (rate-limited rejoin);
 * - after each phase, healed or restarted nodes rejoin and the fleet settles:
 *   every node up, every unit running exactly where the map says, the map
 *   unchanged for several ticks;
 * - no actor crashed, and a rerun of the first seed has the same trace hash.
 *
 * Replay one seed: CAIRN_SEED=<n> bun test test/simulation/membership.test.ts
 * More seeds:      CAIRN_SIM_SEEDS=<count> bun test test/simulation/membership.test.ts
 * Longer runs:     CAIRN_SIM_PHASES=<phases per seed, default 2> (CI runs 100 seeds of 2 phases)
 */
import { describe, expect, test } from "bun:test";
import {
  actorRef,
  assert,
  createSimulatedWorld,
  isFault,
  randomSeed,
  seededRandom,
  uniformDelay,
  type Host,
  type SimulatedWorld,
} from "../../runtime/index.ts";
import { createMemoryStorage, MetaStoreError, openMemoryStore, type MemoryStorage, type MetaStore, type MetaTransaction, type TransactOptions } from "../../cluster/metadata/index.ts";
import { checkOwner, readFleetMap, registerNode, unitText, type FleetMap, type Unit } from "../../cluster/membership/index.ts";
import { NodeAgentMessage, nodeAgentActorPath, nodeAgentBehavior } from "../../actors/node-agent/index.ts";
import {
  ClusterManagerMessage,
  clusterManagerActorPath,
  clusterManagerBehavior,
  type RegisterPartitionsReply,
} from "../../actors/cluster-manager/index.ts";

const timing = {
  leaseMs: 3_000,
  leaseRenewMs: 500,
  clockSkewMsMax: 400,
  tickMs: 500,
  managerLeaseMs: 3_000,
  heartbeatTimeoutMs: 300,
  rebalanceMovesPerTickMax: 2,
};
const placementGroupCount = 16;
const partitions = Array.from({ length: 8 }, (_, index) => ({ bucket: `bucket-${index % 3}`, partition: index }));
const unitCount = placementGroupCount + partitions.length;
/**
 * A dead node's lease (and, if it was the manager, the manager lease) lapses
 * for others by its last renewal + leaseMs + skew; then one manager tick
 * writes the map and one agent renewal period later the new owners run. The
 * rest is slack for commit delays and conflict retries.
 */
const reassignBoundMs = timing.leaseMs + timing.clockSkewMsMax + timing.leaseRenewMs + 2 * timing.tickMs + timing.leaseRenewMs + 600;
const settleBoundMs = 60_000;
/** Fault phases per seed: small by default so CI runs many seeds (`CAIRN_SIM_PHASES` for longer runs). */
const phaseCount = Number(process.env["CAIRN_SIM_PHASES"] ?? 2);
const checkPeriodMs = 100;

/** A node's path to the metadata cluster; the scenario cuts it to isolate the node from the store. */
class CuttableStore implements MetaStore {
  cut = false;
  readonly #inner: MetaStore;
  constructor(inner: MetaStore) {
    this.#inner = inner;
  }
  transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    if (this.cut) return Promise.reject(new MetaStoreError("Closed", "node cut off from the metadata store (simulation)"));
    return this.#inner.transact(body, options);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

interface Owner {
  readonly nodeId: string;
  readonly incarnation: number;
  readonly epoch: number;
  readonly unit: Unit;
}
const ownerText = (owner: Omit<Owner, "unit">): string => `${owner.nodeId}#${owner.incarnation}@${owner.epoch}`;
const runText = (nodeId: string, incarnation: number): string => `${nodeId}#${incarnation}`;

class Scenario {
  readonly world: SimulatedWorld;
  readonly storage: MemoryStorage = createMemoryStorage();
  /** A fault-free handle for the checker: its reads settle within the event that makes them. */
  readonly checkerStore: MetaStore;
  readonly views = new Map<string, CuttableStore>();
  /** Running units: unit text → run text → owner. */
  readonly active = new Map<string, Map<string, Owner>>();
  readonly history: { timeMs: number; what: "start" | "stop"; unit: string; run: string }[] = [];
  readonly writes = new Map<string, Owner[]>();
  /** Every acknowledged workload write: its own key and the value it stored. Each must read back at the end. */
  readonly acknowledged: { key: Uint8Array; value: string }[] = [];
  #writeSequence = 0;
  readonly violations: string[] = [];
  map: FleetMap | undefined;
  /** Epoch of `map` and the time it was first seen. */
  mapSinceMs = 0;
  /** Nodes no phase may see go down (a partition phase that leaves the store reachable). */
  mustStayUp = new Set<string>();

  constructor(readonly seed: number, readonly nodeIds: readonly string[]) {
    this.world = createSimulatedWorld({ seed, network: { delay: uniformDelay(1, 20), dropProbability: 0.05 }, logLinesMax: 200 });
    this.checkerStore = openMemoryStore({ storage: this.storage });
    const random = this.world.random.fork("clock-offsets");
    for (const nodeId of nodeIds) {
      // Offsets within ±skew/2, so any two clocks differ by at most the allowance.
      const clockOffsetMs = random.integer(timing.clockSkewMsMax + 1) - timing.clockSkewMsMax / 2;
      this.world.addNode(nodeId, (host) => this.#startNode(host), { clockOffsetMs });
    }
    this.world.schedule(checkPeriodMs, "check", () => this.#check());
  }

  #view(nodeId: string): CuttableStore {
    return this.views.get(nodeId)!;
  }

  async #startNode(host: Host): Promise<void> {
    const inner = openMemoryStore({
      storage: this.storage,
      faults: { clock: host.clock, random: host.random.fork("metadata"), commitDelayMsMax: 5, readDelayMsMax: 2, conflictProbability: 0.02 },
    });
    const view = new CuttableStore(inner);
    const previous = this.views.get(host.nodeId);
    view.cut = previous?.cut ?? false;
    this.views.set(host.nodeId, view);
    const disks = [0, 1].map((index) => ({ diskId: `${host.nodeId}/d${index}`, weight: 1 }));
    const { record } = await registerNode(inner, { nodeId: host.nodeId, address: `sim://${host.nodeId}`, roles: ["storage", "gateway"], disks }, host.clock.nowMs(), timing.leaseMs);
    // The world numbers runs itself; on a fresh store registration must agree with it.
    assert(record.incarnation === host.incarnation, `registered incarnation ${record.incarnation} but the world runs ${host.incarnation}`);
    await host.spawn(
      clusterManagerActorPath,
      clusterManagerBehavior({
        store: view,
        tickMs: timing.tickMs,
        leaseMs: timing.managerLeaseMs,
        clockSkewMsMax: timing.clockSkewMsMax,
        rebalanceMovesPerTickMax: timing.rebalanceMovesPerTickMax,
        heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
        placementGroupCount,
        log: () => undefined,
      }),
      { wireSchema: ClusterManagerMessage },
    );
    await host.spawn(
      nodeAgentActorPath,
      nodeAgentBehavior({
        store: view,
        leaseMs: timing.leaseMs,
        leaseRenewMs: timing.leaseRenewMs,
        log: () => undefined,
        startUnit: async (unit, epoch) => this.#started(host, unit, epoch),
        stopUnit: async (unit) => this.#stopped(host, unit),
      }),
      { wireSchema: NodeAgentMessage },
    );
  }

  #started(host: Host, unit: Unit, epoch: number): void {
    const text = unitText(unit);
    const owners = this.active.get(text) ?? new Map<string, Owner>();
    const owner: Owner = { nodeId: host.nodeId, incarnation: host.incarnation, epoch, unit };
    for (const other of owners.values()) {
      if (other.epoch === epoch) this.violations.push(`${text}: ${ownerText(other)} and ${ownerText(owner)} both running at epoch ${epoch}`);
    }
    owners.set(runText(host.nodeId, host.incarnation), owner);
    this.active.set(text, owners);
    this.history.push({ timeMs: this.world.elapsedMs(), what: "start", unit: text, run: runText(host.nodeId, host.incarnation) });
  }

  #stopped(host: Host, unit: Unit): void {
    this.#remove(host.nodeId, host.incarnation, unitText(unit));
  }

  #remove(nodeId: string, incarnation: number, text: string): void {
    const owners = this.active.get(text);
    if (owners?.delete(runText(nodeId, incarnation)) !== true) return;
    this.history.push({ timeMs: this.world.elapsedMs(), what: "stop", unit: text, run: runText(nodeId, incarnation) });
  }

  kill(nodeId: string): void {
    const incarnation = this.world.incarnation(nodeId);
    for (const text of this.active.keys()) this.#remove(nodeId, incarnation, text);
    this.world.kill(nodeId);
  }

  /** Every 100 ms: read the map (rate-limit check), then one fenced write per running unit. */
  #check(): void {
    this.world.schedule(checkPeriodMs, "check", () => this.#check());
    void this.checkerStore.transact((tx) => readFleetMap(tx)).then((map) => this.#observe(map));
    for (const [text, owners] of this.active) {
      for (const owner of [...owners.values()]) this.#write(text, owner);
    }
  }

  #observe(map: FleetMap | undefined): void {
    if (map === undefined) return;
    const before = this.map;
    if (before !== undefined && map.epoch === before.epoch) return;
    this.mapSinceMs = this.world.elapsedMs();
    this.map = map;
    for (const nodeId of this.mustStayUp) {
      if (map.nodes.find((node) => node.nodeId === nodeId)?.state === "down") this.violations.push(`${nodeId} marked down while only the network was partitioned (epoch ${map.epoch})`);
    }
    if (before === undefined) return;
    const upInBoth = new Set(map.nodes.filter((node) => node.state === "up" && before.nodes.find((old) => old.nodeId === node.nodeId && old.state === "up" && old.incarnation === node.incarnation)).map((node) => node.nodeId));
    const ownerBefore = assignmentTable(before);
    let moves = 0;
    for (const [unit, nodeId] of assignmentTable(map)) {
      const was = ownerBefore.get(unit);
      if (was !== undefined && was !== nodeId && upInBoth.has(was)) moves += 1;
    }
    const allowed = timing.rebalanceMovesPerTickMax * (map.epoch - before.epoch);
    if (moves > allowed) this.violations.push(`epochs ${before.epoch}→${map.epoch}: ${moves} units moved between live nodes, limit ${allowed}`);
  }

  #write(text: string, owner: Owner): void {
    const view = this.#view(owner.nodeId);
    // Each write is a "PUT" of its own key, so every acknowledged one can be read back at the end.
    this.#writeSequence += 1;
    const key = new TextEncoder().encode(`\u0020workload/${text}/${this.#writeSequence}`);
    const valueText = ownerText(owner);
    const value = new TextEncoder().encode(valueText);
    void view
      .transact(async (tx) => {
        const fenced = await checkOwner(tx, owner.unit, owner);
        if (fenced !== undefined) return fenced;
        tx.set(key, value);
        return undefined;
      })
      .then(
        (outcome) => {
          if (isFault(outcome)) {
            // The unit learns it was replaced: it stops itself and tells its agent.
            this.#remove(owner.nodeId, owner.incarnation, text);
            if (this.world.isUp(owner.nodeId) && this.world.incarnation(owner.nodeId) === owner.incarnation) {
              this.world.host(owner.nodeId).tell<NodeAgentMessage>(actorRef(owner.nodeId, owner.incarnation, nodeAgentActorPath), { kind: "ReportFenced", unit: owner.unit, epoch: owner.epoch });
            }
            return;
          }
          this.acknowledged.push({ key, value: valueText });
          const list = this.writes.get(text) ?? [];
          list.push(owner);
          this.writes.set(text, list);
        },
        (error: unknown) => {
          if (!(error instanceof MetaStoreError)) this.violations.push(`workload write failed: ${String(error)}`);
        },
      );
  }

  nodeOf(text: string): string | undefined {
    const owners = [...(this.active.get(text)?.values() ?? [])];
    return owners.length === 1 ? owners[0]!.nodeId : undefined;
  }

  /** Every node up in the map, every unit running exactly where it says, and the map unchanged for a while. */
  settled(): boolean {
    const map = this.map;
    if (map === undefined || map.nodes.length !== this.nodeIds.length || map.nodes.some((node) => node.state !== "up")) return false;
    if (this.world.elapsedMs() - this.mapSinceMs < 5 * timing.tickMs) return false;
    const table = assignmentTable(map);
    if (table.size !== unitCount) return false;
    for (const entry of [...map.placementGroups.map((e) => ({ text: `pg/${e.placementGroupId}`, ...e })), ...map.partitions.map((e) => ({ text: `bp/${e.bucket}/${e.partition}`, ...e }))]) {
      const owners = [...(this.active.get(entry.text)?.values() ?? [])];
      if (owners.length !== 1 || owners[0]!.nodeId !== entry.nodeId || owners[0]!.epoch !== entry.epoch) return false;
      const node = map.nodes.find((candidate) => candidate.nodeId === entry.nodeId)!;
      if (owners[0]!.incarnation !== node.incarnation) return false;
    }
    return true;
  }

  /** Acknowledged writes that do not read back with their value. */
  async lostWrites(): Promise<string[]> {
    const lost: string[] = [];
    const decoder = new TextDecoder();
    for (let start = 0; start < this.acknowledged.length; start += 500) {
      const batch = this.acknowledged.slice(start, start + 500);
      const values = await this.checkerStore.transact((tx) => Promise.all(batch.map((write) => tx.get(write.key))));
      batch.forEach((write, index) => {
        const stored = values[index];
        const text = stored === undefined ? "nothing" : decoder.decode(stored);
        if (text !== write.value) lost.push(`${decoder.decode(write.key).trim()}: acknowledged ${write.value}, reads ${text}`);
      });
    }
    return lost;
  }

  writeProblems(): string[] {
    const problems: string[] = [];
    for (const [unit, list] of this.writes) {
      for (let index = 1; index < list.length; index += 1) {
        const before = list[index - 1]!;
        const after = list[index]!;
        if (after.epoch < before.epoch) problems.push(`${unit}: write by ${ownerText(after)} after one by ${ownerText(before)}`);
        if (after.epoch === before.epoch && ownerText(after) !== ownerText(before)) problems.push(`${unit}: two writers at epoch ${after.epoch}`);
      }
    }
    return problems;
  }
}

function assignmentTable(map: FleetMap): Map<string, string> {
  return new Map([
    ...map.placementGroups.map((entry) => [`pg/${entry.placementGroupId}`, entry.nodeId] as const),
    ...map.partitions.map((entry) => [`bp/${entry.bucket}/${entry.partition}`, entry.nodeId] as const),
  ]);
}

type FaultKind = "kill" | "isolate" | "partition" | "outage" | "calm";

/** Runs one seed's scenario; throws with the seed on any broken invariant. Returns the trace hash and a summary. */
async function runScenario(seed: number): Promise<{ traceHash: string; summary: string }> {
  const random = seededRandom(seed).fork("scenario");
  const nodeCount = 5 + random.integer(3);
  const nodeIds = Array.from({ length: nodeCount }, (_, index) => `n${index + 1}`);
  const scenario = new Scenario(seed, nodeIds);
  const { world } = scenario;
  const fail = (what: string): never => {
    throw new Error(`seed ${seed}, t=${world.elapsedMs()} ms: ${what}\nreplay: CAIRN_SEED=${seed} bun test test/simulation/membership.test.ts\nlog tail: ${JSON.stringify(world.logTail(20))}`);
  };
  const expectRun = async (predicate: () => boolean, boundMs: number, what: string): Promise<void> => {
    if (!(await world.runUntil(predicate, boundMs))) fail(`not within ${boundMs} simulated ms: ${what}`);
    if (scenario.violations.length > 0) fail(scenario.violations.join("; "));
  };

  await expectRun(() => world.allStarted(), 5_000, "every node started");
  let registered = false;
  void world
    .host("n1")
    .ask<ClusterManagerMessage, RegisterPartitionsReply>(actorRef("n1", 1, clusterManagerActorPath), (replyTo) => ({ kind: "RegisterPartitions", partitions, replyTo }), 2_000)
    .then((reply) => {
      registered = !isFault(reply);
    });
  await expectRun(() => registered, 5_000, "partitions registered");
  await expectRun(() => scenario.settled(), settleBoundMs, "the first map settled");

  const summary: string[] = [`${nodeCount} nodes`];
  for (let phase = 0; phase < phaseCount; phase += 1) {
    const kinds: FaultKind[] = ["kill", "isolate", "partition", "outage", "calm", "kill", "isolate"];
    const kind = kinds[random.integer(kinds.length)]!;
    const hosting = nodeIds.filter((nodeId) => [...scenario.active.keys()].some((unit) => scenario.nodeOf(unit) === nodeId));
    const victim = hosting.length > 0 ? hosting[random.integer(hosting.length)]! : nodeIds[0]!;
    const victimUnits = [...scenario.active.keys()].filter((unit) => scenario.nodeOf(unit) === victim);
    const faultAtMs = world.elapsedMs();
    summary.push(`${kind}${kind === "kill" || kind === "isolate" ? ` ${victim} (${victimUnits.length} units)` : ""}`);
    if (kind === "kill") {
      scenario.kill(victim);
    } else if (kind === "isolate") {
      world.network.isolate(victim);
      scenario.views.get(victim)!.cut = true;
    } else if (kind === "partition") {
      const sides = nodeIds.map((nodeId) => ({ nodeId, side: random.integer(2) }));
      const sideA = sides.filter((entry) => entry.side === 0).map((entry) => entry.nodeId);
      const sideB = sides.filter((entry) => entry.side === 1).map((entry) => entry.nodeId);
      if (sideA.length > 0 && sideB.length > 0) world.network.partition(sideA, sideB);
      scenario.mustStayUp = new Set(nodeIds);
    } else if (kind === "outage") {
      for (const view of scenario.views.values()) view.cut = true;
    }

    if (kind === "kill" || kind === "isolate") {
      await expectRun(
        () => victimUnits.every((unit) => scenario.nodeOf(unit) !== undefined && scenario.nodeOf(unit) !== victim),
        reassignBoundMs,
        `units of ${victim} (${kind}) running elsewhere`,
      );
      summary[summary.length - 1] += ` moved in ${world.elapsedMs() - faultAtMs} ms`;
      if (kind === "isolate") {
        // Self-fencing: each unit stopped on the isolated node before it started anywhere else.
        for (const unit of victimUnits) {
          const events = scenario.history.filter((event) => event.unit === unit && event.timeMs >= faultAtMs);
          const stopMs = events.find((event) => event.what === "stop" && event.run.startsWith(`${victim}#`))?.timeMs;
          const startMs = events.find((event) => event.what === "start" && !event.run.startsWith(`${victim}#`))?.timeMs;
          if (stopMs === undefined || startMs === undefined || stopMs > startMs) fail(`${unit}: stopped on isolated ${victim} at ${stopMs}, started elsewhere at ${startMs}`);
        }
      }
    } else if (kind === "outage") {
      // Nobody can renew: by the end of every lease, nothing may run anywhere.
      await world.runFor(timing.leaseMs + timing.leaseRenewMs + 100);
      const stillRunning = [...scenario.active].filter(([, owners]) => owners.size > 0).map(([unit]) => unit);
      if (stillRunning.length > 0) fail(`units running with the metadata store unreachable past every lease: ${stillRunning.join(", ")}`);
    } else {
      await world.runFor(reassignBoundMs);
      if (scenario.violations.length > 0) fail(scenario.violations.join("; "));
    }

    // Heal or restart, then everything must settle again: rejoining is rate-limited (checked on every map).
    if (kind === "kill") world.restart(victim);
    if (kind === "isolate") scenario.views.get(victim)!.cut = false;
    if (kind === "outage") for (const view of scenario.views.values()) view.cut = false;
    world.network.heal();
    scenario.mustStayUp = new Set();
    await expectRun(() => scenario.settled(), settleBoundMs, `the fleet settled after ${kind}`);
  }

  if (scenario.violations.length > 0) fail(scenario.violations.join("; "));
  const problems = scenario.writeProblems();
  if (problems.length > 0) fail(problems.join("; "));
  // Settle the checker's reads inside the world, then check every acknowledged write reads back.
  let lost: string[] | undefined;
  void scenario.lostWrites().then((found) => (lost = found));
  await expectRun(() => lost !== undefined, 5_000, "acknowledged writes read back");
  if (lost!.length > 0) fail(`${lost!.length} acknowledged writes lost: ${lost!.slice(0, 5).join("; ")}`);
  if (world.crashes().length > 0) fail(`actors crashed: ${world.crashes().map((crash) => `${crash.ref.path}: ${String(crash.error)}`).join("; ")}`);
  const writeCount = [...scenario.writes.values()].reduce((sum, list) => sum + list.length, 0);
  summary.push(`${writeCount} fenced writes (all read back), final epoch ${scenario.map?.epoch}, ${world.elapsedMs()} simulated ms`);
  return { traceHash: world.traceHash(), summary: summary.join(", ") };
}

const fixedSeed = process.env["CAIRN_SEED"];
const seedCount = Number(process.env["CAIRN_SIM_SEEDS"] ?? 100);
const seeds = fixedSeed !== undefined ? [Number(fixedSeed)] : (() => {
  const base = seededRandom(randomSeed());
  return Array.from({ length: seedCount }, () => base.integer(2 ** 32));
})();

describe("membership in simulation", () => {
  for (const seed of seeds) {
    test(`seed ${seed}`, async () => {
      console.log(`membership simulation seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/simulation/membership.test.ts)`);
      const { summary } = await runScenario(seed);
      console.log(`  seed ${seed}: ${summary}`);
    }, 60_000);
  }

  test("the same seed replays the same run (trace hash)", async () => {
    const seed = seeds[0]!;
    const first = await runScenario(seed);
    const second = await runScenario(seed);
    expect(second.traceHash).toBe(first.traceHash);
  }, 60_000);
});
