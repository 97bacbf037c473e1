/**
 * Several nodes in one process, each a nact host with a ClusterManager and a
 * NodeAgent, sharing one LMDB store and one manual clock. Hosts have no
 * remoting yet, so every message between nodes is a dead letter: the agents
 * learn the map by polling the store, which is exactly the fallback a lost
 * `ClusterMapChanged` relies on. Each node reaches the store through a view
 * the test can cut (a node partitioned from the metadata store).
 *
 * A workload makes one fenced metadata write per running unit per step
 * (`checkOwner` in the write's transaction) and checks what got through.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { actorRef, createNactHost, isFault, manualClock, randomSeed, seededRandom, type Host, type ManualClock } from "../../runtime/index.ts";
import { MetaStoreError, openLmdbStore, type MetaStore, type MetaTransaction, type TransactOptions } from "../../cluster/metadata/index.ts";
import {
  checkOwner,
  readFleetMap,
  registerNode,
  unitText,
  type FleetMap,
  type NodeRole,
  type Unit,
} from "../../cluster/membership/index.ts";
import { nodeAgentActorPath, nodeAgentBehavior, type NodeAgentMessage } from "../node-agent/index.ts";
import { clusterManagerActorPath, clusterManagerBehavior, type ClusterManagerMessage, type RegisterPartitionsReply, type StatClusterManagerReply } from "./index.ts";

const seed = process.env["CAIRN_SEED"] === undefined ? randomSeed() : Number(process.env["CAIRN_SEED"]);
console.log(`fleet.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test actors/cluster-manager/fleet.test.ts)`);

const timing = {
  leaseMs: 3_000,
  leaseRenewMs: 500,
  clockSkewMsMax: 500,
  tickMs: 500,
  managerLeaseMs: 3_000,
  heartbeatTimeoutMs: 250,
  rebalanceMovesPerTickMax: 2,
};
const placementGroupCount = 16;
const partitions = Array.from({ length: 8 }, (_, index) => ({ bucket: `bucket-${index % 3}`, partition: index }));
/** Lease lapse seen by others, then one manager tick, then one agent poll, plus one step of slack. */
const reassignBoundMs = timing.leaseMs + timing.clockSkewMsMax + 2 * timing.tickMs + timing.leaseRenewMs + 500;
const stepMs = 100;

/** A node's path to the shared store, which the test can cut. */
class CuttableStore implements MetaStore {
  cut = false;
  readonly #store: MetaStore;
  constructor(store: MetaStore) {
    this.#store = store;
  }
  transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    if (this.cut) return Promise.reject(new MetaStoreError("Closed", "node cut off from the metadata store (test)"));
    return this.#store.transact(body, options);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Owner {
  readonly nodeId: string;
  readonly incarnation: number;
  readonly epoch: number;
}
const ownerText = (owner: Owner): string => `${owner.nodeId}#${owner.incarnation}@${owner.epoch}`;

interface FleetNode {
  readonly nodeId: string;
  readonly incarnation: number;
  readonly host: Host;
  readonly view: CuttableStore;
  dead: boolean;
}

class Fleet {
  readonly clock: ManualClock = manualClock(1_700_000_000_000);
  readonly nodes = new Map<string, FleetNode>();
  /** Units running now: unit text → owners. */
  readonly active = new Map<string, Map<string, Owner & { unit: Unit }>>();
  readonly violations: string[] = [];
  /** Every start and stop with its clock time. */
  readonly history: { timeMs: number; what: "start" | "stop"; unit: string; owner: string }[] = [];
  /** Per unit, the owners whose fenced writes committed, in commit order. */
  readonly writes = new Map<string, Owner[]>();
  readonly logLines: Record<string, unknown>[] = [];
  /** When set, stop requests never reach the units (a lost message): a unit then stops only when a write of its is Fenced. */
  lostStops = false;
  lostStopCount = 0;
  fencedCount = 0;
  readonly #store: MetaStore;

