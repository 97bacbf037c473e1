/**
 * Test support for repair: one node's worth of real parts on a nact host —
 * six disk actors (4+2 coding), the PG actors of a fixed map, the object
 * service and an lmdb store in a temporary directory. Tests of the Healer,
 * the Scrubber, the schedule and the orphan sweep start one per test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskActorPath, diskBehavior, type DiskMessage } from "../../actors/disk/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../../actors/placement-group/index.ts";
import { createNactHost, seededRandom, systemClock, type ActorRef, type Host } from "../../runtime/index.ts";
import { ObjectCatalog, openLmdbStore, type MetaStore } from "../metadata/index.ts";
import { ObjectService, type PlacementView } from "../object-service.ts";
import { actingSet, type ClusterMap } from "../placement/index.ts";

export const repairWorldDiskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
/** One host, the six disks, four PGs: every PG's acting set is all six disks in its own order. */
export const repairWorldMap: ClusterMap = {
  epoch: 1,
  placementGroupCount: 4,
  hosts: [{ hostId: "node-test", disks: repairWorldDiskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
};
export const repairWorldWidth = 6;

export interface RepairWorld {
  readonly directory: string;
  readonly store: MetaStore;
  readonly host: Host;
  /** Mutable: a test replaces a disk actor or adds one. */
  readonly disks: Map<string, ActorRef<DiskMessage>>;
  readonly placementGroups: ActorRef<PlacementGroupMessage>[];
  readonly service: ObjectService;
  /** The view at `viewEpoch` (a test that publishes a new map raises it). */
  readonly view: () => PlacementView;
  viewEpoch: number;
  close(): Promise<void>;
}

/** Starts the world in a fresh directory, bucket `b` created; `placementGroupCount` overrides the map's 4 (a benchmark's). */
export async function openRepairWorld(options: {
  readonly seed: number;
  readonly shardBytes: number;
  readonly replicationBytesMax: number;
  readonly prefix: string;
  readonly placementGroupCount?: number;
}): Promise<RepairWorld> {
  const map: ClusterMap = { ...repairWorldMap, placementGroupCount: options.placementGroupCount ?? repairWorldMap.placementGroupCount };
  const directory = mkdtempSync(join(tmpdir(), options.prefix));
  const store = await openLmdbStore({ path: join(directory, "meta") });
  const host = createNactHost({ nodeId: "node-test", clock: systemClock(), random: seededRandom(options.seed), log: () => undefined });
  const disks = new Map<string, ActorRef<DiskMessage>>();
  for (const diskId of repairWorldDiskIds) disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(directory, diskId) })));
  const placementGroups: ActorRef<PlacementGroupMessage>[] = [];
  for (let id = 0; id < map.placementGroupCount; id += 1) {
    placementGroups.push(await host.spawn(placementGroupActorPath(id), placementGroupBehavior({ placementGroupId: id, store, diskIds: actingSet(id, map, repairWorldWidth), epoch: 1 })));
  }
  const epoch = { current: 1 };
  const view = (): PlacementView => ({ epoch: epoch.current, diskRef: (diskId: string) => disks.get(diskId), placementGroupRef: (id: number) => placementGroups[id] });
  const service = new ObjectService({
    host,
    catalog: new ObjectCatalog(store),
    placementGroupCount: map.placementGroupCount,
    view,
    storageClasses: new Map([["STANDARD", { dataShards: 4, parityShards: 2 }]]),
    shardBytes: options.shardBytes,
    replicationBytesMax: options.replicationBytesMax,
    askTimeoutMs: 10_000,
  });
  const world: RepairWorld = {
    directory,
    store,
    host,
    disks,
    placementGroups,
    service,
    view,
    get viewEpoch() {
      return epoch.current;
    },
    set viewEpoch(value: number) {
      epoch.current = value;
    },
    async close() {
      await host.shutdown();
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  await world.service.createBucket("b");
  return world;
}

/** An object's current version, read whole through the object service (throws when it does not read). */
export async function readObjectBytes(service: ObjectService, bucket: string, key: string): Promise<Buffer> {
  const info = await service.headObject(bucket, key);
  if (typeof info === "string" || "deleteMarker" in info) throw new Error(`${key}: not readable`);
  const parts: Uint8Array[] = [];
  for await (const part of service.readObject(info, 0, info.sizeBytes)) parts.push(part);
  return Buffer.concat(parts);
}
