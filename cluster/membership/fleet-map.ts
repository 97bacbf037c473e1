/**
 * The fleet map (clusterMap v2, `records.ts`) and the ClusterManager's one
 * decision: given the previous map, the registered nodes, their leases and
 * the registered bucket partitions, what is the next map. `planFleetMap` is
 * pure, so every rule below is tested without actors, stores or clocks.
 *
 * Rules (ARCHITECTURE §2, §7):
 * - Node state: a node whose lease has lapsed (after the skew allowance) or
 *   whose lease names another run is `down`; an alive node that is new,
 *   was down, or came back as a new run (incarnation) is `joining` for one
 *   map, then `up`. Only `up` nodes receive units.
 * - A PG's target is the node of the first disk of its acting set whose node
 *   is up (storage role); with none, rendezvous hashing over up storage nodes.
 *   Disks of a down node stay `in` (down is not out: Ceph's distinction), so
 *   acting sets do not move just because a node is away.
 * - A bucket partition's target: rendezvous hashing over up gateway nodes.
 * - A unit whose node is not up (or that has no node) moves to its target at
 *   once. A unit on an up node that is not its target (a node joined) moves
 *   too, but at most `rebalanceMovesPerTickMax` such moves per map.
 * - Any change bumps the epoch by one; each unit assigned in this map carries
 *   the new epoch, which is what its owner claims (`unit-owner.ts`).
 */
import { assert, fault, type Fault } from "../../runtime/index.ts";
import {
  bucketKey,
  clusterMapKey,
  metaLimits,
  partitionUnitFromStoredKey,
  partitionUnitKey,
  partitionUnitRange,
  type MetaTransaction,
} from "../metadata/index.ts";
import { actingSetWidthMax, allActingSets, carryActingSets, eligibleDiskCount, placementVersionCurrent, type ClusterMap, type PlacementHost } from "../placement/index.ts";
import { checkManagerTerm, leaseLapsed } from "./leases.ts";
import {
  decodeFleetMap,
  encodeFleetMap,
  encodePartitionUnit,
  type FleetMap,
  type FleetNode,
  type NodeLease,
  type NodeRecord,
  type PartitionAssignment,
  type PlacementGroupAssignment,
} from "./records.ts";
import { unitText, type Unit } from "./unit-owner.ts";

/** Most bucket partitions the fleet map holds; with PGs they must fit one 100 KB value (FDB's limit). */
export const partitionUnitsMax = 1024;

export interface PartitionUnit {
  readonly bucket: string;
  readonly partition: number;
}

/** The stored fleet map (any version), if there is one. */
export async function readFleetMap(tx: MetaTransaction): Promise<FleetMap | undefined> {
  const bytes = await tx.get(clusterMapKey());
  return bytes === undefined ? undefined : decodeFleetMap(bytes);
}

/**
 * Writes `map` on behalf of the manager of `term`, checked in the same
 * transaction: Fenced when the term is over. A map whose epoch does not grow
 * is a bug of the (single) manager of the term.
 */
export async function writeFleetMap(tx: MetaTransaction, term: number, map: FleetMap): Promise<Fault | undefined> {
  const fenced = await checkManagerTerm(tx, term);
  if (fenced !== undefined) return fenced;
  const stored = await readFleetMap(tx);
  assert(stored === undefined || map.epoch > stored.epoch, `writeFleetMap: epoch ${map.epoch} does not follow stored epoch ${stored?.epoch}`);
  assert(map.placement.epoch === map.epoch, "writeFleetMap: placement epoch must equal the map epoch");
  const encoded = encodeFleetMap(map);
  // The map is one value; past FDB's value limit the assignments must be split across keys, which is not built.
  assert(encoded.length <= metaLimits.valueBytesMax, `writeFleetMap: the map is ${encoded.length} bytes, over the ${metaLimits.valueBytesMax}-byte value limit`);
  tx.set(clusterMapKey(), encoded);
  return undefined;
}

