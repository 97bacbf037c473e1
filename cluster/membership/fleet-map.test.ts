import { describe, expect, test } from "bun:test";
import { encodeRecord } from "../metadata/index.ts";
import { actingSet, eligibleDiskCount, type ClusterMap } from "../placement/index.ts";
import { emptyFleetMap, planFleetMap, rendezvous, unitsOfNode, type FleetPlanInput, type PartitionUnit, type PlacementDirectives } from "./fleet-map.ts";
import { decodeFleetMap, encodeFleetMap, type FleetMap, type NodeLease, type NodeRecord, type NodeRole } from "./records.ts";

const leaseMs = 1_000;
const skewMs = 100;

function node(nodeId: string, incarnation = 1, roles: NodeRole[] = ["storage", "gateway"], diskCount = 2): NodeRecord {
  const disks = Array.from({ length: diskCount }, (_, index) => ({ diskId: `${nodeId}/d${index}`, weight: 1 }));
  return { nodeId, address: `ws://${nodeId}`, roles, disks, incarnation, registeredAtMs: 0 };
}

function lease(record: NodeRecord, expiresAtMs: number): NodeLease {
  return { nodeId: record.nodeId, incarnation: record.incarnation, expiresAtMs, renewedAtMs: expiresAtMs - leaseMs };
}

const partitions: PartitionUnit[] = Array.from({ length: 12 }, (_, index) => ({ bucket: `b${index % 3}`, partition: index }));

interface World {
  records: NodeRecord[];
  leases: Map<string, NodeLease>;
  nowMs: number;
  map: FleetMap;
}

function world(nodeIds: string[]): World {
  const records = nodeIds.map((nodeId) => node(nodeId));
  return { records, leases: new Map(records.map((record) => [record.nodeId, lease(record, 10_000)])), nowMs: 0, map: emptyFleetMap(32) };
}

function plan(w: World, movesMax = 1_000, actingSetWidth?: number, lapseVerdictsFromMs?: number, directives?: PlacementDirectives): ReturnType<typeof planFleetMap> {
  const input: FleetPlanInput = {
    ...(directives === undefined ? {} : { directives }),
    ...(actingSetWidth === undefined ? {} : { actingSetWidth }),
    ...(lapseVerdictsFromMs === undefined ? {} : { lapseVerdictsFromMs }),
    previous: w.map,
    nodes: w.records,
    leases: w.leases,
    partitionUnits: partitions,
    nowMs: w.nowMs,
    clockSkewMsMax: skewMs,
    rebalanceMovesPerTickMax: movesMax,
    managerTerm: 1,
  };
  const result = planFleetMap(input);
  w.map = result.map;
  return result;
}

function ownerByUnit(map: FleetMap): Map<string, string> {
  return new Map([
    ...map.placementGroups.map((entry) => [`pg/${entry.placementGroupId}`, entry.nodeId] as const),
    ...map.partitions.map((entry) => [`bp/${entry.bucket}/${entry.partition}`, entry.nodeId] as const),
  ]);
}

