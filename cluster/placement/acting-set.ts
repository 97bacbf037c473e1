/**
 * Placement group → acting set: the ordered list of disks that store a PG's
 * shards, position i holding shard i. A function of (PG id, cluster map); the
 * order of hosts and disks in the map's arrays does not matter.
 *
 * Two steps (README.md has the reasons and the measured figures):
 *
 * 1. The canonical acting set is a pure function of the PG id and the map's
 *    hosts and disks. Placement version 2 (every new map) chooses the SET
 *    first, by one straw2 draw per (PG, disk): the best disk of each of the
 *    `width` best hosts (a host's best draw is a straw2 draw with the summed
 *    weight of its disks), or, with fewer hosts than positions, every host's
 *    best disk and then the best remaining disks. It then orders the set by a
 *    second, unweighted hash. Version 1 (maps stored before version 2 existed)
 *    grants (position, disk) claims strongest draw first; it is kept so those
 *    maps keep placing their objects where they are.
 * 2. The map's pins (`actingSetPins`) permute a PG's canonical order. When the
 *    map changes, `carryActingSets` writes pins that keep every position whose
 *    disk is still in the PG's set on that disk, so the only positions that
 *    move are those of disks leaving the set, and they move to disks entering
 *    it. No pure function of the map can do that (README.md, "Why positions
 *    are pinned"), which is why the map carries this much history.
 *
 * With version 2, adding, removing or reweighting one disk changes a PG's set
 * by at most that disk and one other: the changed disk enters and the weakest
 * member leaves, or it leaves and the next-best enters. With the pins carried
 * over, every shard that moves moves onto the added disk or off the removed
 * one.
 */
import { assert } from "../../runtime/index.ts";
import type { ActingSetPins, ClusterMap } from "./map.ts";
import { placementGroupCountMax } from "./placement-group.ts";
import { straw2Draw, straw2Hash } from "./straw2.ts";

/** The widest acting set: the erasure codec's k + m ≤ 32. */
export const actingSetWidthMax = 32;

/** The placement version new maps get. */
export const placementVersionCurrent = 2;

/**
 * The words that stand in the straw2 hash's position field in version 2:
 * above any version-1 position (< 32), so the two versions' hashes differ.
 */
const selectionRound = 0x8000_0000;
const orderRound = 0x8000_0001;

interface EligibleDisk {
  readonly diskId: string;
  readonly hostIndex: number;
  readonly weight: number;
  readonly idBytes: Uint8Array;
}

interface PreparedMap {
  readonly epoch: number;
  readonly placementGroupCount: number;
  readonly placementVersion: 1 | 2;
  /** Sorted by diskId: fixes the tie-break and the host numbering whatever the map's array order. */
  readonly disks: readonly EligibleDisk[];
  readonly hostCount: number;
  readonly idBytesMax: number;
  /** Position → canonical index, by PG id, for the pinned PGs. */
  readonly pins: ReadonlyMap<number, readonly number[]>;
}

const encoder = new TextEncoder();

/**
 * The ordered acting set of `placementGroupId`: `width` distinct disk ids,
 * position i storing shard i. Throws a RangeError when the map has fewer than
 * `width` eligible disks (state "in", weight > 0); callers check
 * `eligibleDiskCount` at startup. A malformed map (or pins for another width)
 * or a PG id outside [0, map.placementGroupCount) is a bug (`assert`).
 */
export function actingSet(placementGroupId: number, map: ClusterMap, width: number): string[] {
  return effective(prepare(map, width), placementGroupId, width);
}

/**
 * Every PG's acting set, indexed by PG id: the same answers as `actingSet`
 * for each id, with the map validated and sorted once instead of once per PG.
 */
export function allActingSets(map: ClusterMap, width: number): string[][] {
  const prepared = prepare(map, width);
  return Array.from({ length: prepared.placementGroupCount }, (_, placementGroupId) => effective(prepared, placementGroupId, width));
}

/**
 * `next` with the pins that carry `previous`'s positions over: for every PG,
 * a position whose disk is in the PG's set under `next` keeps that disk; the
 * positions left free take the set's new disks. `next`'s own pins are
 * ignored; its epoch, hosts and disks are kept. Both maps must have the same
 * PG count and placement version. When `previous` cannot place `width`
 * shards (too few eligible disks) nothing was stored at this width and the
 * result has no pins.
 */