/** Registers bucket partitions for assignment (idempotent). Overloaded when the fleet would hold more than `partitionUnitsMax`. */
export async function registerPartitionUnits(tx: MetaTransaction, units: readonly PartitionUnit[], nowMs: number): Promise<Fault | undefined> {
  const known = await readPartitionUnits(tx);
  const knownText = new Set(known.map((unit) => unitText({ kind: "bucketPartition", ...unit })));
  const fresh = units.filter((unit) => !knownText.has(unitText({ kind: "bucketPartition", ...unit })));
  if (known.length + fresh.length > partitionUnitsMax) {
    return fault("Overloaded", `${known.length} + ${fresh.length} bucket partitions exceed ${partitionUnitsMax}`);
  }
  for (const unit of fresh) {
    assert(Number.isSafeInteger(unit.partition) && unit.partition >= 0 && unit.bucket.length > 0, `registerPartitionUnits: bad unit ${JSON.stringify(unit)}`);
    tx.set(partitionUnitKey(unit.bucket, unit.partition), encodePartitionUnit({ registeredAtMs: nowMs }));
  }
  return undefined;
}

/**
 * Forgets a deleted bucket's partitions: the next map drops their
 * assignments and their actors are stopped. Done only while the bucket does
 * not exist, in the same transaction, so a bucket created again at once
 * keeps its registration (CreateBucket registers again anyway). Returns
 * whether anything was removed.
 */
export async function unregisterPartitionUnits(tx: MetaTransaction, bucket: string, partitionCount: number): Promise<boolean> {
  if ((await tx.get(bucketKey(bucket))) !== undefined) return false;
  let removed = false;
  for (let partition = 0; partition < partitionCount; partition += 1) {
    const key = partitionUnitKey(bucket, partition);
    if ((await tx.get(key)) === undefined) continue;
    tx.clear(key);
    removed = true;
  }
  return removed;
}

/** Every registered bucket partition, in (bucket, partition) order. */
export async function readPartitionUnits(tx: MetaTransaction): Promise<PartitionUnit[]> {
  const range = partitionUnitRange();
  // One more than the bound: a store holding more was not filled by this code.
  const pairs = await tx.getRange(range.begin, range.end, { limit: partitionUnitsMax + 1 });
  assert(pairs.length <= partitionUnitsMax, `more than ${partitionUnitsMax} bucket partitions registered`);
  return pairs.map((pair) => partitionUnitFromStoredKey(pair.key));
}

/** The operator's directives in force (operator-directives.ts): disks marked out, nodes draining. */
export interface PlacementDirectives {
  readonly outDisks: ReadonlySet<string>;
  readonly drainingNodes: ReadonlySet<string>;
}

/** Placement hosts with the directives applied: a disk out, or on a draining host, has state `out`; every other disk `in`. */
export function hostsUnderDirectives(hosts: readonly PlacementHost[], directives: PlacementDirectives): PlacementHost[] {
  return hosts.map((host) => ({
    ...host,
    disks: host.disks.map((disk) => ({ ...disk, state: directives.outDisks.has(disk.diskId) || directives.drainingNodes.has(host.hostId) ? ("out" as const) : ("in" as const) })),
  }));
}

/** An empty fleet map for a new fleet. */
export function emptyFleetMap(placementGroupCount: number): FleetMap {
  // A new fleet places by the current algorithm; the map keeps it for life.
  const placement: ClusterMap = { epoch: 0, placementGroupCount, placementVersion: placementVersionCurrent, hosts: [] };
  return { epoch: 0, managerTerm: 0, nodes: [], placement, placementGroups: [], partitions: [] };
}

/** Which node a unit is assigned to in `map`, and at which epoch. */
export function assignmentOf(map: FleetMap, unit: Unit): { readonly nodeId: string; readonly epoch: number } | undefined {
  if (unit.kind === "placementGroup") return map.placementGroups.find((entry) => entry.placementGroupId === unit.placementGroupId);
  return map.partitions.find((entry) => entry.bucket === unit.bucket && entry.partition === unit.partition);
}

/** Every unit assigned to `nodeId` in `map`, with the epoch of its assignment. */
export function unitsOfNode(map: FleetMap, nodeId: string): { readonly unit: Unit; readonly epoch: number }[] {
  const units: { unit: Unit; epoch: number }[] = [];
  for (const entry of map.placementGroups) {
    if (entry.nodeId === nodeId) units.push({ unit: { kind: "placementGroup", placementGroupId: entry.placementGroupId }, epoch: entry.epoch });
  }
  for (const entry of map.partitions) {
    if (entry.nodeId === nodeId) units.push({ unit: { kind: "bucketPartition", bucket: entry.bucket, partition: entry.partition }, epoch: entry.epoch });
  }
  return units;
}

