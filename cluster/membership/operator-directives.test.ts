import { describe, expect, test } from "bun:test";
import { createMemoryStorage, openMemoryStore, type MetaStore } from "../metadata/index.ts";
import { emptyFleetMap, planFleetMap, readFleetMap, writeFleetMap } from "./fleet-map.ts";
import { acquireManagerLease } from "./leases.ts";
import { readPlacementDirectives, setDiskOut, setNodeDraining } from "./operator-directives.ts";
import type { FleetMap, NodeLease, NodeRecord } from "./records.ts";

const request = { nowMs: 1_000, setBy: "op", actingSetWidth: 4 };

/** A stored fleet map of three nodes with two disks each, written the way the manager writes one. */
async function storeWithFleet(): Promise<MetaStore> {
  const store = openMemoryStore({ storage: createMemoryStorage() });
  const records: NodeRecord[] = ["n1", "n2", "n3"].map((nodeId) => ({
    nodeId,
    address: `ws://${nodeId}`,
    roles: ["storage", "gateway"],
    disks: [0, 1].map((index) => ({ diskId: `${nodeId}/d${index}`, weight: 1 })),
    incarnation: 1,
    registeredAtMs: 0,
  }));
  const leases = new Map<string, NodeLease>(records.map((record) => [record.nodeId, { nodeId: record.nodeId, incarnation: 1, expiresAtMs: 60_000, renewedAtMs: 0 }]));
  await store.transact(async (tx) => {
    const lease = await acquireManagerLease(tx, { nodeId: "n1", incarnation: 1 }, { nowMs: 0, leaseMs: 60_000, clockSkewMsMax: 0 });
    if (!("term" in lease)) throw new Error("no lease");
    let map: FleetMap = emptyFleetMap(8);
    for (let round = 0; round < 2; round += 1) {
      map = planFleetMap({ previous: map, nodes: records, leases, partitionUnits: [], nowMs: 0, clockSkewMsMax: 0, rebalanceMovesPerTickMax: 100, managerTerm: lease.term, actingSetWidth: 4 }).map;
    }
    const fenced = await writeFleetMap(tx, lease.term, map);
    if (fenced !== undefined) throw new Error(fenced.detail);
  });
  return store;
}

describe("operator directives", () => {
  test("disk out, in again, unknown disk, repeated asks", async () => {
    const store = await storeWithFleet();
    expect(await store.transact((tx) => setDiskOut(tx, "n9/d0", true, request))).toMatchObject({ outcome: "unknown" });
    expect(await store.transact((tx) => setDiskOut(tx, "n2/d1", true, request))).toMatchObject({ outcome: "applied" });
    expect(await store.transact((tx) => setDiskOut(tx, "n2/d1", true, request))).toMatchObject({ outcome: "unchanged" });
    expect([...(await store.transact((tx) => readPlacementDirectives(tx))).outDisks]).toEqual(["n2/d1"]);
    expect(await store.transact((tx) => setDiskOut(tx, "n2/d1", false, request))).toMatchObject({ outcome: "applied" });
    expect(await store.transact((tx) => setDiskOut(tx, "n2/d1", false, request))).toMatchObject({ outcome: "unchanged" });
    expect((await store.transact((tx) => readPlacementDirectives(tx))).outDisks.size).toBe(0);
  });

  test("a directive leaving fewer eligible disks than the width is refused and writes nothing", async () => {
    const store = await storeWithFleet();
    // Six disks, width 4: two out is fine, a third is refused.
    expect(await store.transact((tx) => setDiskOut(tx, "n1/d0", true, request))).toMatchObject({ outcome: "applied" });
    expect(await store.transact((tx) => setDiskOut(tx, "n1/d1", true, request))).toMatchObject({ outcome: "applied" });
    const refused = await store.transact((tx) => setDiskOut(tx, "n2/d0", true, request));
    expect(refused.outcome).toBe("refused");
    expect(refused.detail).toContain("would leave 3 disks");
    // Draining n2 would leave n3's two disks only.
    expect(await store.transact((tx) => setNodeDraining(tx, "n2", true, request))).toMatchObject({ outcome: "refused" });
    const directives = await store.transact((tx) => readPlacementDirectives(tx));
    expect([...directives.outDisks].sort()).toEqual(["n1/d0", "n1/d1"]);
    expect(directives.drainingNodes.size).toBe(0);
  });

  test("drain and cancel; an unknown node is named", async () => {
    const store = await storeWithFleet();
    expect(await store.transact((tx) => setNodeDraining(tx, "n7", true, request))).toMatchObject({ outcome: "unknown" });
    expect(await store.transact((tx) => setNodeDraining(tx, "n3", true, request))).toMatchObject({ outcome: "applied" });
    expect([...(await store.transact((tx) => readPlacementDirectives(tx))).drainingNodes]).toEqual(["n3"]);
    // A disk of the draining node marked in is still out while the drain stands: the reply says so.
    expect(await store.transact((tx) => setDiskOut(tx, "n3/d0", true, request))).toMatchObject({ outcome: "applied" });
    expect((await store.transact((tx) => setDiskOut(tx, "n3/d0", false, request))).detail).toContain("stays out while node n3 drains");
    expect(await store.transact((tx) => setNodeDraining(tx, "n3", false, request))).toMatchObject({ outcome: "applied" });
    expect(await store.transact((tx) => readFleetMap(tx))).toBeDefined();
  });
});
