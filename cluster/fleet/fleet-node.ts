/**
 * One node of a fleet (`cairn node --fleet FILE --id ID`): what every machine
 * of a deployment runs, and what `cairn fleet up` starts locally.
 *
 * Start order, each step needing the one before:
 * 1. register the node in the shared metadata store, which hands out this
 *    run's incarnation;
 * 2. the transport (listening on the node's cluster port, peers' addresses
 *    from the fleet file) and the nact host with that incarnation;
 * 3. the disk actors of a storage node (cross-node messages checked against
 *    the disk protocol's schema);
 * 4. the ClusterManager (every node runs one; the lease holder acts) and the
 *    NodeAgent, which starts and stops the placement-group and
 *    bucket-partition actors the fleet map assigns to this run (each with
 *    its assignment's epoch and the owner fence);
 * 5. on a gateway node, the S3 endpoint over the object service, which reads
 *    the fleet map (polled from the store) to find disks, PG and partition
 *    actors wherever they live; CreateBucket registers the bucket's
 *    partitions with the ClusterManager and waits, bounded, until they run;
 * 6. the ready file (`fleet-launcher.ts`), once this run is in the map.
 *
 * SIGTERM or SIGINT stops it cleanly in the reverse order.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { diskActorPath, diskBehavior } from "../../actors/disk/index.ts";
import { DiskMessage, type SyncDiskReply } from "../../actors/disk/protocol.ts";
import { placementGroupActorPath, placementGroupBehavior } from "../../actors/placement-group/index.ts";
import { PlacementGroupMessage } from "../../actors/placement-group/protocol.ts";
import {
  clusterManagerActorPath,
  clusterManagerBehavior,
  ClusterManagerMessage,
  registerPartitionsBatchMax,
  type RegisterPartitionsReply,
} from "../../actors/cluster-manager/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior } from "../../actors/bucket-partition/index.ts";
import { BucketPartitionMessage, type StatBucketPartitionReply } from "../../actors/bucket-partition/protocol.ts";
import { nodeAgentActorPath, nodeAgentBehavior, NodeAgentMessage } from "../../actors/node-agent/index.ts";
import {
  adminPortHandler,
  createRequestObserver,
  createS3Handler,
  serveNodeHttp,
  ThroughputRing,
  withAdminRoutes,
  type HealthReport,
  type NodeHttpS3Server,
} from "../../gateway/index.ts";
import {
  actorRef,
  configureLogging,
  createNactHost,
  createWebSocketTransport,
  expositionContentType,
  fault,
  isFault,
  MetricsRegistry,
  parseLogLevel,
  systemClock,
  type ActorRef,
  type Fault,
  type Host,
} from "../../runtime/index.ts";
import { loadRootCredentials } from "../credentials.ts";
import { checkOwner, readFleetMap, registerNode, unregisterPartitionUnits, unitText, type FleetMap, type Unit } from "../membership/index.ts";
import { ObjectCatalog, openFoundationDbStore, openLmdbStore, stopFoundationDbNetwork, type MetaStore } from "../metadata/index.ts";
import { Janitor } from "../janitor.ts";
import { Compactor, Healer, healIntervalMsDefault, OrphanSweeper, orphanSweepIntervalMsDefault, RepairSchedule, Scrubber, scrubIntervalMsDefault } from "../repair/index.ts";
import { UserTable, userTableRefreshMsDefault } from "../users.ts";
import { ObjectService, type PartitionHosting, type PlacementView } from "../object-service.ts";
import { actingSet } from "../placement/index.ts";
import { defaultStorageClasses, defaultWriteQuorum, parseStorageClasses, parseWriteQuorum } from "../storage-classes.ts";
import { fleetNode, type Fleet } from "./fleet-file.ts";
import { nodeRunFiles, readyFileVersion, type ReadyFile } from "./fleet-launcher.ts";
import { readFleetSecret } from "./fleet-secret.ts";
import { checkNodeHealth, registerNodeMetrics, type LocalDisk } from "../node-metrics.ts";
import { createStatusSource, statusMapOfFleet } from "../status/index.ts";
import { startOperatorEndpoint, type LocalActor, type OperatorEndpoint } from "../repl/operator-endpoint.ts";

/** Timing of membership; a dead node's units run elsewhere about `leaseMs + clockSkewMsMax + tickMs` after it died. */
export interface FleetTiming {
  readonly leaseMs: number;
  readonly leaseRenewMs: number;
  readonly managerTickMs: number;
  readonly clockSkewMsMax: number;
  readonly heartbeatTimeoutMs: number;
  readonly rebalanceMovesPerTickMax: number;
  /** How often a gateway rereads the fleet map. */
  readonly mapPollMs: number;
  /** Time between Janitor runs on each gateway. */
  readonly janitorIntervalMs: number;
  /** How long CreateBucket waits for its partitions to be assigned and running before it answers 503. */
  readonly partitionStartWaitMs: number;
  /** Time between repair runs on each node (sweeps of changed acting sets, heals). */
  readonly healIntervalMs: number;
  /** Time between scrub passes of each disk. */
  readonly scrubIntervalMs: number;
  /** Repair's pace: rebuilt and scrubbed bytes per second on each node. */
  readonly healBytesPerSecondMax: number;
  readonly scrubBytesPerSecondMax: number;
  /** Time between orphan sweeps of each disk; a shard is deleted by the second sweep that finds it orphaned. */
  readonly orphanSweepIntervalMs: number;
}