export interface FleetPlanInput {
  readonly previous: FleetMap;
  readonly nodes: readonly NodeRecord[];
  readonly leases: ReadonlyMap<string, NodeLease>;
  readonly partitionUnits: readonly PartitionUnit[];
  readonly nowMs: number;
  readonly clockSkewMsMax: number;
  readonly rebalanceMovesPerTickMax: number;
  readonly managerTerm: number;
  /**
   * Before this time a lapsed lease of a node that was alive in the previous
   * map is not yet a verdict: the node keeps its state. The manager sets it
   * to a node lease period (plus skew) after the metadata store became
   * reachable to it, because while the store is down nobody can renew and
   * every lease lapses; right after, the lapses say nothing about the
   * nodes. Absent: lapses are verdicts at once.
   */
  readonly lapseVerdictsFromMs?: number;
  /**
   * The acting-set width the fleet stores shards at (its widest storage
   * class). PG owners are the first disk of the set at this width, and pins
   * are carried at it. Absent: the width of the map's pins, else every
   * eligible disk up to 32 (the one-node server's rule).
   */
  readonly actingSetWidth?: number;
  /**
   * The operator's directives (operator-directives.ts): a disk's state is
   * `out` when it is marked out or its node drains, else `in`; a draining
   * node gets the `draining` flag and no units. Absent: every disk keeps the
   * state the previous map gave it and no node drains.
   */
  readonly directives?: PlacementDirectives;
}

/** Something the plan decided, for the manager's log. */
export type FleetPlanEvent =
  | { readonly event: "node-state"; readonly nodeId: string; readonly incarnation: number; readonly from: string; readonly to: string }
  | { readonly event: "unit-assigned"; readonly unit: string; readonly from: string | undefined; readonly to: string; readonly reason: "unassigned" | "owner-not-up" | "rebalance" | "drain" }
  | { readonly event: "disk-refused"; readonly nodeId: string; readonly diskId: string; readonly heldBy: string }
  | { readonly event: "node-drain"; readonly nodeId: string; readonly draining: boolean }
  | { readonly event: "disk-state"; readonly diskId: string; readonly from: "in" | "out"; readonly to: "in" | "out" };

export interface FleetPlan {
  /** The next map; equal to `previous` when nothing changed. */
  readonly map: FleetMap;
  readonly changed: boolean;
  readonly events: readonly FleetPlanEvent[];
  /** Rebalancing moves left for later maps by the per-map limit. */
  readonly movesDeferred: number;
}