describe("planFleetMap", () => {
  test("new nodes join, then receive every unit by the placement rule; an unchanged world changes nothing", () => {
    const w = world(["n1", "n2", "n3"]);
    const joined = plan(w);
    expect(joined.changed).toBe(true);
    expect(w.map.nodes.map((entry) => entry.state)).toEqual(["joining", "joining", "joining"]);
    expect(w.map.placementGroups).toEqual([]);
    plan(w);
    expect(w.map.epoch).toBe(2);
    expect(w.map.nodes.map((entry) => entry.state)).toEqual(["up", "up", "up"]);
    expect(w.map.placementGroups.length).toBe(32);
    expect(w.map.partitions.length).toBe(partitions.length);
    const width = eligibleDiskCount(w.map.placement);
    expect(width).toBe(6);
    for (const entry of w.map.placementGroups) {
      const firstDisk = actingSet(entry.placementGroupId, w.map.placement, width)[0]!;
      expect(entry.nodeId).toBe(firstDisk.split("/")[0]!);
      expect(entry.epoch).toBe(2);
    }
    for (const entry of w.map.partitions) expect(entry.nodeId).toBe(rendezvous(`bp/${entry.bucket}/${entry.partition}`, ["n1", "n2", "n3"])!);
    expect(w.map.placement.epoch).toBe(w.map.epoch);
    const again = plan(w);
    expect(again.changed).toBe(false);
    expect(w.map.epoch).toBe(2);
  });

  test("a lapsed lease (past expiry plus skew) marks the node down and moves all its units at once; others keep theirs", () => {
    const w = world(["n1", "n2", "n3"]);
    plan(w);
    plan(w);
    const before = w.map;
    w.nowMs = 10_000 + skewMs; // expired on the holder's clock, inside the skew allowance
    w.leases.set("n1", lease(w.records[1 - 1]!, 10_000));
    for (const other of ["n2", "n3"]) w.leases.set(other, lease(w.records.find((r) => r.nodeId === other)!, 20_000));
    expect(plan(w).changed).toBe(false);
    w.nowMs = 10_000 + skewMs + 1;
    const down = plan(w, 0); // the rebalancing limit does not hold back moves off a down node
    expect(down.changed).toBe(true);
    expect(w.map.epoch).toBe(before.epoch + 1);
    expect(w.map.nodes.find((entry) => entry.nodeId === "n1")!.state).toBe("down");
    expect(unitsOfNode(w.map, "n1")).toEqual([]);
    const owners = ownerByUnit(w.map);
    for (const [unit, owner] of ownerByUnit(before)) {
      if (owner === "n1") {
        expect(owners.get(unit)).not.toBe("n1");
      } else {
        expect(owners.get(unit)).toBe(owner);
      }
    }
    // Moved units carry the new epoch; the rest keep the epoch of their assignment.
    for (const entry of w.map.placementGroups) {
      const was = before.placementGroups.find((old) => old.placementGroupId === entry.placementGroupId)!;
      expect(entry.epoch).toBe(was.nodeId === "n1" ? w.map.epoch : was.epoch);
    }
    // PGs go to the node of the first disk of their acting set whose node is up.
    const width = eligibleDiskCount(w.map.placement);
    for (const entry of w.map.placementGroups) {
      const firstUp = actingSet(entry.placementGroupId, w.map.placement, width).find((diskId) => !diskId.startsWith("n1/"))!;
      expect(entry.nodeId).toBe(firstUp.split("/")[0]!);
    }
  });

  test("right after the store was unreachable, lapsed leases are no verdict until a lease period has passed; a new run is one at once", () => {
    const w = world(["n1", "n2", "n3"]);
    plan(w);
    plan(w);
    const before = w.map;
    // Every lease lapsed: nobody could renew while the store was down.
    w.nowMs = 30_000;
    const graceEndMs = 30_000 + leaseMs + skewMs;
    expect(plan(w, 1_000, undefined, graceEndMs).changed).toBe(false);
    expect(w.map).toEqual(before);
    // A node that registered a new run meanwhile is judged at once.
    w.records[2] = node("n3", 2);
    w.leases.set("n3", lease(w.records[2]!, 40_000));
    plan(w, 1_000, undefined, graceEndMs);
    expect(w.map.nodes.map((entry) => `${entry.nodeId}:${entry.state}`)).toEqual(["n1:up", "n2:up", "n3:joining"]);
    // n1 renewed during the grace; n2 did not: after the grace n2 is down, n1 stays up.
    w.leases.set("n1", lease(w.records[0]!, 40_000));
    w.nowMs = graceEndMs;
    plan(w, 1_000, undefined, graceEndMs);
    expect(w.map.nodes.map((entry) => `${entry.nodeId}:${entry.state}`)).toEqual(["n1:up", "n2:down", "n3:up"]);
  });

  test("a partition no longer registered (its bucket was deleted) drops out of the next map", () => {
    const w = world(["n1", "n2", "n3"]);
    plan(w);
    plan(w);
    expect(w.map.partitions.length).toBe(partitions.length);
    const input: FleetPlanInput = {
      previous: w.map,
      nodes: w.records,
      leases: w.leases,
      partitionUnits: partitions.filter((unit) => unit.bucket !== "b1"),
      nowMs: w.nowMs,
      clockSkewMsMax: skewMs,
      rebalanceMovesPerTickMax: 1_000,
      managerTerm: 1,
    };
    const result = planFleetMap(input);
    expect(result.changed).toBe(true);
    expect(result.map.partitions.map((entry) => entry.bucket).sort()).toEqual(partitions.filter((unit) => unit.bucket !== "b1").map((unit) => unit.bucket).sort());
    // Nothing else moved.
    expect(result.map.placementGroups).toEqual(w.map.placementGroups);
  });

  test("a rejoining node gets its units back at most rebalanceMovesPerTickMax per map, ending where it started", () => {
    const w = world(["n1", "n2", "n3", "n4"]);
    plan(w);
    plan(w);
    const original = ownerByUnit(w.map);
    const n1Units = [...original.values()].filter((owner) => owner === "n1").length;
    expect(n1Units).toBeGreaterThan(4);
    w.nowMs = 20_000;
    for (const record of w.records) if (record.nodeId !== "n1") w.leases.set(record.nodeId, lease(record, 100_000));
    plan(w);
    expect(unitsOfNode(w.map, "n1")).toEqual([]);
    // n1 restarts: a new run with a fresh lease.
    w.records[0] = node("n1", 2);
    w.leases.set("n1", lease(w.records[0]!, 100_000));
    plan(w, 2);
    expect(w.map.nodes.find((entry) => entry.nodeId === "n1")).toMatchObject({ state: "joining", incarnation: 2 });
    expect(unitsOfNode(w.map, "n1")).toEqual([]);
    let maps = 0;
    let previousOwners = ownerByUnit(w.map);
    for (;;) {
      const result = plan(w, 2);
      maps += 1;
      const owners = ownerByUnit(w.map);
      const moved = [...owners].filter(([unit, owner]) => previousOwners.get(unit) !== owner).length;
      expect(moved).toBeLessThanOrEqual(2);
      previousOwners = owners;
      if (!result.changed) break;
      expect(maps).toBeLessThan(100);
    }
    expect(ownerByUnit(w.map)).toEqual(original);
    expect(maps).toBeGreaterThanOrEqual(Math.ceil(n1Units / 2));
  });

  test("a fast restart (new incarnation while up) is a death and a join: units move off at once with a new epoch", () => {
    const w = world(["n1", "n2"]);
    plan(w);
    plan(w);
    expect(unitsOfNode(w.map, "n1").length).toBeGreaterThan(0);
    w.records[0] = node("n1", 2);
    w.leases.set("n1", lease(w.records[0]!, 10_000));
    plan(w, 0);
    expect(w.map.nodes.find((entry) => entry.nodeId === "n1")).toMatchObject({ state: "joining", incarnation: 2 });
    expect(unitsOfNode(w.map, "n1")).toEqual([]);
    // A lease of the old run does not count for the new one.
    w.leases.set("n1", { ...lease(w.records[0]!, 10_000), incarnation: 1 });
    plan(w, 0);
    expect(w.map.nodes.find((entry) => entry.nodeId === "n1")!.state).toBe("down");
  });

  test("partitions go to gateway nodes only; PGs prefer storage nodes", () => {
    const w = world([]);
    w.records = [node("s1", 1, ["storage"]), node("s2", 1, ["storage"]), node("g1", 1, ["gateway"], 0)];
    w.leases = new Map(w.records.map((record) => [record.nodeId, lease(record, 10_000)]));
    plan(w);
    plan(w);
    expect(new Set(w.map.partitions.map((entry) => entry.nodeId))).toEqual(new Set(["g1"]));
    expect(new Set(w.map.placementGroups.map((entry) => entry.nodeId))).toEqual(new Set(["s1", "s2"]));
    expect(w.map.placement.hosts.map((host) => host.hostId)).toEqual(["s1", "s2"]);
  });

  test("a v1 map (placement only) is read as a fleet map and written as v2 by the first plan", () => {
    const v1: ClusterMap = { epoch: 3, placementGroupCount: 8, hosts: [{ hostId: "n1", disks: [{ diskId: "n1/d0", weight: 1, state: "in" }] }] };
    const decoded = decodeFleetMap(encodeRecord("clusterMap", 1, v1));
    expect(decoded).toMatchObject({ epoch: 3, managerTerm: 0, nodes: [], placementGroups: [], partitions: [] });
    expect(decoded.placement).toEqual(v1);
    const w: World = { records: [], leases: new Map(), nowMs: 0, map: decoded };
    const result = plan(w);
    expect(result.changed).toBe(true);
    expect(w.map.epoch).toBe(4);
    expect(decodeFleetMap(encodeFleetMap(w.map))).toEqual(w.map);
    expect(() => decodeFleetMap(encodeRecord("clusterMap", 2, { epoch: 1 }))).toThrow();
    expect(() => decodeFleetMap(encodeRecord("clusterMap", 3, v1))).toThrow();
  });

  test("rendezvous: removing a node moves only the keys it held (seeded keys)", () => {
    const seed = 0x6e0de;
    const keys = Array.from({ length: 500 }, (_, index) => `bp/bucket-${(index * seed) % 977}/${index}`);
    const all = ["a", "b", "c", "d", "e"];
    const without = all.filter((nodeId) => nodeId !== "c");
    let held = 0;
    for (const key of keys) {
      const before = rendezvous(key, all)!;
      const after = rendezvous(key, without)!;
      if (before === "c") held += 1;
      else expect(after).toBe(before);
    }
    // Roughly a fifth each: a broken hash would give one node everything.
    expect(held).toBeGreaterThan(50);
    expect(held).toBeLessThan(150);
    expect(rendezvous("x", [])).toBeUndefined();
  });

  test("a disk id already held by another host is refused to the newcomer (reported), not handed to placement twice", () => {
    const w = world(["n1", "n2"]);
    w.records[1] = { ...w.records[1]!, disks: [{ diskId: "n1/d0", weight: 1 }, { diskId: "n2/d1", weight: 1 }] };
    const result = plan(w);
    expect(result.events).toContainEqual({ event: "disk-refused", nodeId: "n2", diskId: "n1/d0", heldBy: "n1" });
    expect(w.map.placement.hosts.map((host) => [host.hostId, host.disks.map((disk) => disk.diskId)])).toEqual([
      ["n1", ["n1/d0", "n1/d1"]],
      ["n2", ["n2/d1"]],
    ]);
    plan(w);
    expect(w.map.placementGroups).toHaveLength(32);
  });

  test("with a fleet acting-set width, owners are the first up disk at that width and a joining node's disks are carried in with pins at it", () => {
    const width = 3;
    const w = world(["n1", "n2", "n3"]);
    plan(w, 1_000, width);
    plan(w, 1_000, width);
    for (const entry of w.map.placementGroups) {
      expect(entry.nodeId).toBe(actingSet(entry.placementGroupId, w.map.placement, width)[0]!.split("/")[0]!);
    }
    const before = w.map.placement;
    w.records.push(node("n4"));
    w.leases.set("n4", lease(w.records[3]!, 10_000));
    plan(w, 1_000, width);
    const after = w.map.placement;
    expect(after.hosts.map((host) => host.hostId)).toEqual(["n1", "n2", "n3", "n4"]);
    expect(after.actingSetPins?.width ?? width).toBe(width);
    // Carried: a PG keeps every position whose disk is still in its set at this width.
    for (let placementGroupId = 0; placementGroupId < 32; placementGroupId += 1) {
      const old = actingSet(placementGroupId, before, width);
      const next = actingSet(placementGroupId, after, width);
      const kept = new Set(next);
      old.forEach((diskId, position) => {
        if (kept.has(diskId)) expect(next[position]).toBe(diskId);
      });
    }
    expect(() => plan(w, 1_000, 0)).toThrow();
  });

  test("a disk marked out leaves every acting set; only the positions it held move, each to one other disk; marking it in again brings it back", () => {
    const width = 4;
    const w = world(["n1", "n2", "n3", "n4"]);
    const none: PlacementDirectives = { outDisks: new Set(), drainingNodes: new Set() };
    plan(w, 1_000, width, undefined, none);
    plan(w, 1_000, width, undefined, none);
    const before = w.map.placement;
    const out: PlacementDirectives = { outDisks: new Set(["n2/d0"]), drainingNodes: new Set() };
    const marked = plan(w, 1_000, width, undefined, out);
    expect(marked.changed).toBe(true);
    expect(marked.events).toContainEqual({ event: "disk-state", diskId: "n2/d0", from: "in", to: "out" });
    const after = w.map.placement;
    expect(after.hosts.find((host) => host.hostId === "n2")!.disks.find((disk) => disk.diskId === "n2/d0")!.state).toBe("out");
    let moved = 0;
    for (let placementGroupId = 0; placementGroupId < 32; placementGroupId += 1) {
      const old = actingSet(placementGroupId, before, width);
      const next = actingSet(placementGroupId, after, width);
      expect(next).not.toContain("n2/d0");
      old.forEach((diskId, position) => {
        if (diskId === "n2/d0") {
          moved += 1;
          expect(old).not.toContain(next[position]!); // the position went to a disk new to the set
        } else {
          expect(next[position]).toBe(diskId); // every other position stays
        }
      });
    }
    expect(moved).toBeGreaterThan(0);
    // Nothing else changes while the directive stands.
    expect(plan(w, 1_000, width, undefined, out).changed).toBe(false);
    const back = plan(w, 1_000, width, undefined, none);
    expect(back.events).toContainEqual({ event: "disk-state", diskId: "n2/d0", from: "out", to: "in" });
    for (let placementGroupId = 0; placementGroupId < 32; placementGroupId += 1) {
      const next = actingSet(placementGroupId, w.map.placement, width);
      const old = actingSet(placementGroupId, after, width);
      // Back in: positions move only onto the returning disk.
      old.forEach((diskId, position) => {
        if (next[position] !== diskId) expect(next[position]).toBe("n2/d0");
      });
    }
  });

  test("a draining node has every disk out, is no unit's target, and its units move off at the rebalancing pace; cancelling keeps it eligible again", () => {
    const width = 4;
    const w = world(["n1", "n2", "n3", "n4"]);
    const none: PlacementDirectives = { outDisks: new Set(), drainingNodes: new Set() };
    plan(w, 1_000, width, undefined, none);
    plan(w, 1_000, width, undefined, none);
    const held = unitsOfNode(w.map, "n3").length;
    expect(held).toBeGreaterThan(2);
    const drain: PlacementDirectives = { outDisks: new Set(), drainingNodes: new Set(["n3"]) };
    const first = plan(w, 2, width, undefined, drain);
    expect(first.events).toContainEqual({ event: "node-drain", nodeId: "n3", draining: true });
    const n3 = w.map.nodes.find((entry) => entry.nodeId === "n3")!;
    expect(n3.draining).toBe(true);
    expect(n3.state).toBe("up");
    expect(w.map.placement.hosts.find((host) => host.hostId === "n3")!.disks.every((disk) => disk.state === "out")).toBe(true);
    for (let placementGroupId = 0; placementGroupId < 32; placementGroupId += 1) {
      expect(actingSet(placementGroupId, w.map.placement, width).some((diskId) => diskId.startsWith("n3/"))).toBe(false);
    }
    // Paced: two moves per map, all of them off n3 (their reason is "drain").
    const drained = first.events.filter((event) => event.event === "unit-assigned" && event.reason === "drain");
    expect(drained.length).toBe(2);
    expect(unitsOfNode(w.map, "n3").length).toBe(held - 2);
    for (let round = 0; round < 100 && unitsOfNode(w.map, "n3").length > 0; round += 1) plan(w, 2, width, undefined, drain);
    expect(unitsOfNode(w.map, "n3")).toEqual([]);
    // The node stays in the fleet, up, still draining; nothing changes any more.
    expect(plan(w, 2, width, undefined, drain).changed).toBe(false);
    const cancel = plan(w, 1_000, width, undefined, none);
    expect(cancel.events).toContainEqual({ event: "node-drain", nodeId: "n3", draining: false });
    expect(w.map.nodes.find((entry) => entry.nodeId === "n3")!.draining).toBeUndefined();
    expect(w.map.placement.hosts.find((host) => host.hostId === "n3")!.disks.every((disk) => disk.state === "in")).toBe(true);
  });

  test("without directives in the input, disk states and drains are kept from the previous map", () => {
    const width = 4;
    const w = world(["n1", "n2", "n3", "n4"]);
    plan(w, 1_000, width);
    plan(w, 1_000, width, undefined, { outDisks: new Set(["n1/d1"]), drainingNodes: new Set(["n4"]) });
    plan(w, 1_000, width);
    expect(w.map.placement.hosts.find((host) => host.hostId === "n1")!.disks.find((disk) => disk.diskId === "n1/d1")!.state).toBe("out");
    expect(w.map.nodes.find((entry) => entry.nodeId === "n4")!.draining).toBe(true);
  });
});
