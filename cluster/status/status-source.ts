/**
 * Gathers the status page's figures (gateway/status/status-report.ts) on the
 * node that is asked: the map as this node last read it, a StatDisk to every
 * disk of the map, a GetActingSet to every PG's owner, the bucket count, the
 * S3 throughput ring and the Healer's totals. Every ask and the metadata read
 * are bounded by `askTimeoutMs`, so a dead node makes figures go red, never
 * makes the page hang; a gathering is shared by the requests that arrive
 * while it runs and reused for `reuseMs`, so many open pages cost one
 * gathering per period.
 */
import { statfs } from "node:fs/promises";
import type { DiskMessage, StatDiskReply } from "../../actors/disk/protocol.ts";
import type { GetActingSetReply, PlacementGroupMessage } from "../../actors/placement-group/protocol.ts";
import {
  assessHealth,
  diskRowsMax,
  placementGroupCellsMax,
  statusPlacementGroupStates,
  statusReportVersion,
  type DiskStatus,
  type NodeStatus,
  type PlacementGroupCell,
  type PlacementGroupState,
  type StatusReport,
  type ThroughputRing,
} from "../../gateway/index.ts";
import { isFault, sleepUnlessAborted, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import type { FleetMap } from "../membership/index.ts";
import type { ClusterMap } from "../placement/index.ts";
import type { HealProgress } from "../repair/index.ts";

/** The cluster as the answering node last read its map. */
export interface StatusMap {
  readonly epoch: number;
  readonly nodes: readonly NodeStatus[];
  /** Hosts (nodes) and their disks, with `in`/`out`. */
  readonly placement: ClusterMap;
  /** The node hosting the PG in this map; undefined when none. */
  placementGroupOwner(placementGroupId: number): string | undefined;
}

export interface StatusSourceOptions {
  readonly nodeId: string;
  readonly host: Host;
  /** Undefined before this node has read a map. */
  readonly map: () => StatusMap | undefined;
  /** The disk's actor at its node's live incarnation; undefined when its node is down. */
  readonly diskRef: (diskId: string) => ActorRef<DiskMessage> | undefined;
  /** The PG's actor at its owner's live incarnation; undefined when no live node hosts it. */
  readonly placementGroupRef: (placementGroupId: number) => ActorRef<PlacementGroupMessage> | undefined;
  /** The directory of a disk of this node (for its filesystem's size); undefined for other nodes' disks. */
  readonly localDiskDirectory: (diskId: string) => string | undefined;
  /** How many buckets exist; a read of the metadata store. */
  readonly bucketCount: () => Promise<number>;
  readonly throughput: ThroughputRing;
  /** This node's Healer's totals, where one runs (undefined until it is made). */
  readonly healProgress?: () => HealProgress | undefined;
  /** Bound on each ask and on the metadata read. */
  readonly askTimeoutMs: number;
  /** A report younger than this is answered again instead of gathered anew (default 1 s). */
  readonly reuseMs?: number;
}

const reuseMsDefault = 1_000;

/** A fleet map as the status page reads it: addresses are left out, owners come from the assignments. */
export function statusMapOfFleet(map: FleetMap): StatusMap {
  const owners = new Map(map.placementGroups.map((entry) => [entry.placementGroupId, entry.nodeId]));
  return {
    epoch: map.epoch,
    nodes: map.nodes.map((entry) => ({ nodeId: entry.nodeId, state: entry.state, incarnation: entry.incarnation, roles: [...entry.roles] })),
    placement: map.placement,
    placementGroupOwner: (placementGroupId) => owners.get(placementGroupId),
  };
}

/** Returns the function `withAdminRoutes({ status })` calls. */
export function createStatusSource(options: StatusSourceOptions): () => Promise<StatusReport> {
  const reuseMs = options.reuseMs ?? reuseMsDefault;
  let gathering: Promise<StatusReport> | undefined;
  let latest: { readonly report: StatusReport; readonly atMonotonicMs: number } | undefined;
  return () => {
    const clock = options.host.clock;
    // Only what costs asks is reused; the throughput ring and heal totals are read fresh, so the counts are never behind.
    if (latest !== undefined && clock.monotonicMs() - latest.atMonotonicMs < reuseMs) return Promise.resolve({ ...latest.report, ...localFigures(options) });
    if (gathering !== undefined) return gathering;
    const started = gatherStatus(options).then((report) => {
      latest = { report, atMonotonicMs: clock.monotonicMs() };
      return report;
    });
    gathering = started;
    // Cleared either way, so a failed gathering is retried by the next request.
    void started.finally(() => (gathering = undefined)).catch(() => undefined);
    return started;
  };
}

/** One gathering, without reuse: every figure read now. */
export async function gatherStatus(options: StatusSourceOptions): Promise<StatusReport> {
  const { host, askTimeoutMs } = options;
  const map = options.map();
  const buckets = bounded(host, options.bucketCount(), askTimeoutMs);

  const mapDisks = (map?.placement.hosts ?? []).flatMap((placementHost) => placementHost.disks.map((disk) => ({ ...disk, nodeId: placementHost.hostId })));
  const shown = mapDisks.slice(0, diskRowsMax);
  const answers = await Promise.all(
    shown.map(async (disk) => {
      const ref = options.diskRef(disk.diskId);
      const directory = options.localDiskDirectory(disk.diskId);
      const [reply, filesystem] = await Promise.all([
        ref === undefined ? undefined : host.ask<DiskMessage, StatDiskReply | Fault>(ref, (replyTo) => ({ kind: "StatDisk", replyTo }), askTimeoutMs),
        directory === undefined ? undefined : statfs(directory).catch(() => undefined),
      ]);
      return { reply: reply === undefined || isFault(reply) ? undefined : reply, filesystem };
    }),
  );
  const disks: DiskStatus[] = shown.map((disk, index) => {
    const { reply, filesystem } = answers[index]!;
    return {
      diskId: disk.diskId,
      nodeId: disk.nodeId,
      state: disk.state === "out" ? "out" : reply === undefined ? "down" : "up",
      liveBytes: reply?.liveBytes ?? null,
      deadBytes: reply?.deadBytes ?? null,
      shardCount: reply?.shardCount ?? null,
      filesystemSizeBytes: filesystem === undefined ? null : filesystem.blocks * filesystem.bsize,
      filesystemAvailableBytes: filesystem === undefined ? null : filesystem.bavail * filesystem.bsize,
    };
  });
  // A disk beyond the rows shown was not asked: judged by its node's state in the map.
  const answered = new Set(disks.filter((disk) => disk.state !== "down").map((disk) => disk.diskId));
  const nodeUp = new Set((map?.nodes ?? []).filter((node) => node.state === "up").map((node) => node.nodeId));
  const unasked = new Map(mapDisks.slice(diskRowsMax).map((disk) => [disk.diskId, disk.state === "in" && nodeUp.has(disk.nodeId)]));
  const diskUsable = (diskId: string): boolean => answered.has(diskId) || unasked.get(diskId) === true;

  const placementGroupCount = map?.placement.placementGroupCount ?? 0;
  const probedCount = Math.min(placementGroupCount, placementGroupCellsMax);
  const cells: PlacementGroupCell[] = await Promise.all(
    Array.from({ length: probedCount }, async (_, placementGroupId): Promise<PlacementGroupCell> => {
      const owner = map!.placementGroupOwner(placementGroupId);
      const ref = owner === undefined ? undefined : options.placementGroupRef(placementGroupId);
      if (owner === undefined || ref === undefined) return { placementGroupId, state: "unassigned", nodeId: owner ?? null };
      // The map's epoch, as the data path sends: an acting-set update raises a
      // PG's epoch past that of its assignment, never past the map's.
      const reply = await host.ask<PlacementGroupMessage, GetActingSetReply | Fault>(ref, (replyTo) => ({ kind: "GetActingSet", epoch: map!.epoch, replyTo }), askTimeoutMs);
      const state: PlacementGroupState = isFault(reply) ? (reply.fault === "Fenced" ? "fenced" : "unresponsive") : reply.diskIds.every(diskUsable) ? "active" : "degraded";
      return { placementGroupId, state, nodeId: owner };
    }),
  );
  const counts = Object.fromEntries(statusPlacementGroupStates.map((state) => [state, 0])) as Record<PlacementGroupState, number>;
  for (const cell of cells) counts[cell.state] += 1;
  counts.unprobed += placementGroupCount - probedCount;

  const bucketCount = await buckets;
  const withoutHealth = {
    version: statusReportVersion,
    nodeId: options.nodeId,
    generatedAtMs: host.clock.nowMs(),
    mapEpoch: map?.epoch ?? 0,
    nodes: map?.nodes ?? [],
    disks,
    disksTruncated: mapDisks.length > shown.length,
    placementGroups: { count: placementGroupCount, counts, cells },
    buckets: { count: bucketCount === "timeout" || bucketCount === "failed" ? null : bucketCount },
    ...localFigures(options),
  } as const;
  return { ...withoutHealth, health: assessHealth(withoutHealth) };
}

/** The figures this node keeps in memory: read at every answer, never reused. */
function localFigures(options: StatusSourceOptions): Pick<StatusReport, "throughput" | "heal"> {
  const progress = options.healProgress?.();
  return {
    throughput: options.throughput.status(),
    heal: progress === undefined ? null : { healed: progress.healed, bytesWritten: progress.bytesWritten, deferred: progress.deferred, bytesPerSecondMax: progress.bytesPerSecondMax },
  };
}

/** The read's answer, or why there is none; never waits past `timeoutMs`. */
async function bounded<T>(host: Host, work: Promise<T>, timeoutMs: number): Promise<T | "timeout" | "failed"> {
  const timer = new AbortController();
  try {
    return await Promise.race([work.catch(() => "failed" as const), sleepUnlessAborted(host.clock, timeoutMs, timer.signal).then(() => "timeout" as const)]);
  } finally {
    timer.abort();
  }
}
