/**
 * The public surface of `cluster/placement/`: object → placement group by a
 * stable hash, placement group → ordered disks by straw2 over hosts and
 * disks. Other folders import from here.
 */
export { actingSet, actingSetWidthMax, allActingSets, carryActingSets, eligibleDiskCount, eligibleHostCount, placementVersionCurrent } from "./acting-set.ts";
export type { ActingSetPin, ActingSetPins, ClusterMap, PlacementDisk, PlacementHost } from "./map.ts";
export { placementGroupCountMax, placementGroupOf } from "./placement-group.ts";
export { xxHash32 } from "./xxhash32.ts";