export const defaultFleetTiming: FleetTiming = {
  leaseMs: 2_000,
  leaseRenewMs: 400,
  managerTickMs: 250,
  clockSkewMsMax: 250,
  heartbeatTimeoutMs: 200,
  rebalanceMovesPerTickMax: 8,
  mapPollMs: 100,
  janitorIntervalMs: 60_000,
  partitionStartWaitMs: 10_000,
  healIntervalMs: healIntervalMsDefault,
  scrubIntervalMs: scrubIntervalMsDefault,
  healBytesPerSecondMax: 64 * 1024 * 1024,
  scrubBytesPerSecondMax: 32 * 1024 * 1024,
  orphanSweepIntervalMs: orphanSweepIntervalMsDefault,
};

const syncTimeoutMs = 60_000;
const askTimeoutMs = 10_000;
/** Bound on each ask a scrape or a health check makes. */
const adminAskTimeoutMs = 2_000;

const logClock = systemClock();
const log = (entry: Record<string, unknown>): void => {
  process.stderr.write(`${JSON.stringify({ time: new Date(logClock.nowMs()).toISOString(), ...entry })}\n`);
};

/** The fleet's acting-set width: the widest configured scheme, so every class uses a prefix of one distinct-host set. */
export function fleetActingSetWidth(fleet: Fleet): number {
  const diskCount = fleet.nodes.reduce((sum, node) => sum + node.disks.length, 0);
  const classes = parseStorageClasses(fleet.storageClasses ?? defaultStorageClasses, diskCount);
  return Math.max(...[...classes.values()].map((scheme) => scheme.dataShards + scheme.parityShards));
}