/** Computes the next fleet map (rules at the top of this file). */
export function planFleetMap(input: FleetPlanInput): FleetPlan {
  assert(input.rebalanceMovesPerTickMax >= 0, "planFleetMap: rebalanceMovesPerTickMax must be >= 0");
  const previous = input.previous;
  const events: FleetPlanEvent[] = [];
  const nextEpoch = previous.epoch + 1;

  const nodes = nextNodes(input, events);
  const nodesChanged = !sameJson(nodes, previous.nodes);
  const hostsKept = nextHosts(previous.placement, input.nodes, events);
  const hosts = input.directives === undefined ? hostsKept : hostsUnderDirectives(hostsKept, input.directives);
  const stateBefore = new Map(previous.placement.hosts.flatMap((host) => host.disks.map((disk) => [disk.diskId, disk.state] as const)));
  for (const host of hosts) {
    for (const disk of host.disks) {
      const from = stateBefore.get(disk.diskId);
      if (from !== undefined && from !== disk.state) events.push({ event: "disk-state", diskId: disk.diskId, from, to: disk.state });
    }
  }
  const hostsChanged = !sameJson(hosts, sortedHosts(previous.placement.hosts));
  assert(input.actingSetWidth === undefined || (Number.isSafeInteger(input.actingSetWidth) && input.actingSetWidth >= 1 && input.actingSetWidth <= actingSetWidthMax), `planFleetMap: actingSetWidth must be 1..${actingSetWidthMax}, got ${input.actingSetWidth}`);
  const placement = hostsChanged ? nextPlacement(previous.placement, hosts, input.actingSetWidth) : previous.placement;

  const up = new Set(nodes.filter((node) => node.state === "up").map((node) => node.nodeId));
  // A draining node is up (it serves, and its units may stay until moved) but no unit's target.
  const upWithRole = (role: "storage" | "gateway"): string[] =>
    nodes.filter((node) => node.state === "up" && node.draining !== true && node.roles.includes(role)).map((node) => node.nodeId);
  const draining = new Set(nodes.filter((node) => node.draining === true).map((node) => node.nodeId));
  const storageUp = upWithRole("storage");
  const gatewayUp = upWithRole("gateway");
  const storageUpSet = new Set(storageUp);

  const diskHost = new Map<string, string>();
  for (const host of placement.hosts) for (const disk of host.disks) diskHost.set(disk.diskId, host.hostId);
  // Only the first disks matter here. Pins are honoured at their own width;
  // a map whose pins cannot apply is read unpinned rather than refused, and a
  // fleet with fewer eligible disks than its width uses what it has.
  const eligible = eligibleDiskCount(placement);
  const { actingSetPins: pins, ...unpinned } = placement;
  const widthWanted = input.actingSetWidth ?? (pins !== undefined && pins.width <= eligible ? pins.width : actingSetWidthMax);
  const width = Math.min(widthWanted, eligible);
  const actingSets = width > 0 ? actingSetsOf(pins?.width === width ? placement : unpinned, width) : [];

  interface Candidate {
    readonly unit: Unit;
    readonly current: { readonly nodeId: string; readonly epoch: number } | undefined;
    readonly target: string | undefined;
  }
  const candidates: Candidate[] = [];
  const previousPlacementGroups = new Map(previous.placementGroups.map((entry) => [entry.placementGroupId, entry]));
  for (let placementGroupId = 0; placementGroupId < placement.placementGroupCount; placementGroupId += 1) {
    const unit: Unit = { kind: "placementGroup", placementGroupId };
    const fromDisks = (actingSets[placementGroupId] ?? []).map((diskId) => diskHost.get(diskId)).find((nodeId) => nodeId !== undefined && storageUpSet.has(nodeId));
    candidates.push({ unit, current: previousPlacementGroups.get(placementGroupId), target: fromDisks ?? rendezvous(unitText(unit), storageUp) });
  }
  const previousPartitions = new Map(previous.partitions.map((entry) => [unitText({ kind: "bucketPartition", ...entry }), entry]));
  const partitionUnits = [...input.partitionUnits].sort(comparePartitions);
  for (const partitionUnit of partitionUnits) {
    const unit: Unit = { kind: "bucketPartition", bucket: partitionUnit.bucket, partition: partitionUnit.partition };
    const text = unitText(unit);
    candidates.push({ unit, current: previousPartitions.get(text), target: rendezvous(text, gatewayUp) });
  }

  let movesLeft = input.rebalanceMovesPerTickMax;
  let movesDeferred = 0;
  const placementGroups: PlacementGroupAssignment[] = [];
  const partitions: PartitionAssignment[] = [];
  let assignmentsChanged = false;
  for (const candidate of candidates) {
    let assignment = candidate.current;
    const target = candidate.target;
    if (target !== undefined && assignment?.nodeId !== target) {
      const ownerUp = assignment !== undefined && up.has(assignment.nodeId);
      const reason = assignment === undefined ? "unassigned" : !ownerUp ? "owner-not-up" : draining.has(assignment.nodeId) ? "drain" : "rebalance";
      // Moving a unit off a live owner interrupts it: such moves (rebalancing, draining) are paced.
      const paced = reason === "rebalance" || reason === "drain";
      if (!paced || movesLeft > 0) {
        if (paced) movesLeft -= 1;
        events.push({ event: "unit-assigned", unit: unitText(candidate.unit), from: assignment?.nodeId, to: target, reason });
        assignment = { nodeId: target, epoch: nextEpoch };
        assignmentsChanged = true;
      } else {
        movesDeferred += 1;
      }
    }
    if (assignment === undefined) continue;
    if (candidate.unit.kind === "placementGroup") {
      placementGroups.push({ placementGroupId: candidate.unit.placementGroupId, nodeId: assignment.nodeId, epoch: assignment.epoch });
    } else {
      partitions.push({ bucket: candidate.unit.bucket, partition: candidate.unit.partition, nodeId: assignment.nodeId, epoch: assignment.epoch });
    }
  }

  // A unit no longer registered (its bucket was deleted) drops out of the map,
  // and its owner stops it when the node's agent applies the map.
  if (partitions.length !== previous.partitions.length) assignmentsChanged = true;
  // A map converted from v1 (term 0) is written once even if nothing else changed, so the store holds v2 from then on.
  const changed = nodesChanged || hostsChanged || assignmentsChanged || previous.managerTerm === 0;
  if (!changed) return { map: previous, changed: false, events, movesDeferred };
  const map: FleetMap = {
    epoch: nextEpoch,
    managerTerm: input.managerTerm,
    nodes,
    placement: { ...placement, epoch: nextEpoch },
    placementGroups,
    partitions,
  };
  return { map, changed: true, events, movesDeferred };
}

