/**
 * `bucket.stats`' count, one page at a time: the node side of the operator's
 * `BucketStats` message (operator-endpoint.ts answers it with this).
 *
 * Nothing keeps per-bucket counters, so the count walks the bucket's
 * records. A bucket of a million objects is several million records, far
 * beyond one FoundationDB transaction (5 s, and reads age out after that), so
 * each `BucketStats` ask counts one page: one read-only transaction, bounded
 * by `itemsPerPageMax` records and `msPerPageMax` (runBatchedWork's budget),
 * and answers the page's counts with the cursor to continue from. The REPL
 * sums the pages. Each page is consistent in itself; pages are not one
 * snapshot, so a bucket written to while it is counted may be off by the
 * writes that raced the count.
 *
 * Sections, walked in this order (cluster/metadata/keyspace.ts):
 *
 * | section    | range                    | counts                                                          |
 * |------------|--------------------------|-----------------------------------------------------------------|
 * | `objects`  | `("o", bucket, …)`        | current versions and their bytes; a record older than versioning (format < 3) has no `("ov")` entry and is also a version |
 * | `versions` | `("ov", bucket, …)`       | versions with data and their bytes; delete markers               |
 * | `uploads`  | `("u", bucket, …)`        | incomplete multipart uploads (open or completing); for each, its parts `("up", bucket, uploadId, …)` and their bytes |
 *
 * An upload counts as one item of the budget with all its parts (at most
 * `partNumberMax`, 10,000, small records), so a page may read that many
 * records more than its budget.
 */
import { assert } from "../../runtime/index.ts";
import {
  decodeRecord,
  keyAfter,
  multipartPartRange,
  multipartUploadRange,
  objectRange,
  objectVersionRange,
  partNumberMax,
  runBatchedWork,
  type DecodedRecord,
  type KeyRange,
  type KeyValue,
  type MetaStore,
  type MetaTransaction,
} from "../metadata/index.ts";

export const bucketStatsSections = ["objects", "versions", "uploads"] as const;
export type BucketStatsSection = (typeof bucketStatsSections)[number];

/** Where the next page starts: the first key at or after `fromKey` in `section`'s range. */
export interface BucketStatsCursor {
  readonly section: BucketStatsSection;
  readonly fromKey: Uint8Array;
}

/** What one page (or, summed, the whole bucket) holds. */
export interface BucketStatsCounts {
  /** Current versions (S3's objects): keys whose newest version has data. */
  objects: number;
  objectBytes: number;
  /** Versions with data, current or not. */
  versions: number;
  versionBytes: number;
  deleteMarkers: number;
  /** Incomplete multipart uploads. */
  uploads: number;
  uploadParts: number;
  uploadPartBytes: number;
}

export interface BucketStatsPage {
  readonly counts: BucketStatsCounts;
  /** Where the next page starts; absent once the bucket is counted. */
  readonly cursor?: BucketStatsCursor;
  /** Records read (uploads' parts included). */
  readonly records: number;
  /** A rough share of the walk done after this page, in [0, 1] (see `progressAt`). */
  readonly progress: number;
}

export interface BucketStatsPageOptions {
  readonly monotonicMs: () => number;
  /** Records (uploads: uploads) one page may count; default 10,000. */
  readonly itemsPerPageMax?: number;
  /** Time one page's transaction may run; default 1 s (a fifth of FoundationDB's 5 s). */
  readonly msPerPageMax?: number;
}

export const bucketStatsItemsPerPageDefault = 10_000;
export const bucketStatsMsPerPageDefault = 1_000;
/** Pairs per range read inside a page. */
const readBatchPairs = 1_000;

/** Zero counts, for a sum to start from. */
export function emptyBucketStatsCounts(): BucketStatsCounts {
  return { objects: 0, objectBytes: 0, versions: 0, versionBytes: 0, deleteMarkers: 0, uploads: 0, uploadParts: 0, uploadPartBytes: 0 };
}

/** Adds `page` into `total`. */
export function addBucketStatsCounts(total: BucketStatsCounts, page: BucketStatsCounts): void {
  for (const name of Object.keys(total) as (keyof BucketStatsCounts)[]) total[name] += page[name];
}

function rangeOf(bucket: string, section: BucketStatsSection): KeyRange {
  switch (section) {
    case "objects":
      return objectRange(bucket);
    case "versions":
      return objectVersionRange(bucket);
    case "uploads":
      return multipartUploadRange(bucket);
  }
}

/** The first cursor of a count. */
export function bucketStatsStart(bucket: string): BucketStatsCursor {
  return { section: "objects", fromKey: rangeOf(bucket, "objects").begin };
}

/**
 * Counts one page of `bucket` from `cursor` (the start when undefined) in one
 * transaction. The caller checks the bucket exists; a bucket deleted meanwhile
 * simply has no more records.
 */
