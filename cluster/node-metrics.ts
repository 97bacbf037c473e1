/**
 * What a node reports about itself at `/_cairn/metrics` and `/_cairn/health`,
 * beyond the S3 request metrics: its disks, the placement groups it hosts,
 * its actors, its transport and its process. Everything is read at scrape
 * time from its source (disk and PG actors are asked, with a timeout), so a
 * scrape never shows a figure older than itself.
 *
 * Only what is true today: heal progress is the Healer's own totals when the
 * wiring passes them (`healProgress`), and PG states are the ones this node
 * can tell apart (below).
 */
import { statfs } from "node:fs/promises";
import type { DiskMessage, StatDiskReply } from "../actors/disk/protocol.ts";
import type { GetActingSetReply, PlacementGroupMessage } from "../actors/placement-group/protocol.ts";
import { isFault, registerProcessMetrics, sleepUnlessAborted, type ActorRef, type Fault, type Host, type MetricsRegistry, type TransportStats } from "../runtime/index.ts";
import type { HealthCheck, HealthReport } from "../gateway/index.ts";
import type { HealProgress } from "./repair/index.ts";

/** A disk of this node. */
export interface LocalDisk {
  readonly diskId: string;
  readonly ref: ActorRef<DiskMessage>;
  readonly directory: string;
}

/** A PG actor hosted here, with the epoch it was started (or last told) at. */
export interface HostedPlacementGroup {
  readonly placementGroupId: number;
  readonly ref: ActorRef<PlacementGroupMessage>;
  readonly epoch: number;
}

export interface NodeMetricsOptions {
  readonly registry: MetricsRegistry;
  readonly host: Host;
  readonly disks: () => Iterable<LocalDisk>;
  readonly placementGroups: () => Iterable<HostedPlacementGroup>;
  /**
   * Whether a disk on another node is usable as far as this node knows (its
   * node is up in the map). Disks of this node are judged by their own answer.
   */
  readonly remoteDiskUsable: (diskId: string) => boolean;
  /** Running actors by kind ("disk", "placementGroup", "bucketPartition", …). */
  readonly actorCounts: () => Readonly<Record<string, number>>;
  /** The node-to-node transport, on a fleet node. */
  readonly transport?: { stats(): TransportStats; outboxTotals(): { readonly messages: number; readonly bytes: number } };
  /** The node's Healer's totals (cluster/repair/), where one runs. */
  readonly healProgress?: () => HealProgress;
  /** Orphaned shards this node's orphan sweep deleted (cluster/repair/orphan-sweeper.ts), where one runs. */
  readonly orphansDeleted?: () => number;
  /** Bound on each ask a scrape makes. */
  readonly askTimeoutMs: number;
}

/**
 * PG states this node can tell apart: `active` (answers, every disk of its
 * acting set usable), `degraded` (answers, some disk of its acting set is
 * not), `fenced` (refuses its own epoch: a newer owner exists), and
 * `unresponsive` (no answer within the bound).
 */
export const placementGroupStates = ["active", "degraded", "fenced", "unresponsive"] as const;

