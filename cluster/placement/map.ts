/**
 * The cluster map as placement sees it: hosts, their disks, weights and
 * states, at one epoch. Placement is a pure function of (PG id, this map).
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

export interface ClusterMap {
  readonly epoch: number;
  /** Fixed at pool creation. */
  readonly placementGroupCount: number;
  readonly hosts: readonly PlacementHost[];
}
