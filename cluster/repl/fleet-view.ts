/**
 * What several commands read: the placement groups' health, the disks'
 * stats, every node's operator view. Asked of the actors themselves over
 * the transport, a bounded number at a time.
 */
import { diskActorPath } from "../../actors/disk/index.ts";
import type { DiskMessage, StatDiskReply } from "../../actors/disk/protocol.ts";
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { StatOperatorNodeReply } from "../../actors/operator/protocol.ts";
import { placementGroupActorPath } from "../../actors/placement-group/index.ts";
import type { PlacementGroupMessage, StatPlacementGroupReply } from "../../actors/placement-group/protocol.ts";
import { isFault, mapBounded, type Fault } from "../../runtime/index.ts";
import type { FleetMap } from "../membership/index.ts";
import type { ReplSession } from "./session.ts";

/** Asks in flight at once per command, so a wide fleet is not flooded by one `pg.list`. */
export const asksInFlightMax = 32;

/**
 * A PG's state as the REPL names it:
 * - `clean`: its actor answers, every acting-set disk is `in` on an `up` node, nothing to heal;
 * - `backfilling`: its acting set changed (a disk out or in, a node joined or drained) and the PG has not yet had
 *   every shard on the new set: shards are being copied to the new members; the former ones still hold theirs;
 * - `healing`: the heal list holds shards;
 * - `degraded`: an acting-set disk is `out` or on a node that is not `up`;
 * - `unresponsive`: its actor did not answer (stopped, starting, or its node is down);
 * - `unassigned`: the map gives it no node.
 */
export type PlacementGroupState = "clean" | "backfilling" | "healing" | "degraded" | "unresponsive" | "unassigned";

export interface PlacementGroupView {
  readonly placementGroupId: number;
  readonly nodeId: string | undefined;
  readonly epoch: number | undefined;
  readonly state: PlacementGroupState;
  readonly stat: StatPlacementGroupReply | undefined;
  /** Why it is unresponsive, when it is. */
  readonly fault: Fault | undefined;
  /** Acting-set disks that are not usable now. */
  readonly unusableDisks: readonly string[];
}


/** Disk ids usable now: `in` with weight > 0 on a node the map has `up`. */
export function usableDisks(map: FleetMap): Set<string> {
  const up = new Set(map.nodes.filter((node) => node.state === "up").map((node) => node.nodeId));
  const usable = new Set<string>();
  for (const host of map.placement.hosts) for (const disk of host.disks) if (up.has(host.hostId) && disk.state === "in" && disk.weight > 0) usable.add(disk.diskId);
  return usable;
}

/** The views of `placementGroupIds` (every PG of the map when absent). */
export async function placementGroupViews(session: ReplSession, map: FleetMap, placementGroupIds?: readonly number[]): Promise<PlacementGroupView[]> {
  const ids = placementGroupIds ?? Array.from({ length: map.placement.placementGroupCount }, (_, id) => id);
  const assignments = new Map(map.placementGroups.map((entry) => [entry.placementGroupId, entry]));
  const usable = usableDisks(map);
  const liveNodes = new Set(map.nodes.filter((node) => node.state !== "down").map((node) => node.nodeId));
  return mapBounded(ids, asksInFlightMax, async (placementGroupId): Promise<PlacementGroupView> => {
    const assignment = assignments.get(placementGroupId);
    const base = { placementGroupId, nodeId: assignment?.nodeId, epoch: assignment?.epoch, stat: undefined, fault: undefined, unusableDisks: [] };
    if (assignment === undefined) return { ...base, state: "unassigned" };
    if (!liveNodes.has(assignment.nodeId)) return { ...base, state: "unresponsive", fault: { fault: "Unreachable", detail: `node ${assignment.nodeId} is down` } };
    const reply = await session.tryAsk<PlacementGroupMessage, StatPlacementGroupReply>(
      session.refOn(map, assignment.nodeId, placementGroupActorPath(placementGroupId)),
      // The map's epoch, not the assignment's: a PG told of a new acting set moved to that map's epoch and fences older asks.
      (replyTo) => ({ kind: "StatPlacementGroup", epoch: map.epoch, replyTo }),
    );
    if (isFault(reply)) return { ...base, state: "unresponsive", fault: reply };
    const unusableDisks = reply.diskIds.filter((diskId) => !usable.has(diskId));
    const complete = reply.completeDiskIds;
    const backfilling = complete !== undefined && complete !== null && complete.join(",") !== reply.diskIds.join(",");
    const state: PlacementGroupState = unusableDisks.length > 0 ? "degraded" : backfilling ? "backfilling" : reply.damagedShardCount > 0 ? "healing" : "clean";
    return { ...base, state, stat: reply, unusableDisks };
  });
}

export interface DiskView {
  readonly diskId: string;
  readonly nodeId: string;
  readonly state: "in" | "out";
  readonly weight: number;
  readonly nodeState: string;
  readonly stat: StatDiskReply | Fault;
}

/** Every disk of the map with its actor's StatDisk (a fault for a disk whose node is down or that did not answer). */
export async function diskViews(session: ReplSession, map: FleetMap): Promise<DiskView[]> {
  const nodeState = new Map(map.nodes.map((node) => [node.nodeId, node.state]));
  const disks = map.placement.hosts.flatMap((host) => host.disks.map((disk) => ({ ...disk, nodeId: host.hostId })));
  return mapBounded(disks, asksInFlightMax, async (disk): Promise<DiskView> => {
    const state = nodeState.get(disk.nodeId) ?? "absent";
    const stat: StatDiskReply | Fault =
      state === "down" || state === "absent"
        ? { fault: "Unreachable", detail: `node ${disk.nodeId} is ${state}` }
        : await session.tryAsk<DiskMessage, StatDiskReply>(session.refOn(map, disk.nodeId, diskActorPath(disk.diskId)), (replyTo) => ({ kind: "StatDisk", replyTo }));
    return { diskId: disk.diskId, nodeId: disk.nodeId, state: disk.state, weight: disk.weight, nodeState: state, stat };
  });
}

/** Every node's operator view (a fault for a node that is down or did not answer). */
export async function operatorViews(session: ReplSession, map: FleetMap, nodeIds?: readonly string[]): Promise<{ nodeId: string; view: StatOperatorNodeReply | Fault }[]> {
  const nodes = map.nodes.filter((node) => nodeIds === undefined || nodeIds.includes(node.nodeId));
  return mapBounded(nodes, asksInFlightMax, async (node) => ({
    nodeId: node.nodeId,
    view:
      node.state === "down"
        ? { fault: "Unreachable" as const, detail: `node ${node.nodeId} is down` }
        : await session.tryAsk<OperatorMessage, StatOperatorNodeReply>(session.refOn(map, node.nodeId, operatorActorPath), (replyTo) => ({ kind: "StatOperatorNode", replyTo })),
  }));
}

/** `12 (unreachable)`-style cell for a fault. */
export function faultCell(value: Fault): string {
  return value.fault.toLowerCase();
}
