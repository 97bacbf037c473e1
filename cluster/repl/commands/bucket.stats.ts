import { bucketPartitionActorPath } from "../../../actors/bucket-partition/index.ts";
import { operatorActorPath, type OperatorMessage } from "../../../actors/operator/index.ts";
import type { BucketStatsCursor, BucketStatsReply } from "../../../actors/operator/protocol.ts";
import type { FleetMap } from "../../membership/index.ts";
import { addBucketStatsCounts, emptyBucketStatsCounts, type BucketStatsCounts } from "../bucket-stats-scan.ts";
import type { ReplCommand } from "../command.ts";
import { expectPositionals, parseArguments } from "../command.ts";
import { ReplError, type ReplSession } from "../session.ts";
import { formatBytes, formatDuration, progressBar, renderTable } from "../table.ts";

/**
 * Pages one count may ask for: 100,000 pages of up to 10,000 records is a
 * billion records, far past any bucket a fleet holds; a count that reaches
 * it stops with an error rather than running on.
 */
const pagesMax = 100_000;

/** A count's progress after each page, for a progress bar. */
export interface BucketCountProgress {
  readonly pages: number;
  readonly records: number;
  /** A rough share done, 0 to 1 (bucket-stats-scan.ts `progressAt`). */
  readonly progress: number;
  readonly counts: BucketStatsCounts;
}

export interface BucketCount {
  readonly bucket: string;
  readonly versioning: string;
  readonly partitionCount: number;
  readonly counts: BucketStatsCounts;
  readonly pages: number;
  readonly records: number;
}

/**
 * Counts `bucket` page by page through the entry node's operator endpoint
 * (one bounded transaction a page, bucket-stats-scan.ts), calling `onPage`
 * after each. Throws `ReplError` for a bucket that does not exist.
 */
export async function countBucket(session: ReplSession, map: FleetMap, bucket: string, onPage?: (progress: BucketCountProgress) => void): Promise<BucketCount> {
  const operator = session.refOn<OperatorMessage>(map, session.entryNodeId, operatorActorPath);
  const counts = emptyBucketStatsCounts();
  let cursor: BucketStatsCursor | undefined;
  let records = 0;
  for (let pages = 1; pages <= pagesMax; pages += 1) {
    const from = cursor;
    const reply = await session.ask<OperatorMessage, BucketStatsReply>(
      operator,
      (replyTo) => ({ kind: "BucketStats", bucket, ...(from === undefined ? {} : { cursor: from }), replyTo }),
      `bucket.stats ${bucket} (page ${pages})`,
    );
    if (reply.outcome === "no-such-bucket") throw new ReplError(`bucket.stats: no bucket ${bucket}`);
    addBucketStatsCounts(counts, reply.counts);
    records += reply.records;
    onPage?.({ pages, records, progress: reply.cursor === undefined ? 1 : reply.progress, counts });
    if (reply.cursor === undefined) return { bucket, versioning: reply.versioning, partitionCount: reply.partitionCount, counts, pages, records };
    cursor = reply.cursor;
  }
  throw new ReplError(`bucket.stats: ${bucket} needs more than ${pagesMax} pages; counted ${records} records so far`);
}

export const bucketStats: ReplCommand = {
  name: "bucket.stats",
  summary: "one bucket: objects, versions, delete markers, bytes, incomplete uploads, versioning, where its partitions run",
  usage: "bucket.stats NAME",
  help:
    "Counts the bucket's records in the metadata store through the entry node's operator endpoint, one bounded " +
    "read-only transaction per page (at most 10,000 records or 1 s each, inside FoundationDB's 5 s limit), so a bucket " +
    "of millions of objects is counted page by page; a progress bar on the terminal follows the pages (its share is " +
    "estimated from where the page's keys lie, not from a known total). OBJECTS are current versions (what a listing " +
    "shows), VERSIONS every version with data, current or not; bytes are object sizes. UPLOADS are multipart uploads " +
    "not completed or aborted, with their parts so far. Pages are not one snapshot: writes during the count may be " +
    "counted or not. The partitions and the nodes running them come from the fleet map.",
  mutates: false,
  complete(map, index) {
    if (index !== 0) return [];
    return [...new Set(map.partitions.map((entry) => entry.bucket))].sort();
  },
  async run(session, args) {
    const { positional } = parseArguments(this, args);
    expectPositionals(this, positional, 1, 1);
    const bucket = positional[0]!;
    const map = await session.map();
    const startMs = session.clock.monotonicMs();
    // The bar goes to a terminal only: a script's stderr gets no carriage-return noise.
    const terminal = process.stderr.isTTY === true;
    const count = await countBucket(session, map, bucket, (progress) => {
      if (!terminal) return;
      process.stderr.write(`\rcounting ${progressBar(progress.progress, 1)}  ${progress.records} records, ${progress.pages} pages `);
    });
    if (terminal) process.stderr.write("\n");
    const elapsedMs = session.clock.monotonicMs() - startMs;
    const { counts } = count;
    const partitions = map.partitions
      .filter((entry) => entry.bucket === bucket)
      .sort((left, right) => left.partition - right.partition)
      .map((entry) => ({
        partition: entry.partition,
        nodeId: entry.nodeId,
        epoch: entry.epoch,
        path: bucketPartitionActorPath(bucket, entry.partition),
        nodeState: map.nodes.find((node) => node.nodeId === entry.nodeId)?.state ?? "unknown",
      }));
    const unassigned = Array.from({ length: count.partitionCount }, (_, partition) => partition).filter(
      (partition) => !partitions.some((entry) => entry.partition === partition),
    );
    const lines = [
      `bucket ${bucket}: versioning ${count.versioning}, ${count.partitionCount} partitions`,
      `counted ${progressBar(1, 1)}  ${count.records} records in ${count.pages} pages, ${formatDuration(elapsedMs)}`,
      renderTable(
        ["WHAT", "COUNT", "BYTES", "SIZE"],
        [
          ["objects (current versions)", counts.objects, counts.objectBytes, formatBytes(counts.objectBytes)],
          ["versions (with data)", counts.versions, counts.versionBytes, formatBytes(counts.versionBytes)],
          ["delete markers", counts.deleteMarkers, 0, "-"],
          ["incomplete uploads", counts.uploads, counts.uploadPartBytes, formatBytes(counts.uploadPartBytes)],
          ["  their parts", counts.uploadParts, counts.uploadPartBytes, formatBytes(counts.uploadPartBytes)],
        ],
      ),
      renderTable(
        ["PARTITION", "NODE", "NODE STATE", "EPOCH", "ACTOR"],
        partitions.map((entry) => [entry.partition, entry.nodeId, entry.nodeState, entry.epoch, entry.path]),
      ),
    ];
    if (unassigned.length > 0) lines.push(`not assigned in map epoch ${map.epoch}: partitions ${unassigned.join(", ")}`);
    return {
      text: lines.join("\n"),
      json: {
        bucket,
        versioning: count.versioning,
        partitionCount: count.partitionCount,
        ...counts,
        pages: count.pages,
        records: count.records,
        partitions,
        unassigned,
        mapEpoch: map.epoch,
      },
    };
  },
};