function nextNodes(input: FleetPlanInput, events: FleetPlanEvent[]): FleetNode[] {
  const previousById = new Map(input.previous.nodes.map((node) => [node.nodeId, node]));
  const nodes: FleetNode[] = [];
  for (const record of input.nodes) {
    const lease = input.leases.get(record.nodeId);
    const before = previousById.get(record.nodeId);
    const ownLease = lease !== undefined && lease.incarnation === record.incarnation;
    const lapsed = ownLease && leaseLapsed(lease, input.nowMs, input.clockSkewMsMax);
    const inGrace = input.lapseVerdictsFromMs !== undefined && input.nowMs < input.lapseVerdictsFromMs;
    // A run the previous map had alive keeps its state through the grace; a
    // lease naming another run is a verdict at once (the node restarted).
    const graced = lapsed && inGrace && before !== undefined && before.incarnation === record.incarnation && before.state !== "down";
    const alive = ownLease && (!lapsed || graced);
    previousById.delete(record.nodeId);
    const sameRun = before !== undefined && before.incarnation === record.incarnation;
    let state: FleetNode["state"];
    if (!alive) state = "down";
    else if (sameRun && before.state !== "down") state = "up"; // joining → up after one map; up stays up
    else state = "joining";
    // A new run replacing an up one without a lapse in between (a fast
    // restart) is the old run's death and a join: its units must move with
    // a new epoch, since the new run cannot claim the old run's epoch.
    const drains = input.directives === undefined ? before?.draining === true : input.directives.drainingNodes.has(record.nodeId);
    const node: FleetNode = { nodeId: record.nodeId, address: record.address, roles: [...record.roles], incarnation: record.incarnation, state, ...(drains ? { draining: true as const } : {}) };
    if (before === undefined || before.state !== state || before.incarnation !== record.incarnation) {
      events.push({ event: "node-state", nodeId: record.nodeId, incarnation: record.incarnation, from: before === undefined ? "absent" : `${before.state}#${before.incarnation}`, to: state });
    }
    if ((before?.draining === true) !== drains) events.push({ event: "node-drain", nodeId: record.nodeId, draining: drains });
    nodes.push(node);
  }
  // Node records are never cleared; a node in the map without one is kept as it was (its drain follows the directives).
  for (const leftover of previousById.values()) {
    const { draining: _was, ...rest } = leftover;
    const drains = input.directives === undefined ? leftover.draining === true : input.directives.drainingNodes.has(leftover.nodeId);
    nodes.push(drains ? { ...rest, draining: true } : rest);
  }
  return nodes.sort((a, b) => compareText(a.nodeId, b.nodeId));
}

/**
 * Placement hosts: every storage node's registered disks (keeping each
 * disk's in/out state), plus hosts of the previous map with no node record
 * (a v1 map's hosts keep their data until an operator removes them).
 *
 * Disk ids are unique across the fleet. A node that registers a disk id
 * another host already has (a misconfiguration: one-node servers name disks
 * `disk-<n>`) is refused that disk, reported as an event, rather than
 * handing placement a map it must reject: one bad node must not stop the
 * manager of the whole fleet. The first holder, in nodeId order, keeps it.
 */