export function carryActingSets(previous: ClusterMap, next: ClusterMap, width: number): ClusterMap {
  assert(previous.placementGroupCount === next.placementGroupCount, `carryActingSets: the PG count changed from ${previous.placementGroupCount} to ${next.placementGroupCount}`);
  assert(
    (previous.placementVersion ?? 1) === (next.placementVersion ?? 1),
    `carryActingSets: the placement version changed from ${previous.placementVersion ?? 1} to ${next.placementVersion ?? 1}`,
  );
  const { actingSetPins: _ignored, ...unpinned } = next;
  const nextPrepared = prepare(unpinned, width);
  if (eligibleDiskCount(previous) < width) return unpinned;
  const before = allActingSets(previous, width);
  const pins: { placementGroupId: number; order: number[] }[] = [];
  for (let placementGroupId = 0; placementGroupId < nextPrepared.placementGroupCount; placementGroupId += 1) {
    const canonical = canonicalActingSet(nextPrepared, placementGroupId, width);
    const indexOf = new Map(canonical.map((diskIndex, index) => [nextPrepared.disks[diskIndex]!.diskId, index]));
    const order = before[placementGroupId]!.map((diskId) => indexOf.get(diskId) ?? -1);
    const free = new Set<number>(canonical.keys());
    for (const index of order) free.delete(index);
    // A freed position takes its own canonical disk when that one is new to
    // the set (so the PG drifts back toward no pin), else the next new disk.
    for (let position = 0; position < width; position += 1) {
      if (order[position] !== -1) continue;
      const index = free.has(position) ? position : Math.min(...free);
      order[position] = index;
      free.delete(index);
    }
    if (order.some((index, position) => index !== position)) pins.push({ placementGroupId, order });
  }
  return pins.length === 0 ? unpinned : { ...unpinned, actingSetPins: { width, pins } };
}

/** How many disks can receive shards: state "in" and weight > 0. An acting set can be at most this wide. */
export function eligibleDiskCount(map: ClusterMap): number {
  return eligibleDisks(map).length;
}

/** How many hosts have an eligible disk: the number of distinct failure domains an acting set can span. */
export function eligibleHostCount(map: ClusterMap): number {
  return new Set(eligibleDisks(map).map((disk) => disk.hostId)).size;
}

function effective(prepared: PreparedMap, placementGroupId: number, width: number): string[] {
  const canonical = canonicalActingSet(prepared, placementGroupId, width);
  const order = prepared.pins.get(placementGroupId);
  const positions = order === undefined ? canonical : order.map((index) => canonical[index]!);
  return positions.map((diskIndex) => prepared.disks[diskIndex]!.diskId);
}

/** The canonical acting set as indexes into `prepared.disks`. */
function canonicalActingSet(prepared: PreparedMap, placementGroupId: number, width: number): number[] {
  assert(
    Number.isInteger(placementGroupId) && placementGroupId >= 0 && placementGroupId < prepared.placementGroupCount,
    `actingSet: placement group id must be an integer in [0, ${prepared.placementGroupCount}), got ${placementGroupId}`,
  );
  return prepared.placementVersion === 1 ? chooseByClaims(prepared, placementGroupId, width) : chooseSetFirst(prepared, placementGroupId, width);
}

/** Version 2: the set by one straw2 draw per disk, distinct hosts first; then the order by an unweighted hash. */
function chooseSetFirst(prepared: PreparedMap, placementGroupId: number, width: number): number[] {
  const { disks, hostCount } = prepared;
  const diskCount = disks.length;
  const draws = new Float64Array(diskCount);
  const scratch = new Uint8Array(8 + prepared.idBytesMax);
  const hostBest = new Array<number>(hostCount).fill(-1);
  for (let diskIndex = 0; diskIndex < diskCount; diskIndex += 1) {
    const disk = disks[diskIndex]!;
    scratch.set(disk.idBytes, 8);
    draws[diskIndex] = straw2Draw(straw2Hash(placementGroupId, selectionRound, scratch.subarray(0, 8 + disk.idBytes.length)), disk.weight);
    const best = hostBest[disk.hostIndex]!;
    // Strictly greater: a tie goes to the lower diskId (disks are sorted).
    if (best === -1 || draws[diskIndex]! > draws[best]!) hostBest[disk.hostIndex] = diskIndex;
  }
  // Stronger draw first; an exact tie goes to the lower diskId.
  const byDraw = (left: number, right: number): number => draws[right]! - draws[left]! || left - right;
  let chosen: number[];
  if (hostCount >= width) {
    chosen = hostBest.sort(byDraw).slice(0, width);
  } else {
    // Every host once ("distinct hosts first"), then the best other disks.
    const isHostBest = new Uint8Array(diskCount);
    for (const diskIndex of hostBest) isHostBest[diskIndex] = 1;
    const others = Array.from({ length: diskCount }, (_, diskIndex) => diskIndex).filter((diskIndex) => isHostBest[diskIndex] === 0);
    chosen = [...hostBest, ...others.sort(byDraw).slice(0, width - hostCount)];
  }
  // The order must not follow the weighted draw, or heavy disks would hold
  // the data shards (positions < k) more often than light ones.
  const orderKeys = new Map<number, number>();
  for (const diskIndex of chosen) {
    const disk = disks[diskIndex]!;
    scratch.set(disk.idBytes, 8);
    orderKeys.set(diskIndex, straw2Hash(placementGroupId, orderRound, scratch.subarray(0, 8 + disk.idBytes.length)));
  }
  return chosen.sort((left, right) => orderKeys.get(left)! - orderKeys.get(right)! || left - right);
}

