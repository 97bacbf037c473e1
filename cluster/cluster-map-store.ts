/**
 * The cluster map in the metadata store (key `("m",)`, record kind
 * `clusterMap`, version 1: the `ClusterMap` fields as a plain map; the
 * optional `placementVersion` and `actingSetPins` were added later and read
 * as absent in maps stored before them).
 *
 * On one node the map is created on the first start from the configuration
 * and must match it afterwards: placement is computed from the map, so
 * changing the disks or the PG count of an existing store would make
 * objects unreachable until backfill (issue 7) can move them.
 */
import { clusterMapKey, decodeRecordOf, encodeRecord, type MetaStore } from "./metadata/index.ts";
import type { ClusterMap } from "./placement/index.ts";

const clusterMapVersion = 1;

/** Reads the stored map, or stores `proposed` if there is none; returns the map in force. */
export async function loadOrCreateClusterMap(store: MetaStore, proposed: ClusterMap): Promise<ClusterMap> {
  return store.transact(async (tx) => {
    const stored = await tx.get(clusterMapKey());
    if (stored !== undefined) {
      const record = decodeRecordOf("clusterMap", stored);
      if (record.version !== clusterMapVersion) throw new Error(`unknown cluster map version ${record.version}`);
      return record.value as ClusterMap;
    }
    tx.set(clusterMapKey(), encodeRecord("clusterMap", clusterMapVersion, proposed));
    return proposed;
  });
}

/** Why `stored` cannot be served with the configuration that proposed `proposed`, or undefined when they agree. */
export function clusterMapMismatch(stored: ClusterMap, proposed: ClusterMap): string | undefined {
  const disksOf = (map: ClusterMap): string =>
    map.hosts
      .flatMap((host) => host.disks.map((disk) => `${host.hostId}/${disk.diskId}`))
      .sort()
      .join(", ");
  if (stored.placementGroupCount !== proposed.placementGroupCount) {
    return `the data directory has ${stored.placementGroupCount} placement groups, the configuration ${proposed.placementGroupCount}`;
  }
  if (disksOf(stored) !== disksOf(proposed)) {
    return `the data directory was created with disks [${disksOf(stored)}], the configuration has [${disksOf(proposed)}] (adding or removing disks needs backfill, which is not built yet)`;
  }
  return undefined;
}
