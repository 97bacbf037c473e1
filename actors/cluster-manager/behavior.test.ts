/**
 * The ClusterManager on one nact host (node n1, with its agent) and an
 * in-memory store. A second node, n2, exists only in the store: the test
 * renews its lease by hand. Hosts have no remoting, so every heartbeat to n2
 * is missed, which is what the suspicion-versus-verdict test needs.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { actorRef, createNactHost, isFault, manualClock, seededRandom, type Fault, type Host, type ManualClock } from "../../runtime/index.ts";
import { createMemoryStorage, encodeRecord, managerLeaseKey, openMemoryStore, type MetaStore } from "../../cluster/metadata/index.ts";
import {
  partitionUnitsMax,
  readFleetMap,
  readManagerLease,
  registerNode,
  renewNodeLease,
  type FleetMap,
} from "../../cluster/membership/index.ts";
import { nodeAgentActorPath, nodeAgentBehavior } from "../node-agent/index.ts";
import {
  clusterManagerActorPath,
  clusterManagerBehavior,
  registerPartitionsBatchMax,
  type ClusterManagerMessage,
  type RegisterPartitionsReply,
  type StatClusterManagerReply,
} from "./index.ts";

const timing = { tickMs: 500, leaseMs: 2_000, clockSkewMsMax: 300, heartbeatTimeoutMs: 200 };
const nodeLeaseMs = 2_000;

let clock: ManualClock;
let store: MetaStore;
let host: Host;
let incarnation: number;
let logLines: Record<string, unknown>[];

async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function advance(ms: number, renewN2 = true): Promise<void> {
  for (let doneMs = 0; doneMs < ms; doneMs += 100) {
    await clock.advance(Math.min(100, ms - doneMs));
    if (renewN2) await store.transact((tx) => renewNodeLease(tx, { nodeId: "n2", incarnation: 1 }, clock.nowMs(), nodeLeaseMs));
    await settle();
  }
}

const managerRef = () => actorRef<ClusterManagerMessage>("n1", incarnation, clusterManagerActorPath);

async function stat(): Promise<StatClusterManagerReply> {
  const reply = await host.ask<ClusterManagerMessage, StatClusterManagerReply>(managerRef(), (replyTo) => ({ kind: "StatClusterManager", replyTo }), 1_000);
  if (isFault(reply)) throw new Error(reply.detail);
  return reply;
}

async function storedMap(): Promise<FleetMap> {
  const map = await store.transact((tx) => readFleetMap(tx));
  if (map === undefined) throw new Error("no map stored");
  return map;
}

beforeEach(async () => {
  clock = manualClock(5_000_000);
  store = openMemoryStore({ storage: createMemoryStorage() });
  logLines = [];
  const disks = (nodeId: string) => [0, 1].map((index) => ({ diskId: `${nodeId}/d${index}`, weight: 1 }));
  const n1 = await registerNode(store, { nodeId: "n1", address: "ws://n1", roles: ["storage", "gateway"], disks: disks("n1") }, clock.nowMs(), nodeLeaseMs);
  await registerNode(store, { nodeId: "n2", address: "ws://n2", roles: ["storage", "gateway"], disks: disks("n2") }, clock.nowMs(), nodeLeaseMs);
  incarnation = n1.record.incarnation;
  host = createNactHost({ nodeId: "n1", incarnation, clock, random: seededRandom(11), log: () => undefined });
  const log = (line: Record<string, unknown>): void => void logLines.push(line);
  await host.spawn(clusterManagerActorPath, clusterManagerBehavior({ store, ...timing, rebalanceMovesPerTickMax: 4, placementGroupCount: 8, log }));
  await host.spawn(nodeAgentActorPath, nodeAgentBehavior({ store, leaseMs: nodeLeaseMs, leaseRenewMs: 500, log, startUnit: async () => undefined, stopUnit: async () => undefined }));
  await settle();
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
});

describe("ClusterManager", () => {
  test("missed heartbeats are suspicion only: the node stays up while its lease is renewed, and goes down when the lease lapses", async () => {
    await advance(3 * timing.tickMs);
    expect(await stat()).toMatchObject({ leader: true, term: 1 });
    const map = await storedMap();
    expect(map.nodes.map((node) => [node.nodeId, node.state])).toEqual([["n1", "up"], ["n2", "up"]]);
    expect(new Set(map.placementGroups.map((entry) => entry.nodeId))).toEqual(new Set(["n1", "n2"]));

    await advance(6 * timing.tickMs);
    const suspects = (await stat()).suspects;
    expect(suspects.map((suspect) => suspect.nodeId)).toEqual(["n2"]); // its own agent answers
    expect(suspects[0]!.missed).toBeGreaterThanOrEqual(5);
    expect(logLines.some((line) => line["event"] === "heartbeat-missed" && line["suspect"] === "n2")).toBe(true);
    expect((await storedMap()).nodes.find((node) => node.nodeId === "n2")!.state).toBe("up");

    // n2 stops renewing: down only after its expiry plus the skew allowance, and its PGs move to n1 at once.
    const lastRenewalMs = clock.nowMs();
    await advance(nodeLeaseMs + timing.clockSkewMsMax - 100, false);
    expect((await storedMap()).nodes.find((node) => node.nodeId === "n2")!.state).toBe("up");
    await advance(timing.tickMs + 200, false);
    expect(clock.nowMs()).toBeGreaterThan(lastRenewalMs + nodeLeaseMs + timing.clockSkewMsMax);
    const after = await storedMap();
    expect(after.nodes.find((node) => node.nodeId === "n2")!.state).toBe("down");
    expect(new Set(after.placementGroups.map((entry) => entry.nodeId))).toEqual(new Set(["n1"]));
  });

  test("a manager whose lease was taken over stops acting and cannot write the map", async () => {
    await advance(2 * timing.tickMs);
    const before = await storedMap();
    // Another run took the lease with a newer term (as after a partition that outlasted the lease).
    await store.transact(async (tx) => {
      const lease = await readManagerLease(tx);
      tx.set(managerLeaseKey(), encodeRecord("managerLease", 1, { nodeId: "n9", incarnation: 1, term: lease!.term + 1, expiresAtMs: clock.nowMs() + 60_000 }));
    });
    await advance(timing.tickMs);
    expect(await stat()).toMatchObject({ leader: false, term: 0 });
    expect(logLines.some((line) => line["event"] === "manager-deposed")).toBe(true);
    // n2 lapses: a manager would mark it down, but this one may not write.
    await advance(nodeLeaseMs + timing.clockSkewMsMax + 2 * timing.tickMs, false);
    const after = await storedMap();
    expect(after.epoch).toBe(before.epoch);
    expect(after.nodes.find((node) => node.nodeId === "n2")!.state).toBe("up");
  });

  test("partitions register through any manager, up to the fleet bound; a clean stop hands the lease over at once", async () => {
    const register = (bucket: string, count: number): Promise<RegisterPartitionsReply | Fault> =>
      host.ask<ClusterManagerMessage, RegisterPartitionsReply>(
        managerRef(),
        (replyTo) => ({ kind: "RegisterPartitions", partitions: Array.from({ length: count }, (_, partition) => ({ bucket, partition })), replyTo }),
        1_000,
      );
    for (let batch = 0; batch < partitionUnitsMax / registerPartitionsBatchMax; batch += 1) {
      expect(await register(`bucket-${batch}`, registerPartitionsBatchMax)).toEqual({ kind: "RegisterPartitionsReply", count: registerPartitionsBatchMax });
    }
    expect(await register("bucket-0", 3)).toEqual({ kind: "RegisterPartitionsReply", count: 3 }); // already known: idempotent
    const over = await register("one-too-many", 1);
    expect(isFault(over) && over.fault).toBe("Overloaded");
    await advance(3 * timing.tickMs);
    expect((await storedMap()).partitions).toHaveLength(partitionUnitsMax);

    await host.stop(managerRef());
    const released = await store.transact((tx) => readManagerLease(tx));
    expect(released!.expiresAtMs).toBeLessThan(clock.nowMs());
  });
});
