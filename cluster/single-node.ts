/**
 * A one-node Cairn: the nact host, one disk actor per disk directory, one
 * placement-group actor per PG, the bucket-partition actors of every bucket
 * in use (spawned when a bucket is created or first used after a start, so
 * a restart starts every cache cold), the embedded `lmdb` metadata store, and the
 * S3 gateway on Bun.serve. This is what `npm start` runs; the fleet (issue 4)
 * grows out of it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { diskActorPath, diskBehavior } from "../actors/disk/index.ts";
import type { DiskMessage, SyncDiskReply } from "../actors/disk/protocol.ts";
import { ObjectCatalog, openLmdbStore } from "./metadata/index.ts";
import { createRequestObserver, createS3Handler, serveNodeHttp, ThroughputRing, withAdminRoutes } from "../gateway/index.ts";
import { ObjectService, type PartitionHosting, type PlacementView } from "./object-service.ts";
import { Janitor } from "./janitor.ts";
import { Compactor, Healer, healIntervalMsDefault, OrphanSweeper, orphanSweepIntervalMsDefault, RepairSchedule, Scrubber, scrubIntervalMsDefault } from "./repair/index.ts";
import { UserTable, userTableRefreshMsDefault } from "./users.ts";
import { systemClock } from "../runtime/index.ts";
import { placementGroupActorPath, placementGroupBehavior, type PlacementGroupMessage } from "../actors/placement-group/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior, type BucketPartitionMessage } from "../actors/bucket-partition/index.ts";
import { actingSet, actingSetWidthMax, eligibleDiskCount, placementVersionCurrent, type ClusterMap } from "./placement/index.ts";
import type { ErasureScheme } from "./erasure/index.ts";
import { clusterMapMismatch, loadOrCreateClusterMap } from "./cluster-map-store.ts";
import { createNactHost, expositionContentType, isFault, MetricsRegistry, type ActorRef, type Host } from "../runtime/index.ts";
import type { RootCredentials } from "./credentials.ts";
import { checkNodeHealth, registerNodeMetrics, type LocalDisk } from "./node-metrics.ts";
import { createStatusSource } from "./status/index.ts";

export interface SingleNodeConfig {
  readonly dataDir: string;
  readonly hostname: string;
  readonly port: number;
  readonly diskCount: number;
  /** Storage class → scheme; every scheme fits `diskCount`. */
  readonly storageClasses: ReadonlyMap<string, ErasureScheme>;
  /** Shards of a stripe that must be durable before a PUT counts it. */
  readonly writeQuorum: (scheme: ErasureScheme) => number;
  readonly credentials: RootCredentials;
  readonly region: string;
  readonly virtualHostDomains: readonly string[];
  readonly log: (entry: Record<string, unknown>) => void;
  /** A PUT PREPARING for longer than this is taken for crashed; the Janitor reclaims its data (default 1 h). */
  readonly preparingMaxAgeMs?: number;
  /** Time between Janitor runs (default 1 min). */
  readonly janitorIntervalMs?: number;
  /** Time between rereads of the users in the store (default 1 s): how long a new or removed user waits. */
  readonly userRefreshMs?: number;
  /** Incomplete multipart uploads older than this are aborted by the Janitor (default 7 days). */
  readonly multipartUploadMaxAgeMs?: number;
  /** Time between repair runs: sweeps of changed acting sets and heals (default 10 s). */
  readonly healIntervalMs?: number;
  /** Time between scrub passes of each disk (default 24 h). */
  readonly scrubIntervalMs?: number;
  /** Time between orphan sweeps of each disk (default 1 h; cluster/repair/orphan-sweeper.ts). */
  readonly orphanSweepIntervalMs?: number;
}

/** Repair's pace: rebuilt bytes and scrubbed bytes per second, so client traffic keeps the disks. */
const healBytesPerSecondMax = 64 * 1024 * 1024;
const scrubBytesPerSecondMax = 32 * 1024 * 1024;