/** Version 1: (position, disk) claims granted strongest draw first. */
function chooseByClaims(prepared: PreparedMap, placementGroupId: number, width: number): number[] {
  const { disks, hostCount } = prepared;
  const diskCount = disks.length;
  // draws[position * diskCount + diskIndex]; a few KiB at most (32 × disks).
  const draws = new Float64Array(width * diskCount);
  const scratch = new Uint8Array(8 + prepared.idBytesMax);
  for (let diskIndex = 0; diskIndex < diskCount; diskIndex += 1) {
    const disk = disks[diskIndex]!;
    scratch.set(disk.idBytes, 8);
    const input = scratch.subarray(0, 8 + disk.idBytes.length);
    for (let position = 0; position < width; position += 1) {
      draws[position * diskCount + diskIndex] = straw2Draw(straw2Hash(placementGroupId, position, input), disk.weight);
    }
  }

  const chosen = new Array<number>(width).fill(-1);
  const diskTaken = new Uint8Array(diskCount);
  const hostTaken = new Uint8Array(hostCount);
  let hostsTaken = 0;
  // One grant per round, so the loop is bounded by `width`; each round scans
  // width × disks claims, which for Cairn's sizes (≤ 32 positions, tens to
  // hundreds of disks) costs less than computing the draws.
  for (let positionsFree = width; positionsFree > 0; positionsFree -= 1) {
    // A used host may take another shard only when the positions left after
    // this grant still cover every eligible host not used yet.
    const hostRepeatAllowed = hostCount < width && positionsFree - 1 >= hostCount - hostsTaken;
    let bestPosition = -1;
    let bestDisk = -1;
    let bestDraw = -Infinity;
    for (let position = 0; position < width; position += 1) {
      if (chosen[position] !== -1) continue;
      const row = position * diskCount;
      for (let diskIndex = 0; diskIndex < diskCount; diskIndex += 1) {
        if (diskTaken[diskIndex] === 1) continue;
        if (hostTaken[disks[diskIndex]!.hostIndex] === 1 && !hostRepeatAllowed) continue;
        const draw = draws[row + diskIndex]!;
        // Strictly greater: an exact tie goes to the lower position, then to
        // the lower diskId (disks are sorted), whatever the map's order.
        if (bestPosition === -1 || draw > bestDraw) {
          bestPosition = position;
          bestDisk = diskIndex;
          bestDraw = draw;
        }
      }
    }
    // prepare() checked width ≤ eligible disks, and the host rule always
    // leaves an unused host or an unused disk, so a claim always remains.
    assert(bestPosition !== -1, `actingSet: no claim left for placement group ${placementGroupId} with ${positionsFree} positions free`);
    chosen[bestPosition] = bestDisk;
    diskTaken[bestDisk] = 1;
    const hostIndex = disks[bestDisk]!.hostIndex;
    if (hostTaken[hostIndex] === 0) {
      hostTaken[hostIndex] = 1;
      hostsTaken += 1;
    }
  }
  return chosen;
}

