/**
 * An operator's placement directives: a disk marked out (`disk.out`), a node
 * drained (`node.drain`). They are records in the metadata store, not edits
 * of the map, because only the ClusterManager writes the map (one writer per
 * term): the operator endpoint of any node writes a directive, and the
 * manager's next tick folds every directive into the next map
 * (`planFleetMap`). Clearing the record (`disk.in`, `node.drain --cancel`)
 * undoes it the same way.
 *
 * What a directive does to the map:
 * - A disk out has state `out`: placement gives it no shard, so every PG
 *   that had it loses it from its acting set and the next-best disk takes
 *   its position (`carryActingSets`). The PG then backfills: shards are
 *   copied from the out disk while it still answers, rebuilt from the others
 *   when it does not, and deleted from it once the new set is complete.
 * - A draining node has every disk out and is given no PG or partition
 *   (its units move to other nodes, at the map's rebalancing pace). It stays
 *   in the fleet and keeps serving S3 requests as a gateway.
 *
 * A directive that would leave fewer eligible disks than the fleet's
 * acting-set width is refused: placement could no longer place a shard.
 */
import { operatorDirectiveFromStoredKey, operatorDirectiveKey, operatorDirectiveRange, type MetaTransaction } from "../metadata/index.ts";
import type { ClusterMap } from "../placement/index.ts";
import { allActingSets, eligibleDiskCount } from "../placement/index.ts";
import { hostsUnderDirectives, readFleetMap, type PlacementDirectives } from "./fleet-map.ts";
import { decodeOperatorDirective, encodeOperatorDirective } from "./records.ts";

/** Most directives the store holds: every disk of a full fleet and every node. */
export const operatorDirectivesMax = 8_192;

export interface DirectiveOutcome {
  /** `applied`: written (the next map follows it); `unchanged`: already so; `refused`/`unknown`: nothing written. */
  readonly outcome: "applied" | "unchanged" | "refused" | "unknown";
  readonly detail: string;
  /** When applied: the PGs whose acting set holds an affected disk now (they backfill once the next map is out). */
  readonly placementGroups?: number[];
}

/** Every directive in force. */
export async function readPlacementDirectives(tx: MetaTransaction): Promise<PlacementDirectives> {
  const range = operatorDirectiveRange();
  const pairs = await tx.getRange(range.begin, range.end, { limit: operatorDirectivesMax });
  const outDisks = new Set<string>();
  const drainingNodes = new Set<string>();
  for (const pair of pairs) {
    decodeOperatorDirective(pair.value); // a value of another format is corruption: say so here
    const { target, id } = operatorDirectiveFromStoredKey(pair.key);
    (target === "disk" ? outDisks : drainingNodes).add(id);
  }
  return { outDisks, drainingNodes };
}

export interface DirectiveRequest {
  readonly nowMs: number;
  /** Who asked, for the record (the operator's node id). */
  readonly setBy: string;
  /** The fleet's acting-set width: a directive leaving fewer eligible disks is refused. */
  readonly actingSetWidth: number;
}

/** Marks `diskId` out (`out` true) or in again. */
export async function setDiskOut(tx: MetaTransaction, diskId: string, out: boolean, request: DirectiveRequest): Promise<DirectiveOutcome> {
  const map = await readFleetMap(tx);
  const host = map?.placement.hosts.find((candidate) => candidate.disks.some((disk) => disk.diskId === diskId));
  if (map === undefined || host === undefined) return { outcome: "unknown", detail: `no disk ${diskId} in the fleet map` };
  const directives = await readPlacementDirectives(tx);
  if (directives.outDisks.has(diskId) === out) return { outcome: "unchanged", detail: `disk ${diskId} is already marked ${out ? "out" : "in"}` };
  const next = withChange(directives, "disk", diskId, out);
  if (out && directives.outDisks.size + directives.drainingNodes.size >= operatorDirectivesMax) return { outcome: "refused", detail: `${operatorDirectivesMax} directives are in force already` };
  if (out) {
    const refusal = checkWidth(map.placement, next, request.actingSetWidth, `marking disk ${diskId} out`);
    if (refusal !== undefined) return refusal;
  }
  write(tx, "disk", diskId, out, request);
  const stillOut = !out && directives.drainingNodes.has(host.hostId) ? ` (it stays out while node ${host.hostId} drains)` : "";
  return {
    outcome: "applied",
    detail: `disk ${diskId} marked ${out ? "out" : "in"}${stillOut}; the next map moves its shards`,
    placementGroups: placementGroupsOn(map.placement, [diskId], request.actingSetWidth),
  };
}