export interface RunningNode {
  readonly port: number;
  /** Stops accepting requests, lets in-flight ones finish, syncs volumes and metadata. */
  stop(): Promise<void>;
}

const syncTimeoutMs = 60_000;
/** Bound on each ask a scrape or a health check makes. */
const adminAskTimeoutMs = 2_000;
const healthProbeKey = new TextEncoder().encode("cairn/health-probe");
const nodeId = "node-1";
/**
 * Fixed when a data directory is created (it is stored in the cluster map):
 * objects are placed by it. 64 PGs spread six disks' shards within a few
 * percent of even.
 */
const placementGroupCount = 64;

/** Thrown when the data directory cannot be served with this configuration. */
export class ConfigurationError extends Error {}

/** Starts a one-node Cairn and resolves once it is ready to serve. */
export async function startSingleNode(config: SingleNodeConfig): Promise<RunningNode> {
  mkdirSync(config.dataDir, { recursive: true });
  const host: Host = createNactHost({
    nodeId,
    onCrash: (crash) => config.log({ level: "error", event: "actor-crash", actor: crash.ref.path, action: crash.action, error: String(crash.error) }),
    log: config.log,
  });
  const store = await openLmdbStore({ path: join(config.dataDir, "meta") });
  const catalog = new ObjectCatalog(store);

  const diskIds = Array.from({ length: config.diskCount }, (_, index) => `disk-${index}`);
  const proposed: ClusterMap = {
    epoch: 1,
    placementGroupCount,
    // A data directory keeps the version it was created with (its stored map).
    placementVersion: placementVersionCurrent,
    hosts: [{ hostId: nodeId, disks: diskIds.map((diskId) => ({ diskId, weight: 1, state: "in" as const })) }],
  };
  const map = await loadOrCreateClusterMap(store, proposed);
  const mismatch = clusterMapMismatch(map, proposed);
  if (mismatch !== undefined) {
    await host.shutdown();
    await store.close();
    throw new ConfigurationError(mismatch);
  }

  const disks = new Map<string, ActorRef<DiskMessage>>();
  for (const diskId of diskIds) {
    disks.set(diskId, await host.spawn(diskActorPath(diskId), diskBehavior({ diskId, directory: join(config.dataDir, "disks", diskId) })));
  }
  // Every PG's acting set orders all disks (up to 32); a class of k+m uses its
  // first k+m positions. Sets of different widths are not prefixes of each
  // other, so the width must not depend on the configured classes: adding a
  // wider class later must not move what is stored.
  const width = Math.min(actingSetWidthMax, eligibleDiskCount(map));
  const placementGroups: ActorRef<PlacementGroupMessage>[] = [];
  for (let placementGroupId = 0; placementGroupId < map.placementGroupCount; placementGroupId += 1) {
    const behavior = placementGroupBehavior({ placementGroupId, store, diskIds: actingSet(placementGroupId, map, width), epoch: map.epoch });
    placementGroups.push(await host.spawn(placementGroupActorPath(placementGroupId), behavior));
  }

  // Bucket partitions: one process is the only writer, so they need no owner
  // fence; their epoch is the map's. Spawns of one bucket are serialized.
  const partitionActors = new Map<string, ActorRef<BucketPartitionMessage>>();
  const partitionName = (bucket: string, partition: number): string => `${bucket}\u0000${partition}`;
  let partitionSpawns: Promise<unknown> = Promise.resolve();
  const partitions: PartitionHosting = {
    ensure(bucket, partitionCount) {
      const spawned = partitionSpawns.then(async () => {
        for (let partition = 0; partition < partitionCount; partition += 1) {
          if (partitionActors.has(partitionName(bucket, partition))) continue;
          const ref = await host.spawn(bucketPartitionActorPath(bucket, partition), bucketPartitionBehavior({ bucket, partition, store, epoch: map.epoch }));
          partitionActors.set(partitionName(bucket, partition), ref);
        }
        return undefined;
      });
      partitionSpawns = spawned.catch(() => undefined);
      return spawned;
    },
    async retire(bucket, partitionCount) {
      // Stopped, so a bucket created again under the name starts with cold caches.
      for (let partition = 0; partition < partitionCount; partition += 1) {
        const ref = partitionActors.get(partitionName(bucket, partition));
        partitionActors.delete(partitionName(bucket, partition));
        if (ref !== undefined) await host.stop(ref);
      }
    },
  };
  const view: PlacementView = {
    epoch: map.epoch,
    diskRef: (diskId) => disks.get(diskId),
    placementGroupRef: (placementGroupId) => placementGroups[placementGroupId],
    partitionRef: (bucket, partition) => {
      const ref = partitionActors.get(partitionName(bucket, partition));
      return ref === undefined ? undefined : { ref, epoch: map.epoch };
    },
  };
  const service = new ObjectService({
    host,
    catalog,
    placementGroupCount: map.placementGroupCount,
    // One node: every actor is local and the map never changes while it runs.
    view: () => view,
    storageClasses: config.storageClasses,
    writeQuorum: config.writeQuorum,
    ...(config.preparingMaxAgeMs === undefined ? {} : { preparingMaxAgeMs: config.preparingMaxAgeMs }),
    ...(config.multipartUploadMaxAgeMs === undefined ? {} : { multipartUploadMaxAgeMs: config.multipartUploadMaxAgeMs }),
    partitions,
  });
  // The root credentials and the users in the store (`cairn user add`), reread every second.
  const users = await UserTable.open({
    store,
    root: config.credentials,
    clock: systemClock(),
    refreshIntervalMs: config.userRefreshMs ?? userTableRefreshMsDefault,
    log: config.log,
  });
  users.start();
  // Metrics and health at /_cairn/metrics and /_cairn/health (gateway/metrics/admin-routes.ts).
  const registry = new MetricsRegistry();
  const localDisks = (): LocalDisk[] => [...disks].map(([diskId, ref]) => ({ diskId, ref, directory: join(config.dataDir, "disks", diskId) }));
  // Made here so the scrape can read its totals from the start; the repair schedule below runs it.
  const healer = new Healer({ host, store, view: () => view, bytesPerSecondMax: healBytesPerSecondMax });
  const orphanSweeper = new OrphanSweeper({
    host,
    store,
    view: () => view,
    placementGroupCount: map.placementGroupCount,
    mapActingSet: (placementGroupId) => actingSet(placementGroupId, map, width),
    confirmMs: Math.floor((config.orphanSweepIntervalMs ?? orphanSweepIntervalMsDefault) / 2),
    log: config.log,
  });
  registerNodeMetrics({
    registry,
    host,
    disks: localDisks,
    placementGroups: () => placementGroups.map((ref, placementGroupId) => ({ placementGroupId, ref, epoch: map.epoch })),
    remoteDiskUsable: () => false,
    actorCounts: () => ({ disk: disks.size, placementGroup: placementGroups.length, bucketPartition: partitionActors.size }),
    healProgress: () => healer.progress(),
    orphansDeleted: () => orphanSweeper.deletedTotal,
    askTimeoutMs: adminAskTimeoutMs,
  });
  const observer = createRequestObserver({ registry, clock: host.clock, log: config.log });
  // The status page's throughput over the last minutes (gateway/status/).
  const throughput = new ThroughputRing({ read: () => observer.totals(), clock: host.clock });
  throughput.start();
  const handler = createS3Handler({
    backend: service,
    lookupSecret: (accessKeyId) => users.secretOf(accessKeyId),
    lookupUser: (accessKeyId) => users.userOf(accessKeyId),
    nowMs: () => host.clock.nowMs(),
    newRequestId: () => Buffer.from(host.random.bytes(8)).toString("hex").toUpperCase(),
    virtualHostDomains: config.virtualHostDomains,
    region: config.region,
    log: config.log,
    observer,
  });
  let stopping: Promise<void> | undefined;
  const adminHandler = withAdminRoutes(handler, {
    metrics: () => registry.render(),
    metricsContentType: expositionContentType,
    health: () =>
      checkNodeHealth({
        nodeId,
        host,
        disks: localDisks,
        // A read of a key nothing writes: it needs only a working store.
        probeMetadata: () => store.transact((tx) => tx.get(healthProbeKey)),
        extraChecks: () => ({ serving: stopping === undefined ? { ok: true } : { ok: false, detail: "stopping" } }),
        timeoutMs: adminAskTimeoutMs,
      }),
    // The status page at /_cairn/status: one host, every actor local, the map fixed while it runs.
    status: createStatusSource({
      nodeId,
      host,
      map: () => ({
        epoch: map.epoch,
        nodes: [{ nodeId, state: stopping === undefined ? "up" : "down", incarnation: 1, roles: ["storage", "gateway"] }],
        placement: map,
        placementGroupOwner: () => nodeId,
      }),
      diskRef: (diskId) => disks.get(diskId),
      placementGroupRef: (placementGroupId) => placementGroups[placementGroupId],
      localDiskDirectory: (diskId) => (disks.has(diskId) ? join(config.dataDir, "disks", diskId) : undefined),
      bucketCount: async () => (await catalog.listBuckets()).length,
      throughput,
      healProgress: () => healer.progress(),
      askTimeoutMs: adminAskTimeoutMs,
    }),
    virtualHostDomains: config.virtualHostDomains,
    log: config.log,
  });
  // node:http rather than Bun.serve: it keeps Content-Length on streamed GETs (gateway/adapter/node-http).
  const server = await serveNodeHttp({ handler: adminHandler, hostname: config.hostname, port: config.port });
  // Records written before versioning move into the versions subspace, so
  // ListObjectVersions sees them (writes migrate the keys they touch anyway).
  void catalog.migrateLegacyObjects().then(
    (migrated) => migrated > 0 && config.log({ level: "info", event: "legacy-objects-migrated", count: migrated }),
    (error: unknown) => config.log({ level: "warn", event: "legacy-migration-failed", error: String(error) }),
  );
  // Space left behind by an earlier crash or by replaced objects is freed in
  // the background, now and on a schedule; the node serves meanwhile.
  const janitor = new Janitor({ host, service, catalog, intervalMs: config.janitorIntervalMs ?? 60_000, log: config.log });
  janitor.start();
  // Shards lost to failed writes, bit rot or a replaced disk are rebuilt on a schedule (cluster/repair/).
  const repairView = (): PlacementView => view;
  const repair = new RepairSchedule({
    host,
    healer,
    scrubber: new Scrubber({ host, store, view: repairView, placementGroupCount: map.placementGroupCount, bytesPerSecondMax: scrubBytesPerSecondMax }),
    placementGroups: () => placementGroups.map((_, placementGroupId) => placementGroupId),
    localDisks: () => [...disks.keys()],
    healIntervalMs: config.healIntervalMs ?? healIntervalMsDefault,
    scrubIntervalMs: config.scrubIntervalMs ?? scrubIntervalMsDefault,
    // Space that deletes and overwrites leave in sealed volumes comes back (crash-safe; actors/disk/volume).
    compactor: new Compactor({ host, view: repairView }),
    orphanSweeper,
    orphanSweepIntervalMs: config.orphanSweepIntervalMs ?? orphanSweepIntervalMsDefault,
    log: config.log,
  });
  repair.start();

  return {
    port: server.port,
    stop(): Promise<void> {
      stopping ??= (async () => {
        await server.stop();
        await throughput.stop();
        await janitor.stop();
        await repair.stop();
        await users.stop();
        for (const [diskId, ref] of disks) {
          const reply = await host.ask<DiskMessage, SyncDiskReply>(ref, (replyTo) => ({ kind: "SyncDisk", replyTo }), syncTimeoutMs);
          if (isFault(reply)) config.log({ level: "error", event: "disk-sync-failed", disk: diskId, fault: reply });
        }
        await host.shutdown();
        await store.close();
      })();
      return stopping;
    },
  };
}