export async function countBucketStatsPage(
  store: MetaStore,
  bucket: string,
  cursor: BucketStatsCursor | undefined,
  options: BucketStatsPageOptions,
): Promise<BucketStatsPage> {
  const start = cursor ?? bucketStatsStart(bucket);
  // Set by each attempt of the step: the store may retry a conflicted transaction, and only the last attempt counts.
  let counts = emptyBucketStatsCounts();
  let records = 0;
  let progress = 0;
  const report = await runBatchedWork<BucketStatsCursor>(
    store,
    {
      cursor: start,
      async step(tx, from, budget) {
        counts = emptyBucketStatsCounts();
        records = 0;
        let section = from.section;
        let next = from.fromKey;
        for (;;) {
          const range = rangeOf(bucket, section);
          const batch = await tx.getRange(next, range.end, { limit: readBatchPairs });
          for (const pair of batch) {
            if (budget.exhausted()) {
              progress = await progressAt(tx, bucket, section, pair.key);
              return { done: false, cursor: { section, fromKey: pair.key } };
            }
            records += await countRecord(tx, bucket, section, pair, counts);
            budget.itemDone();
            next = keyAfter(pair.key);
          }
          if (batch.length === readBatchPairs) continue;
          const following = bucketStatsSections[bucketStatsSections.indexOf(section) + 1];
          if (following === undefined) {
            progress = 1;
            return { done: true };
          }
          section = following;
          next = rangeOf(bucket, section).begin;
          // A page that finished a section on its budget's edge continues from the next one.
          if (budget.exhausted()) {
            progress = await progressAt(tx, bucket, section, next);
            return { done: false, cursor: { section, fromKey: next } };
          }
        }
      },
    },
    {
      monotonicMs: options.monotonicMs,
      transactionsMax: 1,
      itemsPerTransactionMax: options.itemsPerPageMax ?? bucketStatsItemsPerPageDefault,
      msPerTransactionMax: options.msPerPageMax ?? bucketStatsMsPerPageDefault,
    },
  );
  return { counts, records, progress, ...(report.cursor === undefined ? {} : { cursor: report.cursor }) };
}

/** Adds one record of `section` to `counts`; returns how many records it read (an upload reads its parts). */
async function countRecord(tx: MetaTransaction, bucket: string, section: BucketStatsSection, pair: KeyValue, counts: BucketStatsCounts): Promise<number> {
  switch (section) {
    case "objects": {
      const decoded = decodeRecord(pair.value);
      const sizeBytes = sizeOf(decoded);
      counts.objects += 1;
      counts.objectBytes += sizeBytes;
      // Written before versioning: the key's one version lives here only (object-versions.ts).
      if (decoded.version < 3) {
        counts.versions += 1;
        counts.versionBytes += sizeBytes;
      }
      return 1;
    }
    case "versions": {
      const decoded = decodeRecord(pair.value);
      if (decoded.kind === "deleteMarker") {
        counts.deleteMarkers += 1;
      } else {
        counts.versions += 1;
        counts.versionBytes += sizeOf(decoded);
      }
      return 1;
    }
    case "uploads": {
      const upload = decodeRecord(pair.value).value as { uploadId: string };
      const parts = multipartPartRange(bucket, upload.uploadId);
      // Parts of one upload are at most partNumberMax: one bounded read.
      const stored = await tx.getRange(parts.begin, parts.end, { limit: partNumberMax + 1 });
      counts.uploads += 1;
      counts.uploadParts += stored.length;
      for (const part of stored) counts.uploadPartBytes += (decodeRecord(part.value).value as { sizeBytes: number }).sizeBytes;
      return 1 + stored.length;
    }
  }
}

/**
 * An object record's size, read from the decoded value: every object record
 * version (1 to 3) keeps `sizeBytes` at its top level, so the full
 * `decodeObjectRecord` (which rebuilds older layouts) is not needed to count.
 */
function sizeOf(decoded: DecodedRecord): number {
  const sizeBytes = (decoded.value as { sizeBytes?: unknown }).sizeBytes;
  assert(decoded.kind === "object" && typeof sizeBytes === "number" && sizeBytes >= 0, `bucket stats: an object record without a size (kind ${decoded.kind})`);
  return sizeBytes;
}

/** Share of the whole walk each section stands for, in walk order: uploads are few next to objects and versions. */
const sectionWeights: Readonly<Record<BucketStatsSection, number>> = { objects: 0.45, versions: 0.45, uploads: 0.1 };

/**
 * A rough share of the walk done when the next page starts at `key` of
 * `section`: the sections before it, plus where `key` lies between the
 * section's first and last keys, read as a base-256 fraction of the bytes
 * after the prefix those two share. Keys spread evenly over that span give a
 * fair estimate; skewed keys move the bar unevenly, never backwards within
 * a section. Two single-key reads per page.
 */
async function progressAt(tx: MetaTransaction, bucket: string, section: BucketStatsSection, key: Uint8Array): Promise<number> {
  let done = 0;
  for (const earlier of bucketStatsSections) {
    if (earlier === section) break;
    done += sectionWeights[earlier];
  }
  const range = rangeOf(bucket, section);
  const [first] = await tx.getRange(range.begin, range.end, { limit: 1 });
  const [last] = await tx.getRange(range.begin, range.end, { limit: 1, reverse: true });
  if (first === undefined || last === undefined) return done;
  return done + sectionWeights[section] * spanFraction(first.key, last.key, key);
}

/** Where `key` lies in [first, last], in [0, 1], from up to 6 bytes after their common prefix. */
export function spanFraction(first: Uint8Array, last: Uint8Array, key: Uint8Array): number {
  let shared = 0;
  while (shared < first.length && shared < last.length && first[shared] === last[shared]) shared += 1;
  const digits = 6;
  const valueOf = (bytes: Uint8Array): number => {
    let value = 0;
    for (let index = 0; index < digits; index += 1) value = value * 256 + (bytes[shared + index] ?? 0);
    return value;
  };
  const low = valueOf(first);
  const high = valueOf(last);
  if (high <= low) return 0;
  return Math.min(1, Math.max(0, (valueOf(key) - low) / (high - low)));
}
