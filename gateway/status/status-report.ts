/**
 * What `/_cairn/status.json` answers and `/_cairn/status` draws: one node's
 * view of the whole cluster, gathered on request (cluster/status/). Figures
 * only: node and disk ids, states, counts and sizes; never a key, a bucket
 * name, a credential or object data.
 *
 * Format version 1 (the JSON body; `version` is its first field):
 *
 * | field | type | meaning |
 * |---|---|---|
 * | `version` | 1 | this table |
 * | `nodeId` | string | the node that answered |
 * | `generatedAtMs` | number | its wall clock when it gathered the figures |
 * | `mapEpoch` | number | the cluster map epoch the figures belong to |
 * | `health` | `{ level, problem, problems[] }` | `ok` / `warning` / `critical`, the worst problem in words, up to `problemsMax` |
 * | `nodes` | `NodeStatus[]` | every node in the map (≤ 1024, the map's own bound) |
 * | `disks` | `DiskStatus[]` | every disk in the map, up to `diskRowsMax` (`disksTruncated` says when more exist) |
 * | `placementGroups` | `PlacementGroupsStatus` | counts by state over all PGs; one cell per PG up to `placementGroupCellsMax` |
 * | `buckets` | `{ count }` | how many buckets exist (names are not shown: they can be sensitive); `null` when the metadata store did not answer in time |
 * | `throughput` | `ThroughputStatus` | request and byte rates, one sample per `intervalMs` over the last `windowMs`, plus the totals |
 * | `heal` | `HealStatus \| null` | the Healer's totals on this node, when one runs here |
 */

export const statusReportVersion = 1;
/** Bounds that keep the JSON small enough to poll every two seconds. */
export const placementGroupCellsMax = 4096;
export const diskRowsMax = 1024;
export const problemsMax = 10;

export type HealthLevel = "ok" | "warning" | "critical";

/**
 * States a PG can be shown in, as the answering node can tell them apart:
 * `active` (its actor answers and every disk of its acting set answers or is
 * up in the map), `degraded` (answers, but some acting-set disk does not:
 * reads decode from the rest and the Healer rebuilds), `unassigned` (no live
 * node hosts it in this map: its objects cannot be written until the manager
 * moves it), `fenced` (its actor refuses the answering node's map epoch as stale: that
 * map is behind, or a newer owner exists),
 * `unresponsive` (no answer within the bound), `unprobed` (beyond
 * `placementGroupCellsMax`: not asked, so not judged).
 */
export const placementGroupStates = ["active", "degraded", "unassigned", "fenced", "unresponsive", "unprobed"] as const;
export type PlacementGroupState = (typeof placementGroupStates)[number];

export interface NodeStatus {
  readonly nodeId: string;
  /** `joining`, `up` or `down`, as the map says. */
  readonly state: string;
  readonly incarnation: number;
  readonly roles: readonly string[];
}

export interface DiskStatus {
  readonly diskId: string;
  readonly nodeId: string;
  /**
   * `up`: its actor answered a StatDisk now; `down`: it did not (or its node
   * is down in the map); `out`: taken out of placement by the operator.
   */
  readonly state: "up" | "down" | "out";
  /** Bytes of live and of not-yet-compacted dead records, when the disk answered. */
  readonly liveBytes: number | null;
  readonly deadBytes: number | null;
  readonly shardCount: number | null;
  /** The filesystem holding the disk, known only for this node's own disks. */
  readonly filesystemSizeBytes: number | null;
  readonly filesystemAvailableBytes: number | null;
}

export interface PlacementGroupCell {
  readonly placementGroupId: number;
  readonly state: PlacementGroupState;
  /** The node hosting it in the map, when one does. */
  readonly nodeId: string | null;
}

export interface PlacementGroupsStatus {
  readonly count: number;
  readonly counts: Readonly<Record<PlacementGroupState, number>>;
  /** PGs 0.. in order, at most `placementGroupCellsMax`. */
  readonly cells: readonly PlacementGroupCell[];
}

export interface ThroughputSample {
  /** Wall-clock time at the end of the interval. */
  readonly atMs: number;
  readonly intervalMs: number;
  readonly requestsPerSecond: number;
  readonly errorsPerSecond: number;
  readonly bytesInPerSecond: number;
  readonly bytesOutPerSecond: number;
}

export interface ThroughputStatus {
  /** The sampling period of `samples`. */
  readonly intervalMs: number;
  /** The span the ring keeps: `intervalMs` times its capacity. */
  readonly windowMs: number;
  /** Oldest first; the last one runs from the latest sample to now, so fresh traffic shows at once. */
  readonly samples: readonly ThroughputSample[];
  /** Since this node's process started (S3 requests it answered, body bytes in and out). */
  readonly totals: { readonly requests: number; readonly errors: number; readonly bytesReceived: number; readonly bytesSent: number };
}