/** Starts (`draining` true) or cancels draining `nodeId`. */
export async function setNodeDraining(tx: MetaTransaction, nodeId: string, draining: boolean, request: DirectiveRequest): Promise<DirectiveOutcome> {
  const map = await readFleetMap(tx);
  const known = map !== undefined && (map.nodes.some((node) => node.nodeId === nodeId) || map.placement.hosts.some((host) => host.hostId === nodeId));
  if (map === undefined || !known) return { outcome: "unknown", detail: `no node ${nodeId} in the fleet map` };
  const directives = await readPlacementDirectives(tx);
  if (directives.drainingNodes.has(nodeId) === draining) return { outcome: "unchanged", detail: `node ${nodeId} is ${draining ? "already draining" : "not draining"}` };
  const next = withChange(directives, "node", nodeId, draining);
  if (draining && directives.outDisks.size + directives.drainingNodes.size >= operatorDirectivesMax) return { outcome: "refused", detail: `${operatorDirectivesMax} directives are in force already` };
  if (draining) {
    const refusal = checkWidth(map.placement, next, request.actingSetWidth, `draining node ${nodeId}`);
    if (refusal !== undefined) return refusal;
  }
  write(tx, "node", nodeId, draining, request);
  const disks = map.placement.hosts.find((host) => host.hostId === nodeId)?.disks.map((disk) => disk.diskId) ?? [];
  return {
    outcome: "applied",
    detail: draining ? `node ${nodeId} draining: its disks are out and its units move away` : `node ${nodeId} no longer draining`,
    placementGroups: placementGroupsOn(map.placement, disks, request.actingSetWidth),
  };
}

/** PGs whose acting set at `width` holds one of `diskIds` under `placement` (none when it cannot place `width`). */
function placementGroupsOn(placement: ClusterMap, diskIds: readonly string[], width: number): number[] {
  if (eligibleDiskCount(placement) < width) return [];
  const { actingSetPins: pins, ...unpinned } = placement;
  const sets = allActingSets(pins?.width === width ? placement : unpinned, width);
  const wanted = new Set(diskIds);
  return sets.flatMap((set, placementGroupId) => (set.some((diskId) => wanted.has(diskId)) ? [placementGroupId] : []));
}

function withChange(directives: PlacementDirectives, target: "disk" | "node", id: string, present: boolean): PlacementDirectives {
  const outDisks = new Set(directives.outDisks);
  const drainingNodes = new Set(directives.drainingNodes);
  const set = target === "disk" ? outDisks : drainingNodes;
  if (present) set.add(id);
  else set.delete(id);
  return { outDisks, drainingNodes };
}

function checkWidth(placement: ClusterMap, directives: PlacementDirectives, width: number, what: string): DirectiveOutcome | undefined {
  const eligible = eligibleDiskCount({ ...placement, hosts: hostsUnderDirectives(placement.hosts, directives) });
  if (eligible >= width) return undefined;
  return { outcome: "refused", detail: `${what} would leave ${eligible} disks to place shards on; the fleet stores ${width} shards of each stripe on distinct disks` };
}

function write(tx: MetaTransaction, target: "disk" | "node", id: string, present: boolean, request: DirectiveRequest): void {
  const key = operatorDirectiveKey(target, id);
  if (present) tx.set(key, encodeOperatorDirective({ setAtMs: request.nowMs, setBy: request.setBy }));
  else tx.clear(key);
}
