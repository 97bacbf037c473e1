/**
 * Placement group → acting set: the ordered list of disks that store a PG's
 * shards, position i holding shard i. A pure function of (PG id, cluster map
 * contents); the order of hosts and disks in the map's arrays does not matter.
 *
 * How it chooses (see README.md for the reasons and the measured figures):
 *
 * 1. Candidates are the eligible disks: state "in" and weight > 0. A host is
 *    eligible when it has one.
 * 2. Every position r draws a straw2 value for every candidate disk
 *    (`straw2.ts`, position r is CRUSH's attempt number r). A host's best
 *    draw is then a straw2 draw with the host's weight (the sum of its
 *    eligible disks' weights) and the disk behind it is a straw2 choice
 *    within the host, so this is CRUSH's host → disk descent with host
 *    weights, without a second hash.
 * 3. Claims (position, disk) are granted strongest draw first. A claim is
 *    refused when its position is filled, its disk is taken, or its host is
 *    taken and repeating a host is not allowed. A position whose best claim
 *    was refused falls back to its next-best disk, which is a straw2 choice
 *    over what is left: CRUSH's retry on collision, resolved by draw strength
 *    instead of by position order.
 * 4. Distinct hosts first: with at least `width` eligible hosts, a host is
 *    never repeated. With fewer, a host may be repeated only while enough
 *    positions stay free for the hosts still unused, so every eligible host
 *    gets a shard and the rest go to distinct disks on used hosts.
 *
 * A disk that wins no claim never decides a grant, so removing or adding it
 * leaves the same claims granted in the same order. Hence the invariant the
 * tests pin: adding, removing or reweighting one disk changes only the acting
 * sets that hold that disk before or after the change. Granting by strength
 * rather than in position order is what keeps the other positions of those
 * acting sets from reshuffling more than they must (README.md).
 */
import { assert } from "../../runtime/index.ts";
import type { ClusterMap } from "./map.ts";
import { placementGroupCountMax } from "./placement-group.ts";
import { straw2Draw, straw2Hash } from "./straw2.ts";

/** The widest acting set: the erasure codec's k + m ≤ 32. */
export const actingSetWidthMax = 32;

interface EligibleDisk {
  readonly diskId: string;
  readonly hostIndex: number;
  readonly weight: number;
  readonly idBytes: Uint8Array;
}

interface PreparedMap {
  readonly epoch: number;
  readonly placementGroupCount: number;
  /** Sorted by diskId: fixes the tie-break and the host numbering whatever the map's array order. */
  readonly disks: readonly EligibleDisk[];
  readonly hostCount: number;
  readonly idBytesMax: number;
}

const encoder = new TextEncoder();

/**
 * The ordered acting set of `placementGroupId`: `width` distinct disk ids,
 * position i storing shard i. Throws a RangeError when the map has fewer than
 * `width` eligible disks (state "in", weight > 0); callers check
 * `eligibleDiskCount` at startup. A malformed map or a PG id outside
 * [0, map.placementGroupCount) is a bug (`assert`).
 */
export function actingSet(placementGroupId: number, map: ClusterMap, width: number): string[] {
  const prepared = prepare(map, width);
  return choose(prepared, placementGroupId, width);
}

/**
 * Every PG's acting set, indexed by PG id: the same answers as `actingSet`
 * for each id, with the map validated and sorted once instead of once per PG.
 */
export function allActingSets(map: ClusterMap, width: number): string[][] {
  const prepared = prepare(map, width);
  return Array.from({ length: prepared.placementGroupCount }, (_, placementGroupId) => choose(prepared, placementGroupId, width));
}

/** How many disks can receive shards: state "in" and weight > 0. An acting set can be at most this wide. */
export function eligibleDiskCount(map: ClusterMap): number {
  return eligibleDisks(map).length;
}

/** How many hosts have an eligible disk: the number of distinct failure domains an acting set can span. */
export function eligibleHostCount(map: ClusterMap): number {
  return new Set(eligibleDisks(map).map((disk) => disk.hostId)).size;
}

function choose(prepared: PreparedMap, placementGroupId: number, width: number): string[] {
  assert(
    Number.isInteger(placementGroupId) && placementGroupId >= 0 && placementGroupId < prepared.placementGroupCount,
    `actingSet: placement group id must be an integer in [0, ${prepared.placementGroupCount}), got ${placementGroupId}`,
  );
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
  return chosen.map((diskIndex) => disks[diskIndex]!.diskId);
}

function prepare(map: ClusterMap, width: number): PreparedMap {
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
  return { epoch: map.epoch, placementGroupCount: map.placementGroupCount, disks, hostCount: hostIndexes.size, idBytesMax };
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