/** Registers the node's gauges and counters on `registry`; they are filled at each scrape. */
export function registerNodeMetrics(options: NodeMetricsOptions): void {
  const { registry, host } = options;
  registerProcessMetrics(registry);
  const diskUp = registry.gauge({ name: "cairn_disk_up", help: "1 when the disk actor answered this scrape's StatDisk, else 0.", labelNames: ["disk"], seriesMax: 256 });
  const diskLive = registry.gauge({ name: "cairn_disk_live_bytes", help: "Bytes of live shard records in the disk's volumes.", labelNames: ["disk"], seriesMax: 256 });
  const diskDead = registry.gauge({ name: "cairn_disk_dead_bytes", help: "Bytes of deleted or superseded records not yet compacted away.", labelNames: ["disk"], seriesMax: 256 });
  const diskShards = registry.gauge({ name: "cairn_disk_shards", help: "Live shards on the disk.", labelNames: ["disk"], seriesMax: 256 });
  const diskVolumes = registry.gauge({ name: "cairn_disk_volumes", help: "Volume files of the disk.", labelNames: ["disk"], seriesMax: 256 });
  const fsSize = registry.gauge({ name: "cairn_disk_filesystem_size_bytes", help: "Size of the filesystem holding the disk directory.", labelNames: ["disk"], seriesMax: 256 });
  const fsAvailable = registry.gauge({
    name: "cairn_disk_filesystem_available_bytes",
    help: "Bytes of that filesystem available to this process (statfs bavail).",
    labelNames: ["disk"],
    seriesMax: 256,
  });
  const placementGroups = registry.gauge({ name: "cairn_placement_groups", help: "PGs hosted on this node, by state.", labelNames: ["state"] });
  const actors = registry.gauge({ name: "cairn_actors", help: "Actors running on this node, by kind.", labelNames: ["kind"] });
  const deadLetters = registry.counter({ name: "cairn_dead_letters_total", help: "Messages this node's host could not deliver (counted and logged as dead-letter)." });

  registry.onCollect(async () => {
    const usable = new Set<string>();
    const disks = [...options.disks()];
    const stats = await Promise.all(
      disks.map((disk) => host.ask<DiskMessage, StatDiskReply | Fault>(disk.ref, (replyTo) => ({ kind: "StatDisk", replyTo }), options.askTimeoutMs)),
    );
    const filesystems = await Promise.all(disks.map((disk) => statfs(disk.directory).catch(() => undefined)));
    for (const gauge of [diskUp, diskLive, diskDead, diskShards, diskVolumes, fsSize, fsAvailable]) gauge.clear();
    disks.forEach((disk, index) => {
      const labels = { disk: disk.diskId };
      const reply = stats[index]!;
      diskUp.set(labels, isFault(reply) ? 0 : 1);
      if (!isFault(reply)) {
        usable.add(disk.diskId);
        diskLive.set(labels, reply.liveBytes);
        diskDead.set(labels, reply.deadBytes);
        diskShards.set(labels, reply.shardCount);
        diskVolumes.set(labels, reply.volumeCount);
      }
      const filesystem = filesystems[index];
      if (filesystem !== undefined) {
        fsSize.set(labels, filesystem.blocks * filesystem.bsize);
        fsAvailable.set(labels, filesystem.bavail * filesystem.bsize);
      }
    });
    const localDisks = new Set(disks.map((disk) => disk.diskId));
    const diskUsable = (diskId: string): boolean => (localDisks.has(diskId) ? usable.has(diskId) : options.remoteDiskUsable(diskId));

    const hosted = [...options.placementGroups()];
    const replies = await Promise.all(
      hosted.map((group) =>
        host.ask<PlacementGroupMessage, GetActingSetReply | Fault>(group.ref, (replyTo) => ({ kind: "GetActingSet", epoch: group.epoch, replyTo }), options.askTimeoutMs),
      ),
    );
    const counts = new Map<string, number>(placementGroupStates.map((state) => [state, 0]));
    for (const reply of replies) {
      const state = !isFault(reply) ? (reply.diskIds.every(diskUsable) ? "active" : "degraded") : reply.fault === "Fenced" ? "fenced" : "unresponsive";
      counts.set(state, counts.get(state)! + 1);
    }
    for (const [state, count] of counts) placementGroups.set({ state }, count);

    actors.clear();
    for (const [kind, count] of Object.entries(options.actorCounts())) actors.set({ kind }, count);
    addUpTo(deadLetters, host.deadLetterCount());
  });

  const healProgress = options.healProgress;
  if (healProgress !== undefined) {
    const healed = registry.counter({ name: "cairn_heal_shards_healed_total", help: "Shards the Healer rebuilt onto their acting-set disk." });
    const healedBytes = registry.counter({ name: "cairn_heal_bytes_written_total", help: "Bytes the Healer wrote while rebuilding shards." });
    const deferred = registry.counter({ name: "cairn_heal_shards_deferred_total", help: "Heal attempts put off (too few sources or a disk unreachable); the entries stay listed." });
    const pace = registry.gauge({ name: "cairn_heal_bytes_per_second_max", help: "The Healer's pace limit." });
    registry.onCollect(() => {
      const progress = healProgress();
      addUpTo(healed, progress.healed);
      addUpTo(healedBytes, progress.bytesWritten);
      addUpTo(deferred, progress.deferred);
      pace.set({}, progress.bytesPerSecondMax);
    });
  }

  const orphansDeleted = options.orphansDeleted;
  if (orphansDeleted !== undefined) {
    const deleted = registry.counter({ name: "cairn_orphan_shards_deleted_total", help: "Shards no placement group reads any more, deleted by the orphan sweep." });
    registry.onCollect(() => addUpTo(deleted, orphansDeleted()));
  }

  const transport = options.transport;
  if (transport !== undefined) {
    const outboxMessages = registry.gauge({ name: "cairn_transport_outbox_messages", help: "Messages waiting in the transport's outboxes (link down or socket above its high-water mark)." });
    const outboxBytes = registry.gauge({ name: "cairn_transport_outbox_bytes", help: "Bytes waiting in the transport's outboxes." });
    const sent = registry.counter({ name: "cairn_transport_messages_sent_total", help: "Messages written to node-to-node links." });
    const received = registry.counter({ name: "cairn_transport_messages_received_total", help: "Messages received from node-to-node links." });
    const partBytes = registry.counter({ name: "cairn_transport_part_bytes_sent_total", help: "Shard bytes sent as binary part frames." });
    const refused = registry.counter({ name: "cairn_transport_frames_refused_total", help: "Malformed or oversized frames that closed a link." });
    const authFailures = registry.counter({ name: "cairn_transport_authentication_failures_total", help: "Handshakes refused for a wrong proof." });
    registry.onCollect(() => {
      const totals = transport.outboxTotals();
      outboxMessages.set({}, totals.messages);
      outboxBytes.set({}, totals.bytes);
      const stats = transport.stats();
      addUpTo(sent, stats.messagesSent);
      addUpTo(received, stats.messagesReceived);
      addUpTo(partBytes, stats.partBytesSent);
      addUpTo(refused, stats.framesRefused);
      addUpTo(authFailures, stats.authenticationFailures);
    });
  }
}

