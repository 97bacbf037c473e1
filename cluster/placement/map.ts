/**
 * The cluster map as placement sees it: hosts, their disks, weights and
 * states, at one epoch, plus the per-PG position pins that keep shards in
 * place across map changes. Placement is a function of (PG id, this map).
 */

export interface PlacementDisk {
  /** Stable, unique across the cluster (e.g. `node-1/disk-3`). */
  readonly diskId: string;
  /** Relative capacity (e.g. bytes or TiB); 0 means it receives nothing. */
  readonly weight: number;
  /** `out` disks receive no shards (their weight counts as 0). */
  readonly state: "in" | "out";
}

export interface PlacementHost {
  readonly hostId: string;
  readonly disks: readonly PlacementDisk[];
}

/**
 * One PG's positions, as a permutation of its canonical order: position i
 * holds the disk at index `order[i]` of the canonical acting set. A pin never
 * names a disk, so it can never point at a disk that left the map.
 */
export interface ActingSetPin {
  readonly placementGroupId: number;
  readonly order: readonly number[];
}

/** The pins of a map, all for one acting-set width. */
export interface ActingSetPins {
  readonly width: number;
  /** At most one per PG, in increasing PG order. */
  readonly pins: readonly ActingSetPin[];
}

export interface ClusterMap {
  readonly epoch: number;
  /** Fixed at pool creation. */
  readonly placementGroupCount: number;
  /**
   * Which algorithm chooses acting sets (README.md, "Versions"); fixed at
   * pool creation. Absent means 1: maps stored before the field existed.
   */
  readonly placementVersion?: 1 | 2;
  readonly hosts: readonly PlacementHost[];
  /** Written by `carryActingSets` when the map changes; absent means every PG takes its canonical order. */
  readonly actingSetPins?: ActingSetPins;
}