function nextHosts(previous: ClusterMap, records: readonly NodeRecord[], events: FleetPlanEvent[]): PlacementHost[] {
  const hosts = new Map(previous.hosts.map((host) => [host.hostId, host]));
  const holderOf = (diskId: string, except: string): string | undefined => {
    for (const host of hosts.values()) if (host.hostId !== except && host.disks.some((disk) => disk.diskId === diskId)) return host.hostId;
    return undefined;
  };
  for (const record of [...records].sort((a, b) => compareText(a.nodeId, b.nodeId))) {
    if (!record.roles.includes("storage") || record.disks.length === 0) continue;
    const before = hosts.get(record.nodeId);
    const stateOf = new Map((before?.disks ?? []).map((disk) => [disk.diskId, disk.state]));
    const disks = record.disks
      .filter((disk) => {
        const heldBy = holderOf(disk.diskId, record.nodeId);
        if (heldBy !== undefined) events.push({ event: "disk-refused", nodeId: record.nodeId, diskId: disk.diskId, heldBy });
        return heldBy === undefined;
      })
      .map((disk) => ({ diskId: disk.diskId, weight: disk.weight, state: stateOf.get(disk.diskId) ?? ("in" as const) }))
      .sort((a, b) => compareText(a.diskId, b.diskId));
    if (disks.length === 0) continue;
    hosts.set(record.nodeId, { ...before, hostId: record.nodeId, disks });
  }
  return sortedHosts([...hosts.values()]);
}

// Acting sets over a wide fleet are costly (straw2 over every disk for every
// position: about 300 ms for 128 PGs at width 32 over 256 disks) and change
// only when hosts, disks or pins do, not at every tick, so the last answer is
// kept. The key leaves the epoch out: a new epoch alone moves nothing.
let actingSetsMemo: { readonly key: string; readonly sets: readonly (readonly string[])[] } | undefined;

function actingSetsOf(map: ClusterMap, width: number): readonly (readonly string[])[] {
  const key = `${width}:${JSON.stringify({ ...map, epoch: 0 })}`;
  if (actingSetsMemo?.key !== key) actingSetsMemo = { key, sets: allActingSets(map, width) };
  return actingSetsMemo.sets;
}

/**
 * The placement map with new hosts. Shards already stored stay where they
 * are: `carryActingSets` pins every PG's positions at the width in use (the
 * fleet's width when given, else the previous pins' width, else every
 * eligible disk up to 32, as the one-node server stores). When that width
 * cannot be placed before or after, there is nothing stored at it to keep and
 * the map goes unpinned.
 */
function nextPlacement(previous: ClusterMap, hosts: PlacementHost[], fleetWidth: number | undefined): ClusterMap {
  const { actingSetPins: _previousPins, ...unpinned } = previous;
  const next: ClusterMap = { ...unpinned, hosts };
  const width = fleetWidth ?? previous.actingSetPins?.width ?? Math.min(actingSetWidthMax, eligibleDiskCount(previous));
  if (width === 0 || eligibleDiskCount(previous) < width || eligibleDiskCount(next) < width) return next;
  return carryActingSets(previous, next, width);
}

function sortedHosts(hosts: readonly PlacementHost[]): PlacementHost[] {
  return [...hosts]
    .map((host) => ({ ...host, disks: [...host.disks].sort((a, b) => compareText(a.diskId, b.diskId)) }))
    .sort((a, b) => compareText(a.hostId, b.hostId));
}

/**
 * Highest-random-weight (rendezvous) choice of a node for `key`: each node
 * draws a hash of (key, node) and the highest wins, so adding or removing a
 * node moves only the keys it wins or held.
 */
export function rendezvous(key: string, nodeIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const nodeId of nodeIds) {
    const score = hash32(`${key}\u0000${nodeId}`);
    if (score > bestScore || (score === bestScore && best !== undefined && compareText(nodeId, best) < 0)) {
      best = nodeId;
      bestScore = score;
    }
  }
  return best;
}

const encoder = new TextEncoder();

/** FNV-1a over UTF-8, then murmur3's finaliser so that near keys spread. */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePartitions(a: PartitionUnit, b: PartitionUnit): number {
  return compareText(a.bucket, b.bucket) || a.partition - b.partition;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