export interface HealStatus {
  readonly healed: number;
  readonly bytesWritten: number;
  readonly deferred: number;
  readonly bytesPerSecondMax: number;
}

export interface StatusHealth {
  readonly level: HealthLevel;
  readonly problem: string;
  readonly problems: readonly { readonly level: HealthLevel; readonly text: string }[];
}

export interface StatusReport {
  readonly version: typeof statusReportVersion;
  readonly nodeId: string;
  readonly generatedAtMs: number;
  readonly mapEpoch: number;
  readonly health: StatusHealth;
  readonly nodes: readonly NodeStatus[];
  readonly disks: readonly DiskStatus[];
  readonly disksTruncated: boolean;
  readonly placementGroups: PlacementGroupsStatus;
  readonly buckets: { readonly count: number | null };
  readonly throughput: ThroughputStatus;
  readonly heal: HealStatus | null;
}

/** A filesystem fuller than this is a warning: volume appends start failing when it is full. */
export const filesystemUsedFractionWarning = 0.9;

/**
 * The overall verdict and the problems behind it, worst first. Critical:
 * something clients feel now (PGs nobody serves or that do not answer).
 * Warning: redundancy or capacity is reduced but every PG is served.
 */
export function assessHealth(report: Omit<StatusReport, "health">): StatusHealth {
  const problems: { level: HealthLevel; text: string }[] = [];
  const counts = report.placementGroups.counts;
  if (report.nodes.length === 0) problems.push({ level: "critical", text: "this node has not read a cluster map yet" });
  if (report.buckets.count === null) problems.push({ level: "critical", text: "metadata store not answering: objects cannot be read or written" });
  const plural = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;
  if (counts.unassigned > 0) problems.push({ level: "critical", text: `${plural(counts.unassigned, "PG")} hosted by no live node: their objects cannot be read or written` });
  if (counts.unresponsive > 0) problems.push({ level: "critical", text: `${plural(counts.unresponsive, "PG")} not answering` });
  if (counts.fenced > 0) problems.push({ level: "warning", text: `${plural(counts.fenced, "PG")} fenced: owner at a newer epoch than this node's map` });
  const downNodes = report.nodes.filter((node) => node.state === "down").map((node) => node.nodeId);
  if (downNodes.length > 0) problems.push({ level: "warning", text: `${plural(downNodes.length, "node")} down: ${listed(downNodes)}` });
  const downDisks = report.disks.filter((disk) => disk.state === "down").map((disk) => disk.diskId);
  if (downDisks.length > 0) problems.push({ level: "warning", text: `${plural(downDisks.length, "disk")} not answering: ${listed(downDisks)}` });
  if (counts.degraded > 0) problems.push({ level: "warning", text: `${plural(counts.degraded, "PG")} degraded: a disk of their acting set is unusable, reads decode from the rest` });
  const full = report.disks.filter(
    (disk) =>
      disk.filesystemSizeBytes !== null &&
      disk.filesystemAvailableBytes !== null &&
      disk.filesystemSizeBytes > 0 &&
      1 - disk.filesystemAvailableBytes / disk.filesystemSizeBytes > filesystemUsedFractionWarning,
  );
  if (full.length > 0) problems.push({ level: "warning", text: `${plural(full.length, "disk")} over ${filesystemUsedFractionWarning * 100}% full: ${listed(full.map((disk) => disk.diskId))}` });
  const joining = report.nodes.filter((node) => node.state === "joining").map((node) => node.nodeId);
  if (joining.length > 0) problems.push({ level: "warning", text: `${plural(joining.length, "node")} joining: ${listed(joining)}` });
  const out = report.disks.filter((disk) => disk.state === "out").length;
  if (out > 0) problems.push({ level: "warning", text: `${plural(out, "disk")} out of placement` });
  if (problems.length === 0) {
    const upNodes = report.nodes.filter((node) => node.state === "up").length;
    const upDisks = report.disks.filter((disk) => disk.state === "up").length;
    return { level: "ok", problem: `all ${plural(counts.active, "PG")} active on ${plural(upDisks, "disk")}, ${plural(upNodes, "node")} up`, problems: [] };
  }
  // Stable sort: within a level, the order above is the order of importance.
  problems.sort((left, right) => levelRank(right.level) - levelRank(left.level));
  const worst = problems[0]!;
  return { level: worst.level, problem: worst.text, problems: problems.slice(0, problemsMax) };
}

function levelRank(level: HealthLevel): number {
  return level === "critical" ? 2 : level === "warning" ? 1 : 0;
}

/** Names a few ids and counts the rest, so one line stays one line. */
function listed(ids: readonly string[]): string {
  const shownMax = 4;
  return ids.length <= shownMax ? ids.join(", ") : `${ids.slice(0, shownMax).join(", ")} and ${ids.length - shownMax} more`;
}