function prepare(map: ClusterMap, width: number): PreparedMap {
  const placementVersion = map.placementVersion ?? 1;
  assert(placementVersion === 1 || placementVersion === 2, `cluster map epoch ${map.epoch}: unknown placement version ${String(map.placementVersion)}`);
  assert(
    Number.isInteger(width) && width >= 1 && width <= actingSetWidthMax,
    `actingSet: width must be an integer in [1, ${actingSetWidthMax}], got ${width}`,
  );
  assert(
    Number.isInteger(map.placementGroupCount) && map.placementGroupCount >= 1 && map.placementGroupCount <= placementGroupCountMax,
    `cluster map epoch ${map.epoch}: placementGroupCount must be an integer in [1, ${placementGroupCountMax}], got ${map.placementGroupCount}`,
  );
  const eligible = eligibleDisks(map).sort((left, right) => compareIds(left.diskId, right.diskId));
  if (eligible.length < width) {
    throw new RangeError(
      `actingSet: width ${width} needs ${width} eligible disks (state "in", weight > 0), ` +
        `but cluster map epoch ${map.epoch} has ${eligible.length}`,
    );
  }
  const hostIndexes = new Map<string, number>();
  let idBytesMax = 0;
  const disks = eligible.map((disk): EligibleDisk => {
    let hostIndex = hostIndexes.get(disk.hostId);
    if (hostIndex === undefined) {
      hostIndex = hostIndexes.size;
      hostIndexes.set(disk.hostId, hostIndex);
    }
    const idBytes = encoder.encode(disk.diskId);
    idBytesMax = Math.max(idBytesMax, idBytes.length);
    return { diskId: disk.diskId, hostIndex, weight: disk.weight, idBytes };
  });
  return {
    epoch: map.epoch,
    placementGroupCount: map.placementGroupCount,
    placementVersion,
    disks,
    hostCount: hostIndexes.size,
    idBytesMax,
    pins: preparePins(map, width),
  };
}

/** The map's pins by PG id, after checking each is a permutation for this width (a bad pin is corruption or a bug). */
function preparePins(map: ClusterMap, width: number): Map<number, readonly number[]> {
  const pins = new Map<number, readonly number[]>();
  const stored: ActingSetPins | undefined = map.actingSetPins;
  if (stored === undefined) return pins;
  assert(stored.width === width, `cluster map epoch ${map.epoch}: its pins are for width ${stored.width}, asked for width ${width}`);
  for (const { placementGroupId, order } of stored.pins) {
    assert(
      Number.isInteger(placementGroupId) && placementGroupId >= 0 && placementGroupId < map.placementGroupCount && !pins.has(placementGroupId),
      `cluster map epoch ${map.epoch}: a pin names PG ${placementGroupId}, out of range or twice`,
    );
    const seen = new Set(order);
    assert(
      order.length === width && seen.size === width && order.every((index) => Number.isInteger(index) && index >= 0 && index < width),
      `cluster map epoch ${map.epoch}: the pin of PG ${placementGroupId} is not a permutation of 0..${width - 1}`,
    );
    pins.set(placementGroupId, order);
  }
  return pins;
}

/** The eligible disks with their host, after checking the map's shape (every disk, eligible or not). */
function eligibleDisks(map: ClusterMap): { diskId: string; hostId: string; weight: number }[] {
  const hostIds = new Set<string>();
  const diskIds = new Set<string>();
  const eligible: { diskId: string; hostId: string; weight: number }[] = [];
  for (const host of map.hosts) {
    assert(!hostIds.has(host.hostId), `cluster map epoch ${map.epoch}: host ${JSON.stringify(host.hostId)} appears twice`);
    hostIds.add(host.hostId);
    for (const disk of host.disks) {
      assert(!diskIds.has(disk.diskId), `cluster map epoch ${map.epoch}: disk ${JSON.stringify(disk.diskId)} appears twice`);
      diskIds.add(disk.diskId);
      assert(
        Number.isFinite(disk.weight) && disk.weight >= 0,
        `cluster map epoch ${map.epoch}: disk ${JSON.stringify(disk.diskId)} has weight ${disk.weight}, expected a finite number ≥ 0`,
      );
      assert(disk.state === "in" || disk.state === "out", `cluster map epoch ${map.epoch}: disk ${JSON.stringify(disk.diskId)} has state ${JSON.stringify(disk.state)}`);
      if (disk.state === "in" && disk.weight > 0) eligible.push({ diskId: disk.diskId, hostId: host.hostId, weight: disk.weight });
    }
  }
  return eligible;
}

/** UTF-16 code unit order, JavaScript's default string order: the same on every engine, unlike `localeCompare`. */
function compareIds(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