/** Runs node `nodeId` of `fleet` until SIGTERM or SIGINT. */
export async function runFleetNode(fleet: Fleet, nodeId: string, baseTiming: FleetTiming = defaultFleetTiming): Promise<void> {
  // Actors' log level (runtime/log.ts), read once: debug lines name each request's work on every node.
  const logLevel = parseLogLevel(process.env.CAIRN_LOG_LEVEL);
  if (logLevel instanceof Error) throw new Error(`CAIRN_LOG_LEVEL: ${logLevel.message}`);
  configureLogging({ level: logLevel });
  // The fleet file may set the repair schedule and pace.
  const timing: FleetTiming = { ...baseTiming, ...fleet.repair };
  const node = fleetNode(fleet, nodeId);
  const secret = readFleetSecret(fleet.secretPath);
  const diskCount = fleet.nodes.reduce((sum, candidate) => sum + candidate.disks.length, 0);
  const storageClasses = parseStorageClasses(fleet.storageClasses ?? defaultStorageClasses, diskCount);
  const writeQuorum = parseWriteQuorum(fleet.writeQuorum ?? defaultWriteQuorum);
  const width = fleetActingSetWidth(fleet);
  const clock = systemClock();
  const nodeLog = (entry: Record<string, unknown>): void => log({ node: nodeId, ...entry });

  const store: MetaStore = await openFleetStore(fleet);
  const { record } = await registerNode(
    store,
    {
      nodeId,
      address: `${node.address}:${node.clusterPort}`,
      roles: [...node.roles],
      disks: node.disks.map((disk) => ({ diskId: disk.diskId, weight: 1 })),
    },
    clock.nowMs(),
    timing.leaseMs,
  );
  const incarnation = record.incarnation;
  nodeLog({ level: "info", event: "node-registered", incarnation });

  const peers = new Map(fleet.nodes.map((peer) => [peer.id, { host: peer.address, port: peer.clusterPort }]));
  const registeredAddress = (peerId: string): { host: string; port: number } | undefined => {
    const entry = latestMap?.nodes.find((candidate) => candidate.nodeId === peerId);
    const match = entry === undefined ? null : /^(.*):([0-9]+)$/.exec(entry.address);
    return match === null ? undefined : { host: match[1]!, port: Number(match[2]) };
  };
  let latestMap: FleetMap | undefined;
  const transport = createWebSocketTransport({
    nodeId,
    incarnation,
    listen: { host: node.address, port: node.clusterPort },
    fleetSecret: secret,
    // Nodes in this node's fleet file, else the address a node registered (one added to the fleet after this node started).
    peers: (peerId) => peers.get(peerId) ?? registeredAddress(peerId),
    log: nodeLog,
  });
  const host: Host = createNactHost({
    nodeId,
    incarnation,
    transport,
    log: nodeLog,
    onCrash: (crash) => nodeLog({ level: "error", event: "actor-crash", actor: crash.ref.path, action: crash.action, error: String(crash.error) }),
  });

  const spawnDisk = (disk: (typeof node.disks)[number]): Promise<ActorRef<DiskMessage>> =>
    host.spawn(diskActorPath(disk.diskId), diskBehavior({ diskId: disk.diskId, directory: disk.directory }), { wireSchema: DiskMessage });
  const disks: ActorRef<DiskMessage>[] = [];
  for (const disk of node.disks) disks.push(await spawnDisk(disk));

  // The map as this node last read it; the gateway and the PG starts use it.
  let map: FleetMap | undefined = await store.transact((tx) => readFleetMap(tx));
  const refreshMap = async (): Promise<FleetMap | undefined> => {
    const stored = await store.transact((tx) => readFleetMap(tx));
    if (stored !== undefined && (map === undefined || stored.epoch > map.epoch)) map = stored;
    latestMap = map;
    return map;
  };

  const placementGroups = new Map<number, ActorRef<PlacementGroupMessage>>();
  const bucketPartitions = new Map<string, ActorRef<BucketPartitionMessage>>();
  /** The unit and epoch of each hosted partition, for the operator endpoint. */
  const bucketPartitionUnits = new Map<string, { ref: ActorRef<BucketPartitionMessage>; unit: Unit; epoch: number }>();
  /** The epoch each hosted PG was started at, for the metrics' probe. */
  const placementGroupEpochs = new Map<number, number>();
  /** The acting set each local PG actor was given, and at which map epoch (to tell it of a newer one). */
  const placementGroupSets = new Map<number, { diskIds: readonly string[]; mapEpoch: number }>();
  /**
   * A map whose placement changed (a node with disks joined) gives some PGs
   * a new acting set: each local PG actor is told, at the map's epoch, and its
   * repair backfills the changed positions (cluster/repair/).
   */
  /**
   * The epoch to ask a local PG actor at: the map epoch its acting set was
   * last known at (it moves to that epoch when told of a new set, and takes
   * any epoch at or above its own), else the epoch it was started at.
   */
  const placementGroupAskEpoch = (placementGroupId: number): number =>
    Math.max(placementGroupEpochs.get(placementGroupId) ?? 0, placementGroupSets.get(placementGroupId)?.mapEpoch ?? 0);
    const updateActingSets = async (current: FleetMap): Promise<void> => {
    for (const [placementGroupId, ref] of placementGroups) {
      const known = placementGroupSets.get(placementGroupId);
      if (known === undefined || known.mapEpoch >= current.epoch) continue;
      const diskIds = actingSet(placementGroupId, current.placement, width);
      if (diskIds.join(",") === known.diskIds.join(",")) {
        placementGroupSets.set(placementGroupId, { diskIds, mapEpoch: current.epoch });
        continue;
      }
      const reply = await host.ask<PlacementGroupMessage, unknown>(
        ref,
        (replyTo) => ({ kind: "UpdateActingSet", epoch: current.epoch, diskIds: [...diskIds], replyTo }),
        askTimeoutMs,
      );
      if (isFault(reply)) {
        // Not retried at every poll: the next map (or the PG's next start) tries again.
        nodeLog({ level: "warn", event: "acting-set-update-refused", placementGroupId, fault: reply });
        placementGroupSets.set(placementGroupId, { ...known, mapEpoch: current.epoch });
        continue;
      }
      placementGroupSets.set(placementGroupId, { diskIds, mapEpoch: current.epoch });
      nodeLog({ level: "info", event: "acting-set-updated", placementGroupId, epoch: current.epoch, diskIds });
    }
  };
  const startUnit = async (unit: Unit, epoch: number): Promise<void> => {
    if (unit.kind === "bucketPartition") {
      const existing = bucketPartitions.get(unitText(unit));
      if (existing !== undefined) await host.stop(existing);
      const ref = await host.spawn(
        bucketPartitionActorPath(unit.bucket, unit.partition),
        bucketPartitionBehavior({
          bucket: unit.bucket,
          partition: unit.partition,
          store,
          epoch,
          // Every transaction proves, inside itself, that this run still owns the partition at this epoch.
          fence: (tx) => checkOwner(tx, unit, { nodeId, incarnation, epoch }),
          onFenced: () => host.tell<NodeAgentMessage>(actorRef(nodeId, incarnation, nodeAgentActorPath), { kind: "ReportFenced", unit, epoch }),
        }),
        { wireSchema: BucketPartitionMessage },
      );
      bucketPartitions.set(unitText(unit), ref);
      bucketPartitionUnits.set(unitText(unit), { ref, unit, epoch });
      return;
    }
    const current = await refreshMap();
    if (current === undefined || current.epoch < epoch) throw new Error(`pg ${unit.placementGroupId}: no map of epoch ${epoch} yet`);
    const existing = placementGroups.get(unit.placementGroupId);
    if (existing !== undefined) await host.stop(existing);
    const diskIds = actingSet(unit.placementGroupId, current.placement, width);
    const ref = await host.spawn(
      placementGroupActorPath(unit.placementGroupId),
      placementGroupBehavior({
        placementGroupId: unit.placementGroupId,
        store,
        diskIds,
        epoch,
        // Every index write proves, in its own transaction, that this run still owns the PG at this epoch.
        fence: (tx) => checkOwner(tx, unit, { nodeId, incarnation, epoch }),
        onFenced: () => host.tell<NodeAgentMessage>(actorRef(nodeId, incarnation, nodeAgentActorPath), { kind: "ReportFenced", unit, epoch }),
      }),
      { wireSchema: PlacementGroupMessage },
    );
    placementGroups.set(unit.placementGroupId, ref);
    placementGroupEpochs.set(unit.placementGroupId, epoch);
    placementGroupSets.set(unit.placementGroupId, { diskIds, mapEpoch: current.epoch });
  };
  const stopUnit = async (unit: Unit): Promise<void> => {
    if (unit.kind === "bucketPartition") {
      const ref = bucketPartitions.get(unitText(unit));
      bucketPartitions.delete(unitText(unit));
      bucketPartitionUnits.delete(unitText(unit));
      if (ref !== undefined) await host.stop(ref);
      return;
    }
    const ref = placementGroups.get(unit.placementGroupId);
    placementGroups.delete(unit.placementGroupId);
    placementGroupSets.delete(unit.placementGroupId);
    placementGroupEpochs.delete(unit.placementGroupId);
    if (ref !== undefined) await host.stop(ref);
  };

  await host.spawn(
    clusterManagerActorPath,
    clusterManagerBehavior({
      store,
      tickMs: timing.managerTickMs,
      leaseMs: timing.leaseMs,
      clockSkewMsMax: timing.clockSkewMsMax,
      rebalanceMovesPerTickMax: timing.rebalanceMovesPerTickMax,
      heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
      placementGroupCount: fleet.placementGroupCount,
      actingSetWidth: width,
      log: nodeLog,
    }),
    { wireSchema: ClusterManagerMessage },
  );
  await host.spawn(
    nodeAgentActorPath,
    nodeAgentBehavior({ store, leaseMs: timing.leaseMs, leaseRenewMs: timing.leaseRenewMs, startUnit, stopUnit, log: nodeLog }),
    { wireSchema: NodeAgentMessage },
  );

  // The map poller: one small read per period, so a gateway learns of moved
  // actors and restarted nodes within `mapPollMs` of the manager's write.
  const polling = new AbortController();
  const pollLoop = (async () => {
    while (!polling.signal.aborted) {
      try {
        const current = await refreshMap();
        if (current !== undefined) await updateActingSets(current);
      } catch (error) {
        nodeLog({ level: "warn", event: "map-read-failed", error: String(error) });
      }
      await clock.sleep(timing.mapPollMs);
    }
  })();

  // Metrics and health at /_cairn/metrics and /_cairn/health on the S3 port
  // (gateway/metrics/admin-routes.ts), and at /metrics and /health on the
  // admin port when the fleet file gives the node one.
  const registry = new MetricsRegistry();
  const localDisks = (): LocalDisk[] => node.disks.map((disk, index) => ({ diskId: disk.diskId, ref: disks[index]!, directory: disk.directory }));
  registerNodeMetrics({
    registry,
    host,
    disks: localDisks,
    placementGroups: () =>
      [...placementGroups].map(([placementGroupId, ref]) => ({ placementGroupId, ref, epoch: placementGroupAskEpoch(placementGroupId) })),
    remoteDiskUsable: (diskId) => {
      const placementHost = map?.placement.hosts.find((candidate) => candidate.disks.some((disk) => disk.diskId === diskId && disk.state === "in"));
      return placementHost !== undefined && map?.nodes.some((entry) => entry.nodeId === placementHost.hostId && entry.state === "up") === true;
    },
    actorCounts: () => ({ disk: disks.length, placementGroup: placementGroups.size, bucketPartition: bucketPartitions.size }),
    // The Healer is made further down; until then nothing was healed.
    healProgress: () => statusHealer?.progress() ?? { healed: 0, bytesWritten: 0, deferred: 0, bytesPerSecondMax: timing.healBytesPerSecondMax },
    orphansDeleted: () => orphanSweeper?.deletedTotal ?? 0,
    transport,
    askTimeoutMs: adminAskTimeoutMs,
  });

  let server: NodeHttpS3Server | undefined;
  let janitor: Janitor | undefined;
  // The status page's throughput ring (gateway nodes), and the Healer made
  // further down, which the page may be asked about before it exists.
  let throughput: ThroughputRing | undefined;
  let statusHealer: Healer | undefined;
  let orphanSweeper: OrphanSweeper | undefined;
  let users: UserTable | undefined;
  let stopping = false;
  const nodeHealth = (): Promise<HealthReport> =>
    checkNodeHealth({
      nodeId,
      host,
      disks: localDisks,
      probeMetadata: () => store.transact((tx) => readFleetMap(tx)),
      extraChecks: () => ({
        membership: map?.nodes.some((entry) => entry.nodeId === nodeId && entry.incarnation === incarnation && entry.state === "up")
          ? { ok: true }
          : { ok: false, detail: `run ${incarnation} is not up in map epoch ${map?.epoch ?? "none"}` },
        serving: stopping ? { ok: false, detail: "stopping" } : { ok: true },
      }),
      timeoutMs: adminAskTimeoutMs,
    });
  // The admin port (optional, any node): metrics and health without S3, so a storage-only node is scraped too.
  const adminServer: NodeHttpS3Server | undefined =
    node.adminPort === undefined
      ? undefined
      : await serveNodeHttp({
          handler: adminPortHandler({ metrics: () => registry.render(), metricsContentType: expositionContentType, health: nodeHealth, log: nodeLog }),
          hostname: node.address,
          port: node.adminPort,
        });
  if (node.roles.has("gateway")) {
    const { credentials } = loadSharedCredentials(fleet);
    let viewEpoch = -1;
    let view: PlacementView = { epoch: 0, diskRef: () => undefined, placementGroupRef: () => undefined };
    const currentView = (): PlacementView => {
      if (map !== undefined && map.epoch !== viewEpoch) {
        view = placementViewOf(map);
        viewEpoch = map.epoch;
      }
      return view;
    };
    const catalog = new ObjectCatalog(store);
    let clearCaches: (bucket: string, partitionCount: number) => Promise<void> = async () => undefined;
    const partitions: PartitionHosting = {
      ensure: (bucket, partitionCount) => ensurePartitions(bucket, partitionCount, currentView),
      // The caches go at once; the registration goes too (only while the
      // bucket is still absent), so the next map drops the units and their
      // owners stop them, and the fleet's partition bound counts live buckets.
      retire: async (bucket, partitionCount) => {
        await clearCaches(bucket, partitionCount).catch(() => undefined);
        await store.transact((tx) => unregisterPartitionUnits(tx, bucket, partitionCount)).catch((error: unknown) =>
          nodeLog({ level: "warn", event: "partition-unregister-failed", bucket, error: String(error) }),
        );
      },
    };
    const service = new ObjectService({
      host,
      catalog,
      placementGroupCount: fleet.placementGroupCount,
      view: currentView,
      storageClasses,
      writeQuorum,
      askTimeoutMs,
      partitions,
      retryDelayMs: timing.mapPollMs,
    });
    clearCaches = (bucket, partitionCount) => service.clearPartitionCaches(bucket, partitionCount);
    // The root credentials and the users in the shared store (`cairn user add --fleet`), reread every second.
    const userTable = await UserTable.open({ store, root: credentials, clock, refreshIntervalMs: userTableRefreshMsDefault, log: nodeLog });
    userTable.start();
    users = userTable;
    const observer = createRequestObserver({ registry, clock: host.clock, log: nodeLog });
    const throughputRing = new ThroughputRing({ read: () => observer.totals(), clock: host.clock });
    throughputRing.start();
    throughput = throughputRing;
    const handler = createS3Handler({
      backend: service,
      lookupSecret: (accessKeyId) => userTable.secretOf(accessKeyId),
      lookupUser: (accessKeyId) => userTable.userOf(accessKeyId),
      nowMs: () => host.clock.nowMs(),
      newRequestId: () => Buffer.from(host.random.bytes(8)).toString("hex").toUpperCase(),
      virtualHostDomains: ["localhost"],
      region: process.env.CAIRN_REGION ?? "us-east-1",
      log: nodeLog,
      observer,
    });
    const adminHandler = withAdminRoutes(handler, {
      metrics: () => registry.render(),
      metricsContentType: expositionContentType,
      health: nodeHealth,
      // The status page at /_cairn/status: the whole fleet as this gateway's map shows it.
      status: createStatusSource({
        nodeId,
        host,
        map: () => (map === undefined ? undefined : statusMapOfFleet(map)),
        diskRef: (diskId) => currentView().diskRef(diskId),
        placementGroupRef: (placementGroupId) => currentView().placementGroupRef(placementGroupId),
        localDiskDirectory: (diskId) => node.disks.find((disk) => disk.diskId === diskId)?.directory,
        bucketCount: async () => (await catalog.listBuckets()).length,
        throughput: throughputRing,
        healProgress: () => statusHealer?.progress(),
        askTimeoutMs: adminAskTimeoutMs,
      }),
      virtualHostDomains: ["localhost"],
      log: nodeLog,
    });
    // node:http rather than Bun.serve: it keeps Content-Length on streamed GETs (gateway/adapter/node-http).
    server = await serveNodeHttp({ handler: adminHandler, hostname: node.address, port: node.s3Port! });
    // Every gateway runs one: they free the same garbage through idempotent
    // steps (a pending record becomes garbage in one transaction; deleting a
    // shard twice is harmless), so a dead node's share is never stranded.
    janitor = new Janitor({ host, service, catalog, intervalMs: timing.janitorIntervalMs, log: nodeLog });
    janitor.start();
  }

  // Repair runs where the PGs are, on every node whatever its roles: the PG
  // actors hosted here are swept when their acting set changes and healed;
  // this node's disks are scrubbed (cluster/repair/).
  let repairViewEpoch = -1;
  let repairView: PlacementView = { epoch: 0, diskRef: () => undefined, placementGroupRef: () => undefined };
  const currentRepairView = (): PlacementView => {
    if (map !== undefined && map.epoch !== repairViewEpoch) {
      repairView = placementViewOf(map);
      repairViewEpoch = map.epoch;
    }
    return repairView;
  };
  const healer = new Healer({
    host,
    store,
    view: currentRepairView,
    bytesPerSecondMax: timing.healBytesPerSecondMax,
    log: nodeLog,
    diskIsOut: (diskId) => map?.placement.hosts.some((entry) => entry.disks.some((disk) => disk.diskId === diskId && disk.state === "out")) === true,
  });
  statusHealer = healer;
  const scrubber = new Scrubber({
    host,
    store,
    view: currentRepairView,
    placementGroupCount: fleet.placementGroupCount,
    bytesPerSecondMax: timing.scrubBytesPerSecondMax,
  });
  const repair = new RepairSchedule({
    host,
    healer,
    scrubber,
    placementGroups: () => [...placementGroups.keys()],
    localDisks: () => node.disks.map((disk) => disk.diskId),
    healIntervalMs: timing.healIntervalMs,
    scrubIntervalMs: timing.scrubIntervalMs,
    // Space that deletes and overwrites leave in sealed volumes comes back (crash-safe; actors/disk/volume).
    compactor: new Compactor({ host, view: currentRepairView }),
    // Copies no PG reads any more (a dead disk marked out that came back, data freed during a backfill).
    orphanSweeper: (orphanSweeper = new OrphanSweeper({
      host,
      store,
      view: currentRepairView,
      placementGroupCount: fleet.placementGroupCount,
      mapActingSet: (placementGroupId) => (map === undefined ? undefined : actingSet(placementGroupId, map.placement, width)),
      // Two sweeps an interval apart always confirm; half the interval leaves room for a late run.
      confirmMs: Math.floor(timing.orphanSweepIntervalMs / 2),
      log: nodeLog,
    })),
    orphanSweepIntervalMs: timing.orphanSweepIntervalMs,
    log: nodeLog,
  });
  repair.start();

  // The operator endpoint `cairn repl` talks to (cluster/repl/), and its keeper, which starts again a unit actor found gone.
  const operator: OperatorEndpoint = await startOperatorEndpoint({
    host,
    store,
    localActors: (): LocalActor[] => [
      ...node.disks.map((disk, index): LocalActor => ({ path: diskActorPath(disk.diskId), kind: "disk", ref: disks[index]! })),
      ...[...placementGroups].map(([placementGroupId, ref]): LocalActor => ({
        path: ref.path,
        kind: "placementGroup",
        ref,
        unit: { kind: "placementGroup", placementGroupId },
        epoch: placementGroupEpochs.get(placementGroupId) ?? 0,
        askEpoch: placementGroupAskEpoch(placementGroupId),
      })),
      ...[...bucketPartitionUnits.values()].map(({ ref, unit, epoch }): LocalActor => ({ path: ref.path, kind: "bucketPartition", ref, unit, epoch })),
    ],
    restartUnit: startUnit,
    // A disk actor stopped by `actor.stop` (or by its supervisor) is spawned again as at start; the ref stays the same.
    restartDisk: async (diskId) => {
      const index = node.disks.findIndex((disk) => disk.diskId === diskId);
      if (index < 0) throw new Error(`disk ${diskId} is not one of ${nodeId}'s`);
      await host.stop(disks[index]!);
      disks[index] = await spawnDisk(node.disks[index]!);
    },
    scrubDisk: (diskId, onProgress) => scrubber.scrubDisk(diskId, onProgress),
    sweepPlacementGroup: async (placementGroupId) => {
      if (!placementGroups.has(placementGroupId)) return undefined;
      const acting = await healer.actingSet(placementGroupId);
      return { actingSet: acting, recorded: await healer.sweepPlacementGroup(placementGroupId, acting) };
    },
    healProgress: () => healer.progress(),
    actingSetWidth: width,
    log: nodeLog,
  });

  // Ready once this run is in the map, so `fleet up` returns a fleet that routes.
  while ((await refreshMap())?.nodes.some((entry) => entry.nodeId === nodeId && entry.incarnation === incarnation) !== true) {
    await clock.sleep(timing.mapPollMs);
  }
  const files = nodeRunFiles(fleet, nodeId);
  mkdirSync(files.directory, { recursive: true });
  const ready: ReadyFile = { version: readyFileVersion, pid: process.pid, incarnation, clusterPort: node.clusterPort, s3Port: node.s3Port };
  writeFileSync(`${files.ready}.tmp`, JSON.stringify(ready));
  renameSync(`${files.ready}.tmp`, files.ready);
  nodeLog({ level: "info", event: "node-ready", incarnation, s3: node.s3Port === undefined ? null : `http://${node.address}:${node.s3Port}` });

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    nodeLog({ level: "info", event: "node-stopping", signal });
    rmSync(files.ready, { force: true });
    await server?.stop();
    await adminServer?.stop();
    await janitor?.stop();
    await throughput?.stop();
    await repair.stop();
    await operator.stop();
    await users?.stop();
    polling.abort();
    await pollLoop;
    for (const disk of disks) {
      const reply = await host.ask<DiskMessage, SyncDiskReply>(disk, (replyTo) => ({ kind: "SyncDisk", replyTo }), syncTimeoutMs);
      if (isFault(reply)) nodeLog({ level: "error", event: "disk-sync-failed", disk: disk.path, fault: reply });
    }
    await host.shutdown();
    await store.close();
    if (fleet.metadata.backend === "foundationdb") stopFoundationDbNetwork();
    nodeLog({ level: "info", event: "node-stopped" });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  /** Refs of the map's disks and PG actors, at the incarnations the map names; nodes that are down have none. */
  function placementViewOf(current: FleetMap): PlacementView {
    const liveIncarnation = new Map(current.nodes.filter((entry) => entry.state !== "down").map((entry) => [entry.nodeId, entry.incarnation]));
    const diskNode = new Map<string, string>();
    for (const placementHost of current.placement.hosts) for (const disk of placementHost.disks) diskNode.set(disk.diskId, placementHost.hostId);
    const placementGroupNode = new Map(current.placementGroups.map((entry) => [entry.placementGroupId, entry.nodeId]));
    const partitionEntries = new Map(current.partitions.map((entry) => [`${entry.bucket}\u0000${entry.partition}`, entry]));
    return {
      epoch: current.epoch,
      diskRef(diskId) {
        const owner = diskNode.get(diskId);
        const ownerIncarnation = owner === undefined ? undefined : liveIncarnation.get(owner);
        return ownerIncarnation === undefined ? undefined : actorRef<DiskMessage>(owner!, ownerIncarnation, diskActorPath(diskId));
      },
      placementGroupRef(placementGroupId) {
        const owner = placementGroupNode.get(placementGroupId);
        const ownerIncarnation = owner === undefined ? undefined : liveIncarnation.get(owner);
        return ownerIncarnation === undefined ? undefined : actorRef<PlacementGroupMessage>(owner!, ownerIncarnation, placementGroupActorPath(placementGroupId));
      },
      partitionRef(bucket, partition) {
        const entry = partitionEntries.get(`${bucket}\u0000${partition}`);
        const ownerIncarnation = entry === undefined ? undefined : liveIncarnation.get(entry.nodeId);
        if (entry === undefined || ownerIncarnation === undefined) return undefined;
        return { ref: actorRef<BucketPartitionMessage>(entry.nodeId, ownerIncarnation, bucketPartitionActorPath(bucket, partition)), epoch: entry.epoch };
      },
    };
  }

  /**
   * Makes a bucket's partitions run somewhere: registers them with the
   * ClusterManager (idempotent; any node's manager writes the registration,
   * the lease holder assigns it at its next tick), then waits, at most
   * `partitionStartWaitMs`, until the map assigns each to a live node and
   * its actor answers at the assignment's epoch.
   */
  async function ensurePartitions(bucket: string, partitionCount: number, view: () => PlacementView): Promise<Fault | undefined> {
    const all = Array.from({ length: partitionCount }, (_, partition) => partition);
    const running = async (partition: number): Promise<boolean> => {
      const route = view().partitionRef?.(bucket, partition);
      if (route === undefined) return false;
      const reply = await host.ask<BucketPartitionMessage, StatBucketPartitionReply | Fault>(
        route.ref,
        (replyTo) => ({ kind: "StatBucketPartition", epoch: route.epoch, replyTo }),
        askTimeoutMs,
      );
      return !isFault(reply) && reply.epoch === route.epoch && !reply.fenced;
    };
    // Always registered, even when this gateway's view shows them assigned:
    // that view may predate a DeleteBucket that unregistered them, and the
    // registration is idempotent.
    let waiting = all;
    {
      const manager = actorRef<ClusterManagerMessage>(nodeId, incarnation, clusterManagerActorPath);
      for (let start = 0; start < waiting.length; start += registerPartitionsBatchMax) {
        const batch = waiting.slice(start, start + registerPartitionsBatchMax).map((partition) => ({ bucket, partition }));
        const reply = await host.ask<ClusterManagerMessage, RegisterPartitionsReply | Fault>(
          manager,
          (replyTo) => ({ kind: "RegisterPartitions", partitions: batch, replyTo }),
          askTimeoutMs,
        );
        if (isFault(reply)) return reply;
      }
    }
    waiting = all;
    const deadline = clock.monotonicMs() + timing.partitionStartWaitMs;
    for (;;) {
      const answers = await Promise.all(waiting.map(running));
      waiting = waiting.filter((_, index) => !answers[index]);
      if (waiting.length === 0) return undefined;
      if (clock.monotonicMs() > deadline) {
        return fault("Unreachable", `bucket ${bucket}: partitions ${waiting.join(", ")} not running within ${timing.partitionStartWaitMs} ms`);
      }
      await clock.sleep(timing.mapPollMs);
    }
  }
}

/** The fleet's metadata store: the machine's shared lmdb environment, or the FoundationDB cluster. */
export async function openFleetStore(fleet: Fleet): Promise<MetaStore> {
  const metadata = fleet.metadata;
  if (metadata.backend === "lmdb") {
    mkdirSync(metadata.path, { recursive: true });
    return openLmdbStore({ path: metadata.path });
  }
  return openFoundationDbStore({
    clusterFile: metadata.clusterFile,
    keyPrefix: metadata.keyPrefix,
    ...(metadata.apiVersion === undefined ? {} : { apiVersion: metadata.apiVersion }),
    ...(metadata.libraryPath === undefined ? {} : { libraryPath: metadata.libraryPath }),
  });
}

/**
 * The fleet's root credentials: from the environment, else the state
 * directory's file (which `fleet up` creates before it starts any node, so
 * nodes on one machine never race to create it).
 */
function loadSharedCredentials(fleet: Fleet): ReturnType<typeof loadRootCredentials> {
  mkdirSync(fleet.stateDirectory, { recursive: true });
  return loadRootCredentials({ dataDir: fleet.stateDirectory, environment: process.env });
}