/** Moves an unlabelled counter up to a total kept elsewhere (the host's and transport's own counts). */
function addUpTo(counter: { value(): number; inc(labels: Record<never, string>, amount: number): void }, total: number): void {
  const delta = total - counter.value();
  if (delta > 0) counter.inc({}, delta);
}

export interface NodeHealthOptions {
  readonly nodeId: string;
  readonly host: Host;
  readonly disks: () => Iterable<LocalDisk>;
  /** A small read of the metadata store; rejects or hangs when the store is unusable. */
  readonly probeMetadata: () => Promise<unknown>;
  /** More checks of the node's role (membership on a fleet node, stopping). */
  readonly extraChecks?: () => Readonly<Record<string, HealthCheck>>;
  readonly timeoutMs: number;
}

/** Runs the health checks: metadata store readable, every local disk answering, and the extra checks. */
export async function checkNodeHealth(options: NodeHealthOptions): Promise<HealthReport> {
  const { host, timeoutMs } = options;
  const metadata = withTimeout(host, options.probeMetadata(), timeoutMs).then(
    (outcome): HealthCheck => (outcome === "timeout" ? { ok: false, detail: `no answer within ${timeoutMs} ms` } : { ok: true }),
    (error: unknown): HealthCheck => ({ ok: false, detail: error instanceof Error ? error.message : String(error) }),
  );
  const disks = [...options.disks()];
  const replies = await Promise.all(disks.map((disk) => host.ask<DiskMessage, StatDiskReply | Fault>(disk.ref, (replyTo) => ({ kind: "StatDisk", replyTo }), timeoutMs)));
  const failing = disks.filter((_, index) => isFault(replies[index])).map((disk) => disk.diskId);
  const checks: Record<string, HealthCheck> = {
    metadata: await metadata,
    disks: failing.length === 0 ? { ok: true, detail: `${disks.length} answering` } : { ok: false, detail: `not answering: ${failing.join(", ")}` },
    ...options.extraChecks?.(),
  };
  return { nodeId: options.nodeId, checks };
}

async function withTimeout<T>(host: Host, work: Promise<T>, timeoutMs: number): Promise<T | "timeout"> {
  const timer = new AbortController();
  try {
    return await Promise.race([work, sleepUnlessAborted(host.clock, timeoutMs, timer.signal).then(() => "timeout" as const)]);
  } finally {
    timer.abort();
  }
}
