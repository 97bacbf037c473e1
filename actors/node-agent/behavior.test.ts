/**
 * The NodeAgent on one nact host with a manual clock and an in-memory store.
 * The test plays the ClusterManager: it holds the manager lease and writes
 * fleet maps itself, so each rule of the agent is checked in isolation.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { actorRef, createNactHost, isFault, manualClock, seededRandom, type Host, type ManualClock } from "../../runtime/index.ts";
import { createMemoryStorage, MetaStoreError, openMemoryStore, type MetaStore, type MetaTransaction, type TransactOptions } from "../../cluster/metadata/index.ts";
import {
  acquireManagerLease,
  claimOwner,
  emptyFleetMap,
  readOwner,
  registerNode,
  unitText,
  writeFleetMap,
  type FleetMap,
  type Unit,
} from "../../cluster/membership/index.ts";
import { nodeAgentActorPath, nodeAgentBehavior, type HeartbeatReply, type NodeAgentMessage, type StatNodeAgentReply } from "./index.ts";

const leaseMs = 2_000;
const leaseRenewMs = 500;
const manager = { nodeId: "manager", incarnation: 1 };

/** The store as the agent's node reaches it; the test can cut it. */
class CuttableStore implements MetaStore {
  cut = false;
  hang = false;
  readonly #inner: MetaStore;
  constructor(inner: MetaStore) {
    this.#inner = inner;
  }
  transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    if (this.cut) return Promise.reject(new MetaStoreError("Closed", "cut off (test)"));
    // A store that takes every request and answers none (a hung connection).
    if (this.hang) return new Promise<T>(() => undefined);
    return this.#inner.transact(body, options);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

let clock: ManualClock;
let store: MetaStore;
let view: CuttableStore;
let host: Host;
let incarnation: number;
let running: Map<string, number>;
let calls: string[];
let failStarts: number;
let epoch: number;

async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function advance(ms: number): Promise<void> {
  for (let doneMs = 0; doneMs < ms; doneMs += 100) {
    await clock.advance(Math.min(100, ms - doneMs));
    await settle();
  }
}

const pg = (placementGroupId: number): Unit => ({ kind: "placementGroup", placementGroupId });
const partition = (bucket: string, index: number): Unit => ({ kind: "bucketPartition", bucket, partition: index });

/**
 * Writes the next map as the manager: n1 (at `nodeIncarnation`) up and the
 * given units on n1, each assigned at the new epoch unless `epochs` keeps an
 * older one (by unit text).
 */
async function writeMap(units: Unit[], nodeIncarnation = incarnation, epochs: Record<string, number> = {}): Promise<FleetMap> {
  epoch += 1;
  const epochOf = (unit: Unit): number => epochs[unitText(unit)] ?? epoch;
  const empty = emptyFleetMap(8);
  const map: FleetMap = {
    ...empty,
    epoch,
    managerTerm: 1,
    nodes: [{ nodeId: "n1", address: "ws://n1", roles: ["storage", "gateway"], incarnation: nodeIncarnation, state: "up" }],
    placement: { ...empty.placement, epoch },
    placementGroups: units.flatMap((unit) => (unit.kind === "placementGroup" ? [{ placementGroupId: unit.placementGroupId, nodeId: "n1", epoch: epochOf(unit) }] : [])),
    partitions: units.flatMap((unit) => (unit.kind === "bucketPartition" ? [{ bucket: unit.bucket, partition: unit.partition, nodeId: "n1", epoch: epochOf(unit) }] : [])),
  };
  await store.transact(async (tx) => {
    const lease = await acquireManagerLease(tx, manager, { nowMs: clock.nowMs(), leaseMs: 1_000_000, clockSkewMsMax: 0 });
    if (isFault(lease)) throw new Error(lease.detail);
    const fenced = await writeFleetMap(tx, lease.term, map);
    if (fenced !== undefined) throw new Error(fenced.detail);
  });
  return map;
}

const agentRef = () => actorRef<NodeAgentMessage>("n1", incarnation, nodeAgentActorPath);

async function stat(): Promise<StatNodeAgentReply> {
  const reply = await host.ask<NodeAgentMessage, StatNodeAgentReply>(agentRef(), (replyTo) => ({ kind: "StatNodeAgent", replyTo }), 1_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply;
}

beforeEach(async () => {
  clock = manualClock(1_000_000);
  store = openMemoryStore({ storage: createMemoryStorage() });
  view = new CuttableStore(store);
  running = new Map();
  calls = [];
  failStarts = 0;
  epoch = 0;
  const registered = await registerNode(store, { nodeId: "n1", address: "ws://n1", roles: ["storage", "gateway"], disks: [] }, clock.nowMs(), leaseMs);
  incarnation = registered.record.incarnation;
  host = createNactHost({ nodeId: "n1", incarnation, clock, random: seededRandom(7), log: () => undefined });
  await host.spawn(
    nodeAgentActorPath,
    nodeAgentBehavior({
      store: view,
      leaseMs,
      leaseRenewMs,
      log: () => undefined,
      startUnit: async (unit, unitEpoch) => {
        calls.push(`start ${unitText(unit)}@${unitEpoch}`);
        if (failStarts > 0) {
          failStarts -= 1;
          throw new Error("start failed (test)");
        }
        running.set(unitText(unit), unitEpoch);
      },
      stopUnit: async (unit) => {
        calls.push(`stop ${unitText(unit)}`);
        running.delete(unitText(unit));
      },
    }),
  );
  await settle();
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
});

describe("NodeAgent", () => {
  test("claims and starts the units assigned to its run, stops those moved away; a notification applies a map before the next poll", async () => {
    const map = await writeMap([pg(1), pg(2), partition("photos", 0)]);
    expect(running.size).toBe(0); // not before its next renewal...
    host.tell(agentRef(), { kind: "ClusterMapChanged", epoch: map.epoch, term: 1 });
    await settle(); // ...or a notification, which needs no clock time
    expect(Object.fromEntries(running)).toEqual({ "pg/1": 1, "pg/2": 1, "bp/photos/0": 1 });
    expect(await store.transact((tx) => readOwner(tx, pg(2)))).toEqual({ nodeId: "n1", incarnation, epoch: 1 });

    // Next map: pg/2 moved away, pg/3 added, pg/1 kept at its old epoch. Found by polling (no notification).
    // The partition is reassigned to n1 at a newer epoch (it moved away and back): it restarts under the new claim.
    await writeMap([pg(1), pg(3), partition("photos", 0)], incarnation, { "pg/1": 1 });
    await advance(leaseRenewMs);
    expect(Object.fromEntries(running)).toEqual({ "pg/1": 1, "pg/3": 2, "bp/photos/0": 2 });
    expect(calls.filter((call) => call.includes("pg/1"))).toEqual(["start pg/1@1"]);
    expect(calls).toContain("stop pg/2");
    expect(calls.slice(-4)).toEqual(["stop pg/2", "stop bp/photos/0", "start pg/3@2", "start bp/photos/0@2"]);
    expect((await stat()).epoch).toBe(2);
  });

  test("a unit assigned at a newer epoch than the stored owner's cannot be taken back by an older claim", async () => {
    await store.transact((tx) => claimOwner(tx, pg(5), { nodeId: "elsewhere", incarnation: 1, epoch: 10 }));
    await writeMap([pg(5), pg(6)]);
    await advance(leaseRenewMs);
    expect([...running.keys()]).toEqual(["pg/6"]);
  });

  test("a map naming another run of this node assigns nothing to this run", async () => {
    await writeMap([pg(1)], incarnation + 1);
    await advance(leaseRenewMs);
    expect(running.size).toBe(0);
  });

  test("cut off from the store it stops every unit when its own lease runs out, not before; healed, it resumes", async () => {
    await writeMap([pg(1), pg(2)]);
    await advance(leaseRenewMs);
    expect(running.size).toBe(2);
    const lastRenewalMs = clock.nowMs(); // a renewal ran at this tick
    view.cut = true;
    await advance(leaseMs - 100);
    expect(running.size).toBe(2);
    expect((await stat()).selfFenced).toBe(false);
    await advance(200);
    expect(clock.nowMs()).toBeGreaterThanOrEqual(lastRenewalMs + leaseMs);
    expect(running.size).toBe(0);
    expect((await stat()).selfFenced).toBe(true);
    // Notifications are ignored while fenced.
    host.tell(agentRef(), { kind: "ClusterMapChanged", epoch: epoch + 5, term: 1 });
    await settle();
    expect(running.size).toBe(0);
    view.cut = false;
    await advance(leaseRenewMs);
    expect((await stat()).selfFenced).toBe(false);
    expect(Object.fromEntries(running)).toEqual({ "pg/1": 1, "pg/2": 1 });
  });

  test("a newer run of the node registering retires this one for good", async () => {
    await writeMap([pg(1)]);
    await advance(leaseRenewMs);
    expect(running.size).toBe(1);
    await registerNode(store, { nodeId: "n1", address: "ws://n1", roles: ["storage"], disks: [] }, clock.nowMs(), leaseMs);
    await advance(leaseRenewMs);
    expect(running.size).toBe(0);
    const after = await stat();
    expect(after.replaced).toBe(true);
    await writeMap([pg(1), pg(2)]);
    await advance(3 * leaseRenewMs);
    expect(running.size).toBe(0);
  });

  test("ReportFenced stops the unit; a failed start is retried at the next renewal; heartbeats are answered", async () => {
    failStarts = 1;
    await writeMap([pg(1), pg(2)]);
    await advance(leaseRenewMs);
    expect(running.size).toBe(1);
    await advance(leaseRenewMs);
    expect(running.size).toBe(2);
    host.tell(agentRef(), { kind: "ReportFenced", unit: pg(1), epoch: 1 });
    await settle();
    expect([...running.keys()]).toEqual(["pg/2"]);
    const reply = await host.ask<NodeAgentMessage, HeartbeatReply>(agentRef(), (replyTo) => ({ kind: "Heartbeat", term: 1, epoch: 1, replyTo }), 1_000);
    expect(reply).toEqual({ kind: "HeartbeatReply", nodeId: "n1", incarnation, epoch: 1 });
  });

  test("a renewal that never answers does not keep units running past the lease", async () => {
    await writeMap([pg(1)]);
    await advance(leaseRenewMs);
    expect(running.size).toBe(1);
    const lastRenewalMs = clock.nowMs();
    view.hang = true;
    await advance(leaseMs - 100);
    expect(running.size).toBe(1);
    await advance(200);
    expect(clock.nowMs()).toBeGreaterThanOrEqual(lastRenewalMs + leaseMs);
    expect(running.size).toBe(0);
    view.hang = false;
    await advance(2 * leaseRenewMs);
    expect([...running.keys()]).toEqual(["pg/1"]);
  });
});