  constructor(store: MetaStore) {
    this.#store = store;
  }

  async startNode(nodeId: string, roles: NodeRole[] = ["storage", "gateway"]): Promise<FleetNode> {
    const view = new CuttableStore(this.#store);
    const disks = [0, 1].map((index) => ({ diskId: `${nodeId}/d${index}`, weight: 1 }));
    const { record } = await registerNode(this.#store, { nodeId, address: `ws://127.0.0.1/${nodeId}`, roles, disks }, this.clock.nowMs(), timing.leaseMs);
    const log = (line: Record<string, unknown>): void => void this.logLines.push({ timeMs: this.clock.nowMs(), ...line });
    const host = createNactHost({ nodeId, incarnation: record.incarnation, clock: this.clock, random: seededRandom(seed).fork(`${nodeId}#${record.incarnation}`), log });
    const node: FleetNode = { nodeId, incarnation: record.incarnation, host, view, dead: false };
    this.nodes.set(nodeId, node);
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
        log,
      }),
    );
    await host.spawn(
      nodeAgentActorPath,
      nodeAgentBehavior({
        store: view,
        leaseMs: timing.leaseMs,
        leaseRenewMs: timing.leaseRenewMs,
        log,
        startUnit: async (unit, epoch) => this.#started(node, unit, epoch),
        stopUnit: async (unit) => this.#stopped(node, unit),
      }),
    );
    return node;
  }

  #started(node: FleetNode, unit: Unit, epoch: number): void {
    if (node.dead) return;
    const text = unitText(unit);
    const owners = this.active.get(text) ?? new Map<string, Owner & { unit: Unit }>();
    const owner = { nodeId: node.nodeId, incarnation: node.incarnation, epoch, unit };
    for (const other of owners.values()) {
      if (other.epoch === epoch) this.violations.push(`${text}: ${ownerText(other)} and ${ownerText(owner)} both active at epoch ${epoch}`);
    }
    owners.set(`${node.nodeId}#${node.incarnation}`, owner);
    this.active.set(text, owners);
    this.history.push({ timeMs: this.clock.nowMs(), what: "start", unit: text, owner: ownerText(owner) });
  }

  #stopped(node: FleetNode, unit: Unit): void {
    if (node.dead) return;
    if (this.lostStops) {
      this.lostStopCount += 1;
      return;
    }
    this.#remove(node, unit);
  }

  #remove(node: FleetNode, unit: Unit): void {
    const text = unitText(unit);
    const owner = this.active.get(text)?.get(`${node.nodeId}#${node.incarnation}`);
    if (owner === undefined) {
      this.violations.push(`${text}: stopped on ${node.nodeId}#${node.incarnation}, which did not run it`);
      return;
    }
    this.active.get(text)!.delete(`${node.nodeId}#${node.incarnation}`);
    this.history.push({ timeMs: this.clock.nowMs(), what: "stop", unit: text, owner: ownerText(owner) });
  }

  /** A crash: the node's units are gone at once, its store view is cut (no clean lease release), its host goes away. */
  async kill(nodeId: string): Promise<void> {
    const node = this.nodes.get(nodeId)!;
    for (const owners of this.active.values()) {
      const owner = owners.get(`${node.nodeId}#${node.incarnation}`);
      if (owner === undefined) continue;
      owners.delete(`${node.nodeId}#${node.incarnation}`);
      this.history.push({ timeMs: this.clock.nowMs(), what: "stop", unit: unitText(owner.unit), owner: ownerText(owner) });
    }
    node.dead = true;
    node.view.cut = true;
    await node.host.shutdown();
  }

  async shutdown(): Promise<void> {
    for (const node of this.nodes.values()) if (!node.dead) await this.kill(node.nodeId);
  }

  /** One fenced write per running unit, as a unit actor's metadata write would be. */
  async #workload(): Promise<void> {
    for (const [text, owners] of this.active) {
      for (const owner of [...owners.values()]) {
        const node = this.nodes.get(owner.nodeId)!;
        let outcome;
        try {
          outcome = await node.view.transact(async (tx) => {
            const fenced = await checkOwner(tx, owner.unit, owner);
            if (fenced !== undefined) return fenced;
            tx.set(new TextEncoder().encode(`\u0020workload/${text}`), new Uint8Array([owner.epoch & 0xff]));
            return undefined;
          });
        } catch (error) {
          if (error instanceof MetaStoreError) continue; // cut off: the write does not happen
          throw error;
        }
        if (isFault(outcome)) {
          // The unit learns it was replaced, stops itself and reports it, as a unit actor would.
          this.fencedCount += 1;
          this.#remove(node, owner.unit);
          node.host.tell<NodeAgentMessage>(actorRef(node.nodeId, node.incarnation, nodeAgentActorPath), { kind: "ReportFenced", unit: owner.unit, epoch: owner.epoch });
          continue;
        }
        const list = this.writes.get(text) ?? [];
        list.push(owner);
        this.writes.set(text, list);
      }
    }
  }

  async step(): Promise<void> {
    await this.clock.advance(stepMs);
    // Let woken ticks finish their transactions before the next step (no wall-clock sleep).
    for (let turn = 0; turn < 20; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#workload();
  }

  /** Steps until `condition` holds, at most `boundMs` of clock time; returns the time it took. */
  async until(condition: () => boolean | Promise<boolean>, boundMs: number, what: string): Promise<number> {
    const startMs = this.clock.nowMs();
    while (!(await condition())) {
      if (this.clock.nowMs() - startMs > boundMs) throw new Error(`not within ${boundMs} ms of clock time: ${what} (seed ${seed})`);
      await this.step();
    }
    return this.clock.nowMs() - startMs;
  }

  readMap(): Promise<FleetMap | undefined> {
    return this.#store.transact((tx) => readFleetMap(tx));
  }

  /** The one running owner of every unit, when each unit has exactly one and it matches `map`. */
  settledOn(map: FleetMap | undefined): boolean {
    if (map === undefined) return false;
    const assignments = [
      ...map.placementGroups.map((entry) => [unitText({ kind: "placementGroup", placementGroupId: entry.placementGroupId }), entry] as const),
      ...map.partitions.map((entry) => [unitText({ kind: "bucketPartition", bucket: entry.bucket, partition: entry.partition }), entry] as const),
    ];
    if (assignments.length !== placementGroupCount + partitions.length) return false;
    return assignments.every(([text, entry]) => {
      const owners = [...(this.active.get(text)?.values() ?? [])];
      return owners.length === 1 && owners[0]!.nodeId === entry.nodeId && owners[0]!.epoch === entry.epoch;
    });
  }

  nodeOf(unit: string): string | undefined {
    const owners = [...(this.active.get(unit)?.values() ?? [])];
    return owners.length === 1 ? owners[0]!.nodeId : undefined;
  }

  /** Fenced writes per unit: epochs never go back, and one epoch has one writer. */
  checkWrites(): string[] {
    const problems: string[] = [];
    for (const [unit, list] of this.writes) {
      for (let index = 1; index < list.length; index += 1) {
        const before = list[index - 1]!;
        const after = list[index]!;
        if (after.epoch < before.epoch) problems.push(`${unit}: write at epoch ${after.epoch} by ${ownerText(after)} after one at ${before.epoch}`);
        if (after.epoch === before.epoch && ownerText(after) !== ownerText(before)) problems.push(`${unit}: two writers at epoch ${after.epoch}`);
      }
    }
    return problems;
  }
}

let directory: string;
let store: MetaStore;
let fleet: Fleet;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-fleet-"));
  store = await openLmdbStore({ path: directory });
  fleet = new Fleet(store);
});

afterEach(async () => {
  await fleet.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function startFleet(nodeIds: string[]): Promise<void> {
  for (const nodeId of nodeIds) await fleet.startNode(nodeId);
  const first = fleet.nodes.get(nodeIds[0]!)!;
  const reply = await first.host.ask<ClusterManagerMessage, RegisterPartitionsReply>(
    actorRef(first.nodeId, first.incarnation, clusterManagerActorPath),
    (replyTo) => ({ kind: "RegisterPartitions", partitions, replyTo }),
    1_000,
  );
  expect(reply).toEqual({ kind: "RegisterPartitionsReply", count: partitions.length });
  await untilStable(20_000, "every unit running where a final map puts it");
}

/** Steps until the units run as the stored map says and the map has not changed for a few manager ticks (rebalancing done). */
async function untilStable(boundMs: number, what: string): Promise<number> {
  let epoch = -1;
  let sinceMs = fleet.clock.nowMs();
  return fleet.until(
    async () => {
      const map = await fleet.readMap();
      if (map?.epoch !== epoch) {
        epoch = map?.epoch ?? -1;
        sinceMs = fleet.clock.nowMs();
      }
      return fleet.settledOn(map) && fleet.clock.nowMs() - sinceMs >= 4 * timing.tickMs;
    },
    boundMs,
    what,
  );
}

async function leaderOf(): Promise<string[]> {
  const leaders: string[] = [];
  for (const node of fleet.nodes.values()) {
    if (node.dead) continue;
    const stat = await node.host.ask<ClusterManagerMessage, StatClusterManagerReply>(
      actorRef(node.nodeId, node.incarnation, clusterManagerActorPath),
      (replyTo) => ({ kind: "StatClusterManager", replyTo }),
      1_000,
    );
    if (!isFault(stat) && stat.leader) leaders.push(node.nodeId);
  }
  return leaders;
}

describe("membership on nact hosts (manual clock, shared LMDB store)", () => {
  test("one manager; a killed node's units run elsewhere within the bound; on restart it gets units back, rate-limited", async () => {
    const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
    await startFleet(nodeIds);
    expect(await leaderOf()).toHaveLength(1);

    // Kill a node that hosts units (chosen by the seed), possibly the manager.
    const random = seededRandom(seed).fork("victim");
    const hosting = nodeIds.filter((nodeId) => [...fleet.active.keys()].some((unit) => fleet.nodeOf(unit) === nodeId));
    const victim = hosting[random.integer(hosting.length)]!;
    const victimUnits = [...fleet.active.keys()].filter((unit) => fleet.nodeOf(unit) === victim);
    const before = new Map([...fleet.active.keys()].map((unit) => [unit, fleet.nodeOf(unit)]));
    await fleet.kill(victim);
    const tookMs = await fleet.until(
      async () => {
        const map = await fleet.readMap();
        return fleet.settledOn(map) && map!.nodes.find((node) => node.nodeId === victim)!.state === "down";
      },
      reassignBoundMs,
      `units of ${victim} running elsewhere`,
    );
    console.log(`killed ${victim} (${victimUnits.length} units); all running elsewhere after ${tookMs} ms of clock time (bound ${reassignBoundMs})`);
    for (const unit of victimUnits) expect(fleet.nodeOf(unit)).not.toBe(victim);
    // Units of live nodes were not moved.
    for (const [unit, nodeId] of before) if (nodeId !== victim) expect(fleet.nodeOf(unit)).toBe(nodeId!);
    expect(await leaderOf()).toHaveLength(1);

    // Restart: a new run (incarnation 2) joins; units come back at most 2 per map.
    const restarted = await fleet.startNode(victim);
    expect(restarted.incarnation).toBe(2);
    let observed = await fleet.readMap();
    let movesSeen = 0;
    await fleet.until(
      async () => {
        const map = (await fleet.readMap())!;
        if (map.epoch !== observed!.epoch) {
          const previous = new Map(observed!.placementGroups.map((entry) => [entry.placementGroupId, entry.nodeId]));
          const moves = map.placementGroups.filter((entry) => previous.get(entry.placementGroupId) !== entry.nodeId).length +
            map.partitions.filter((entry) => observed!.partitions.find((old) => old.bucket === entry.bucket && old.partition === entry.partition)?.nodeId !== entry.nodeId).length;
          expect(moves).toBeLessThanOrEqual(timing.rebalanceMovesPerTickMax * (map.epoch - observed!.epoch));
          movesSeen += moves;
          observed = map;
        }
        return fleet.settledOn(map) && victimUnits.every((unit) => fleet.nodeOf(unit) === victim);
      },
      30_000,
      `${victim} back with its units`,
    );
    expect(movesSeen).toBe(victimUnits.length);
    expect(fleet.violations).toEqual([]);
    expect(fleet.checkWrites()).toEqual([]);
  }, 60_000);

  test("a node cut off from the store stops its units (self-fencing) before anyone else starts them; the manager fails over", async () => {
    await startFleet(["n1", "n2", "n3", "n4"]);
    const [leader] = await leaderOf();
    const cut = fleet.nodes.get(leader!)!;
    const cutUnits = [...fleet.active.keys()].filter((unit) => fleet.nodeOf(unit) === cut.nodeId);
    expect(cutUnits.length).toBeGreaterThan(0);
    const cutAtMs = fleet.clock.nowMs();
    cut.view.cut = true;
    await fleet.until(
      async () => fleet.settledOn(await fleet.readMap()) && cutUnits.every((unit) => fleet.nodeOf(unit) !== cut.nodeId),
      reassignBoundMs,
      "units of the cut node running elsewhere",
    );
    const leaders = await leaderOf();
    expect(leaders).toHaveLength(1);
    expect(leaders[0]).not.toBe(cut.nodeId);
    // For each unit of the cut node: its stop there came before its start anywhere else.
    for (const unit of cutUnits) {
      const events = fleet.history.filter((event) => event.unit === unit && event.timeMs >= cutAtMs);
      const stopMs = events.find((event) => event.what === "stop" && event.owner.startsWith(`${cut.nodeId}#`))?.timeMs;
      const startMs = events.find((event) => event.what === "start" && !event.owner.startsWith(`${cut.nodeId}#`))?.timeMs;
      expect(stopMs).toBeDefined();
      expect(startMs).toBeDefined();
      expect(stopMs!).toBeLessThan(startMs!);
    }
    // Healed: the same run renews again, rejoins and gets units back (one map later it is up).
    cut.view.cut = false;
    await fleet.until(
      async () => {
        const map = await fleet.readMap();
        return fleet.settledOn(map) && [...fleet.active.keys()].some((unit) => fleet.nodeOf(unit) === cut.nodeId);
      },
      30_000,
      "the healed node hosting units again",
    );
    expect(fleet.violations).toEqual([]);
    expect(fleet.checkWrites()).toEqual([]);
  }, 60_000);

  test("a unit whose stop message is lost is fenced at its next write once the new owner has claimed it", async () => {
    await startFleet(["n1", "n2", "n3"]);
    fleet.lostStops = true;
    const before = new Map([...fleet.active.keys()].map((unit) => [unit, fleet.nodeOf(unit)]));
    await fleet.startNode("n4");
    await untilStable(30_000, "n4 hosting its share, every replaced unit fenced");
    const moved = [...before].filter(([unit, nodeId]) => fleet.nodeOf(unit) !== nodeId).length;
    expect(moved).toBeGreaterThan(0);
    // A unit may move more than once while rebalancing converges; each move lost one stop.
    expect(fleet.lostStopCount).toBeGreaterThanOrEqual(moved);
    // Every old owner kept running until a write of its was refused.
    expect(fleet.fencedCount).toBe(fleet.lostStopCount);
    expect(fleet.violations).toEqual([]);
    expect(fleet.checkWrites()).toEqual([]);
  }, 60_000);
});
