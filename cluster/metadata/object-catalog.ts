/**
 * Bucket and object metadata over a `MetaStore`: the model the gateway's
 * object service writes and reads.
 *
 * Record formats (see `record-codec.ts` for the envelope):
 *
 * | kind, version | key                  | fields                                                      |
 * |---------------|----------------------|-------------------------------------------------------------|
 * | bucket, 1     | `("b", name)`        | `name`, `createdMs` (reads as versioning "Unversioned")     |
 * | bucket, 2     | `("b", name)`        | `name`, `createdMs`, `versioning` ("Unversioned" / "Enabled" / "Suspended") (reads as `partitionCount` 4) |
 * | bucket, 3     | `("b", name)`        | version 2's fields and `partitionCount`: how many bucket partitions its keys hash into, fixed at creation; optional `owner` (below) |
 * | object, 1     | `("o", bucket, key)` | `ObjectRecord` fields with `diskId`, `chunkBytes`, `chunkCount` instead of `layout`, no `versionId` |
 * | object, 2     | `("o", bucket, key)` | `ObjectRecord` without `versionId` (reads as the null version) |
 * | object, 3     | `("o", …)`, `("ov", …)` | `ObjectRecord` with `versionId`                           |
 * | pending, 1-2  | `("p", dataId)`      | `PendingRecord` (bytes being written, not yet committed)    |
 * | garbage, 1-2  | `("g", dataId)`      | `PendingRecord` (bytes of a replaced or deleted version)    |
 * | bucketConfiguration, 1 | `("bc", bucket, name)` | `document`: the configuration's bytes as the gateway stored them (at most `bucketConfigurationBytesMax[name]`) |
 *
 * `BucketRecord.owner` (issue 6, the name of the user that created the
 * bucket) was added to bucket version 3 as an optional field without a
 * version bump: a record without it belongs to the admins, which is who
 * created every bucket before there were other users.
 *
 * `ObjectRecord.checksum` (issue 6, the client's verified `x-amz-checksum-*`)
 * was added to object version 3 as an optional field without a version bump:
 * records written before it simply lack it and read as "no checksum stored",
 * which is also what an object uploaded without a checksum has.
 *
 * `ObjectRecord.tags` (issue 6, S3 object tagging: at most 10 `{ key, value }`
 * pairs in the order the client sent them) was added the same way: a record
 * without it, or written before it, has no tags. An empty tag set is stored
 * by leaving the field out.
 *
 * The versioned model (`("ov")` versions, delete markers, the null version,
 * idempotency tokens) and its invariants are in `object-versions.ts`.
 *
 * Invariants: an object record exists only under an existing bucket; a
 * `dataId` is referenced by at most one of {an object record, a pending
 * record, a garbage record} once a commit has finished, so freeing garbage
 * never frees live bytes.
 */
import { assert, systemClock } from "../../runtime/index.ts";
import { keyAfter } from "./bytes.ts";
import {
  bucketConfigurationKey,
  bucketConfigurationRange,
  bucketKey,
  bucketRange,
  garbageKey,
  garbageRange,
  idempotencyTokenBucketRange,
  objectKey,
  objectRange,
  multipartUploadRange,
  objectVersionRange,
  pendingKey,
  pendingRange,
} from "./keyspace.ts";
import {
  abandonStalePendingStep,
  commitPutStep,
  deleteCurrentStep,
  deleteVersionStep,
  headStep,
  listVersionsSteps,
  migrateLegacyStep,
  removeExpiredTokensStep,
  setObjectTagsStep,
  versioningOf,
  versionListStart,
  type CommitCondition,
  type CommitPutInput,
  type CommitPutResult,
  type CommitRefusal,
  type DeleteResult,
  type HeadResult,
  type ListVersionsRequest,
  type ListVersionsResult,
  type SetTagsResult,
  type VersionListState,
} from "./object-versions.ts";
import { listObjects } from "./object-listing.ts";
import { MultipartCatalog } from "./multipart-uploads.ts";
import type { ListObjectsRequest, ListObjectsResult } from "./object-listing.ts";
import { decodeRecordOf, encodeRecord } from "./record-codec.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

/** A bucket's versioning state; "Unversioned" until versioning was ever configured. */
export type BucketVersioning = "Unversioned" | "Enabled" | "Suspended";

export interface BucketRecord {
  name: string;
  createdMs: number;
  /** Absent in version-1 records: "Unversioned". */
  versioning?: BucketVersioning;
  /**
   * How many bucket partitions the bucket's keys hash into (`bucketPartitionOf`
   * in actors/bucket-partition). Fixed when the bucket is created: a key's
   * partition must never change while the bucket exists. Absent in version-1
   * and version-2 records, which read as `bucketPartitionCountDefault`.
   */
  partitionCount?: number;
  /** The name of the user that created the bucket; absent: the admins' (every bucket created before users existed). */
  owner?: string;
}

/** The per-bucket configuration documents the catalog keeps (`("bc", bucket, name)`). */
export type BucketConfigurationName = "tagging" | "cors" | "policy";

/**
 * The largest document of each name, in bytes. S3 caps a bucket policy at
 * 20 KiB and a CORS configuration at 64 KiB. Tagging has no published byte
 * cap: 50 tags of 128 + 256 characters at 4 UTF-8 bytes each are 76,800
 * bytes before framing, so 80 KiB holds every valid tag set (16 KiB would
 * refuse valid sets of long non-ASCII tags). A record stays below every
 * backend's value limit (FoundationDB: 100 kB).
 */
export const bucketConfigurationBytesMax: Readonly<Record<BucketConfigurationName, number>> = {
  tagging: 80 * 1024,
  cors: 64 * 1024,
  policy: 20 * 1024,
};

const bucketConfigurationRecordVersion = 1;

/** Partitions of a bucket created without a count, and of every bucket record written before counts were stored. */
export const bucketPartitionCountDefault = 4;
/** Most partitions one bucket may have: each is a unit the fleet map assigns (a few KB of map each). */
export const bucketPartitionCountMax = 64;

/** The partition count of a bucket record of any version. */
export function partitionCountOf(bucket: BucketRecord): number {
  return bucket.partitionCount ?? bucketPartitionCountDefault;
}

export interface ObjectHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
}

/**
 * Where an object's bytes live. Placement is computed, not stored: a record
 * names its placement group, and the PG's acting set (position = shard
 * index) names the disks, so repair never rewrites an object record.
 *
 * - `single`: the whole object on one disk, in chunks `dataId/i` (written
 *   by the foundation issue; version-1 records decode to it, still readable).
 * - `replicated`: the object in chunks `dataId/i`, each on the first `copies`
 *   disks of the acting set (small objects).
 * - `erasure`: stripes of `dataShards × shardBytes` bytes; shard `j` of
 *   stripe `i` is `dataId/i.j` on acting-set position `j`.
 *
 * In a pending record the count (`chunkCount`, `stripeCount`) is -1: the
 * PUT did not finish, so how many were written is unknown.
 */
export type DataLayout =
  | { kind: "single"; diskId: string; chunkBytes: number; chunkCount: number }
  | { kind: "replicated"; placementGroupId: number; copies: number; chunkBytes: number; chunkCount: number }
  | {
      kind: "erasure";
      placementGroupId: number;
      dataShards: number;
      parityShards: number;
      shardBytes: number;
      stripeCount: number;
    }
  | {
      /**
       * A completed multipart upload: the bytes are its parts, in part-number
       * order, each with its own layout, listed at ("up", bucket, uploadId, n)
       * (multipart-uploads.ts). The object owns those entries: freeing it frees
       * every part they name, then the entries. `partCount` -1: unknown (an
       * aborted upload handed to the garbage collector).
       */
      kind: "multipart";
      placementGroupId: number;
      bucket: string;
      uploadId: string;
      partCount: number;
    };

export interface ObjectRecord {
  bucket: string;
  key: string;
  sizeBytes: number;
  etag: string;
  lastModifiedMs: number;
  storageClass: string;
  headers: ObjectHeaders;
  userMetadata: Record<string, string>;
  /** Identity of the stored bytes. */
  dataId: string;
  layout: DataLayout;
  /** S3 version id; "null" for the null version (and for records written before versioning). */
  versionId: string;
  /** S3 object tags in the client's order, never empty; absent when the version has none (and in records older than the field). */
  tags?: ObjectTag[];
  /** The verified client checksum (base64 value); absent when none was sent, and in records older than the field. */
  checksum?: {
    algorithm: "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";
    value: string;
    type: "FULL_OBJECT" | "COMPOSITE";
  };
}

/** One S3 object tag; the gateway validated it (key 1-128, value 0-256 Unicode characters). */
export interface ObjectTag {
  key: string;
  value: string;
}

export interface PendingRecord {
  dataId: string;
  layout: DataLayout;
  createdMs: number;
}

export type { ListObjectsRequest, ListObjectsResult } from "./object-listing.ts";

/** Version 3 object records carry a `versionId`; version 2 a `DataLayout`; version 1 had `diskId`, `chunkBytes`, `chunkCount` (the `single` layout). */
const objectRecordVersion = 3;
/** Pending and garbage records: version 2 carries a `DataLayout`. */
const dataRecordVersion = 2;
const bucketRecordVersion = 3;
/** Pairs per range read when listing buckets or pending records. */
const readBatchMax = 1_000;
/** Pending records examined per `abandonStalePending` call. */
const pendingScanMax = 10_000;
/**
 * First batch of a delimited version listing: small, then doubling while no
 * key rolls up, so the versions read beneath one common prefix before the
 * seek are bounded by the batch size, never by how many it holds.
 */
const versionListBatchInitial = 8;
/** Range reads per version-listing transaction, keeping each far inside FDB's 5 s limit. */
const versionListReadsPerTransactionMax = 16;

/** Encodes an object record as stored (kind `object`, version 3). */
export function encodeObjectRecord(record: ObjectRecord): Uint8Array {
  assert(typeof record.versionId === "string" && record.versionId !== "", "an object record carries its version id");
  return encodeRecord("object", objectRecordVersion, withoutUndefined(record));
}

/** Decodes a stored object record of any version; records from before versioning are the null version. */
export function decodeObjectRecord(bytes: Uint8Array): ObjectRecord {
  const record = decodeRecordOf("object", bytes);
  if (record.version === 3) return record.value as ObjectRecord;
  if (record.version === 2) return { ...(record.value as Omit<ObjectRecord, "versionId">), versionId: "null" };
  assert(record.version === 1, `unknown object record version ${record.version}`);
  const { diskId, chunkBytes, chunkCount, ...rest } = record.value as Omit<ObjectRecord, "layout" | "versionId"> & SingleLayoutFieldsV1;
  return { ...rest, layout: { kind: "single", diskId, chunkBytes, chunkCount }, versionId: "null" };
}

/** The fields of a version-1 object or data record that version 2 moved into `layout`. */
interface SingleLayoutFieldsV1 {
  diskId: string;
  chunkBytes: number;
  chunkCount: number;
}

export function encodeBucketRecord(record: BucketRecord): Uint8Array {
  return encodeRecord("bucket", bucketRecordVersion, {
    name: record.name,
    createdMs: record.createdMs,
    versioning: record.versioning ?? "Unversioned",
    partitionCount: partitionCountOf(record),
    ...(record.owner === undefined ? {} : { owner: record.owner }),
  });
}

export function decodeBucketRecord(bytes: Uint8Array): BucketRecord {
  const record = decodeRecordOf("bucket", bytes);
  if (record.version === 3) return record.value as BucketRecord;
  if (record.version === 2) return { ...(record.value as Omit<BucketRecord, "partitionCount">), partitionCount: bucketPartitionCountDefault };
  assert(record.version === 1, `unknown bucket record version ${record.version}`);
  const { name, createdMs } = record.value as { name: string; createdMs: number };
  return { name, createdMs, versioning: "Unversioned", partitionCount: bucketPartitionCountDefault };
}

export function encodeDataRecord(kind: "pending" | "garbage", record: PendingRecord): Uint8Array {
  return encodeRecord(kind, dataRecordVersion, { dataId: record.dataId, layout: record.layout, createdMs: record.createdMs });
}

export function decodeDataRecord(kind: "pending" | "garbage", bytes: Uint8Array): PendingRecord {
  const record = decodeRecordOf(kind, bytes);
  if (record.version === 2) return record.value as PendingRecord;
  assert(record.version === 1, `unknown ${kind} record version ${record.version}`);
  // Version 1 had no chunk size: a single-layout chunk was 1 MiB, the only size ever written.
  const { dataId, diskId, chunkCount, createdMs } = record.value as { dataId: string; createdMs: number } & SingleLayoutFieldsV1;
  return { dataId, createdMs, layout: { kind: "single", diskId, chunkBytes: 1024 * 1024, chunkCount } };
}

/** Bucket and object metadata over a `MetaStore`. */
export class ObjectCatalog {
  readonly #store: MetaStore;
  /**
   * The last queued write of each (bucket, key) with writes in flight. Writes
   * of one key read what the previous one wrote, so run concurrently they
   * conflict and retry (20 at once exhausted the store's attempts); queued in
   * this process they commit one after another. Other processes' writes still
   * conflict and are retried by `transact`. One entry per key in flight, so
   * this is bounded by the requests the gateway admits.
   */
  readonly #keyTails = new Map<string, Promise<void>>();

  /** Multipart uploads and their parts, in the same store. */
  readonly multipart: MultipartCatalog;

  /** `monotonicMs` measures the budgeted transactions of large jobs (batched-work.ts); default the system's. */
  constructor(store: MetaStore, monotonicMs: () => number = systemClock().monotonicMs) {
    this.#store = store;
    this.multipart = new MultipartCatalog(store, monotonicMs);
  }

  #serialized<T>(bucket: string, key: string, run: () => Promise<T>): Promise<T> {
    // Bucket names cannot hold NUL, so the pair is unambiguous.
    const name = `${bucket}\u0000${key}`;
    const previous = this.#keyTails.get(name) ?? Promise.resolve();
    const current = previous.then(run);
    const tail = current.then(
      () => undefined,
      () => undefined,
    );
    this.#keyTails.set(name, tail);
    void tail.then(() => {
      if (this.#keyTails.get(name) === tail) this.#keyTails.delete(name);
    });
    return current;
  }

  /**
   * Creates a bucket unless one of that name exists; its keys hash into
   * `partitionCount` partitions for its whole life. `owner` is the creating
   * user's name (absent: the admins').
   */
  async createBucket(name: string, nowMs: number, partitionCount = bucketPartitionCountDefault, owner?: string): Promise<"created" | "exists"> {
    assert(
      Number.isInteger(partitionCount) && partitionCount >= 1 && partitionCount <= bucketPartitionCountMax,
      `createBucket: partition count ${partitionCount} outside [1, ${bucketPartitionCountMax}]`,
    );
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(name))) !== undefined) return "exists";
      tx.set(bucketKey(name), encodeBucketRecord({ name, createdMs: nowMs, versioning: "Unversioned", partitionCount, ...(owner === undefined ? {} : { owner }) }));
      return "created";
    });
  }

  async getBucket(name: string): Promise<BucketRecord | undefined> {
    return this.#store.transact(async (tx) => {
      const bytes = await tx.get(bucketKey(name));
      return bytes === undefined ? undefined : decodeBucketRecord(bytes);
    });
  }

  /** Every bucket, in name order, read in bounded batches. */
  async listBuckets(): Promise<BucketRecord[]> {
    const buckets: BucketRecord[] = [];
    const range = bucketRange();
    let cursor = range.begin;
    for (;;) {
      const batch = await this.#store.transact((tx) => tx.getRange(cursor, range.end, { limit: readBatchMax }));
      for (const pair of batch) buckets.push(decodeBucketRecord(pair.value));
      const last = batch[batch.length - 1];
      if (last === undefined || batch.length < readBatchMax) return buckets;
      cursor = keyAfter(last.key);
    }
  }

  /** Deletes a bucket that holds no object version (current, noncurrent or delete marker) and no incomplete multipart upload. */
  async deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(name))) === undefined) return "not-found";
      const objects = objectRange(name);
      // Emptiness needs no value: keys-only seeks.
      if ((await tx.firstKey(objects.begin, objects.end)) !== undefined) return "not-empty";
      const versions = objectVersionRange(name);
      if ((await tx.firstKey(versions.begin, versions.end)) !== undefined) return "not-empty";
      // Incomplete multipart uploads keep a bucket non-empty too, as in S3: their parts are stored data.
      const uploads = multipartUploadRange(name);
      if ((await tx.firstKey(uploads.begin, uploads.end)) !== undefined) return "not-empty";
      // A bucket created again under this name must not answer a retry of a PUT made to this one.
      // (Their expiry index entries stay; the Janitor finds no token behind them and drops them.)
      const tokens = idempotencyTokenBucketRange(name);
      tx.clearRange(tokens.begin, tokens.end);
      // Nor inherit its tagging, CORS or policy.
      const configurations = bucketConfigurationRange(name);
      tx.clearRange(configurations.begin, configurations.end);
      tx.clear(bucketKey(name));
      return "deleted";
    });
  }

  /** A bucket's versioning state, or undefined when there is no such bucket. */
  async getBucketVersioning(name: string): Promise<BucketVersioning | undefined> {
    const bucket = await this.getBucket(name);
    return bucket === undefined ? undefined : versioningOf(bucket);
  }

  /** Enables or suspends versioning; a bucket never returns to "Unversioned". */
  async putBucketVersioning(name: string, status: "Enabled" | "Suspended"): Promise<"ok" | "no-such-bucket"> {
    return this.#store.transact(async (tx) => {
      const bytes = await tx.get(bucketKey(name));
      if (bytes === undefined) return "no-such-bucket";
      tx.set(bucketKey(name), encodeBucketRecord({ ...decodeBucketRecord(bytes), versioning: status }));
      return "ok";
    });
  }

  /** A bucket's configuration document `name`, undefined when none is set. */
  async getBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<Uint8Array | undefined | "no-such-bucket"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(bucket))) === undefined) return "no-such-bucket";
      const bytes = await tx.get(bucketConfigurationKey(bucket, name));
      return bytes === undefined ? undefined : decodeBucketConfigurationRecord(bytes);
    });
  }

  /** Replaces a bucket's configuration document `name`; the caller validated it and kept it within `bucketConfigurationBytesMax`. */
  async putBucketConfiguration(bucket: string, name: BucketConfigurationName, document: Uint8Array): Promise<"ok" | "no-such-bucket"> {
    assert(
      document.byteLength <= bucketConfigurationBytesMax[name],
      `putBucketConfiguration: a ${name} document of ${document.byteLength} bytes exceeds ${bucketConfigurationBytesMax[name]}`,
    );
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(bucket))) === undefined) return "no-such-bucket";
      tx.set(bucketConfigurationKey(bucket, name), encodeRecord("bucketConfiguration", bucketConfigurationRecordVersion, { document }));
      return "ok";
    });
  }

  /** Removes a bucket's configuration document `name`; removing one that is not set succeeds. */
  async deleteBucketConfiguration(bucket: string, name: BucketConfigurationName): Promise<"ok" | "no-such-bucket"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(bucket))) === undefined) return "no-such-bucket";
      tx.clear(bucketConfigurationKey(bucket, name));
      return "ok";
    });
  }

  /**
   * Replaces the tags of the current version (undefined `versionId`) or of
   * one version; an empty `tags` removes them. Nothing else of the version
   * changes (S3 keeps its ETag and Last-Modified). A delete marker has no
   * tags: it is returned unchanged.
   */
  async setObjectTags(bucket: string, key: string, versionId: string | undefined, tags: readonly ObjectTag[]): Promise<SetTagsResult> {
    return this.#serialized(bucket, key, () => this.#store.transact((tx) => setObjectTagsStep(tx, bucket, key, versionId, tags)));
  }

  /** The current version of an object, when it is live (not a delete marker). */
  async getObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return this.#store.transact(async (tx) => {
      const bytes = await tx.get(objectKey(bucket, key));
      return bytes === undefined ? undefined : decodeObjectRecord(bytes);
    });
  }

  /** The current version (undefined `versionId`) or one version of an object: its record or delete marker. */
  async headObject(bucket: string, key: string, versionId?: string): Promise<HeadResult> {
    return this.#store.transact((tx) => headStep(tx, bucket, key, versionId));
  }

  /** Records the intent to write data before its bytes are written (PREPARING). */
  async preparePut(pending: PendingRecord): Promise<void> {
    await this.#store.transact(async (tx) => {
      tx.set(pendingKey(pending.dataId), encodeDataRecord("pending", pending));
    });
  }

  /**
   * Commits a PUT in one transaction: checks the bucket; in an Enabled bucket
   * adds a new version, otherwise replaces the null version (its data becomes
   * garbage); makes it current; clears the pending record; records the token.
   * When `idempotencyToken` already committed a version of this key (and has
   * not expired), writes no version, returns that one with `duplicate`, and
   * this attempt's data becomes garbage. "abandoned": the pending record is
   * gone (the Janitor reclaimed it), so the data may be freed: nothing is
   * committed. With `condition`, a refusal ("precondition-failed", or
   * "no-such-key" for `ifMatch` without a current object) commits nothing and
   * turns this attempt's data into garbage.
   */
  async commitPut(input: CommitPutInput): Promise<CommitPutResult | "no-such-bucket" | "abandoned" | CommitRefusal> {
    return this.#serialized(input.record.bucket, input.record.key, () => this.#store.transact((tx) => commitPutStep(tx, input)));
  }

  /**
   * Without `versionId`: an Enabled bucket gains a delete marker; a
   * Suspended one has its null version replaced by a null delete marker; an
   * Unversioned one loses the object. With `versionId`: that version (object
   * or delete marker) is removed for good and the next newest becomes
   * current. A missing key or version succeeds. Removed data becomes garbage.
   */
  async deleteObject(
    bucket: string,
    key: string,
    options: { readonly versionId?: string; readonly nowMs: number; readonly versionSuffix: string; readonly condition?: CommitCondition },
  ): Promise<DeleteResult | CommitRefusal | "no-such-bucket"> {
    assert(options.versionId === undefined || options.condition === undefined, "a conditional delete applies to the current version only");
    return this.#serialized(bucket, key, () =>
      this.#store.transact((tx) =>
        options.versionId === undefined
          ? deleteCurrentStep(tx, bucket, key, options.nowMs, options.versionSuffix, options.condition)
          : deleteVersionStep(tx, bucket, key, options.versionId, options.nowMs),
      ),
    );
  }

  /**
   * One page of a bucket's versions with S3's ListObjectVersions semantics:
   * keys in UTF-8 binary order and newest first within a key, after
   * (`keyMarker`, `versionIdMarker`); with a delimiter, keys roll up into
   * common prefixes, each skipped by seeking past it, never by reading it.
   */
  async listObjectVersions(request: ListVersionsRequest): Promise<ListVersionsResult | "no-such-bucket"> {
    assert(Number.isInteger(request.maxKeys) && request.maxKeys >= 0, `listObjectVersions: bad maxKeys ${request.maxKeys}`);
    let state: VersionListState | "no-such-bucket" = await this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(request.bucket))) === undefined) return "no-such-bucket" as const;
      const start = await versionListStart(tx, request);
      return {
        cursor: start.cursor,
        entries: [],
        commonPrefixes: [],
        previousKey: start.previousKey,
        last: undefined,
        isTruncated: false,
        done: request.maxKeys === 0,
        batchLimit: request.delimiter === "" ? readBatchMax : versionListBatchInitial,
      };
    });
    if (state === "no-such-bucket") return state;
    while (!state.done) {
      const before: VersionListState = state;
      state = await this.#store.transact((tx) =>
        listVersionsSteps(
          tx,
          { ...before, entries: [...before.entries], commonPrefixes: [...before.commonPrefixes] },
          request,
          versionListReadsPerTransactionMax,
          readBatchMax,
          versionListBatchInitial,
        ),
      );
    }
    const last = state.last;
    return {
      entries: state.entries,
      commonPrefixes: state.commonPrefixes,
      isTruncated: state.isTruncated,
      ...(state.isTruncated && last !== undefined ? { nextKeyMarker: last.key } : {}),
      ...(state.isTruncated && last?.versionId !== undefined ? { nextVersionIdMarker: last.versionId } : {}),
    };
  }

  /** Replaced, deleted and abandoned data whose bytes may be freed, in dataId order after `afterDataId`, at most `limit`. */
  async listGarbage(limit: number, afterDataId = ""): Promise<PendingRecord[]> {
    assert(Number.isInteger(limit) && limit >= 0, `listGarbage: bad limit ${limit}`);
    if (limit === 0) return [];
    return this.#store.transact(async (tx) => {
      const garbage = garbageRange();
      const begin = afterDataId === "" ? garbage.begin : keyAfter(garbageKey(afterDataId));
      return (await tx.getRange(begin, garbage.end, { limit })).map((pair) => decodeDataRecord("garbage", pair.value));
    });
  }

  /**
   * Turns PREPARING records older than `maxAgeMs` at `nowMs` into garbage (their
   * PUT crashed or was abandoned), at most `limit`, examining at most
   * `pendingScanMax` pending records. A commit of such data afterwards is refused.
   */
  async abandonStalePending(nowMs: number, maxAgeMs: number, limit: number): Promise<PendingRecord[]> {
    assert(Number.isInteger(limit) && limit >= 0, `abandonStalePending: bad limit ${limit}`);
    if (limit === 0) return [];
    return this.#store.transact((tx) => abandonStalePendingStep(tx, pendingRange(), nowMs, maxAgeMs, limit, pendingScanMax));
  }

  /** Removes idempotency tokens expired at `nowMs`, at most `limit`; returns how many. */
  async removeExpiredTokens(nowMs: number, limit: number): Promise<number> {
    assert(Number.isInteger(limit) && limit >= 0, `removeExpiredTokens: bad limit ${limit}`);
    if (limit === 0) return 0;
    return this.#store.transact((tx) => removeExpiredTokensStep(tx, nowMs, limit));
  }

  /**
   * Moves every record written before versioning into the versions subspace
   * (so ListObjectVersions sees it), in transactions of at most `batchMax`
   * keys. Idempotent; writes also migrate the keys they touch.
   */
  async migrateLegacyObjects(batchMax = readBatchMax): Promise<number> {
    let migrated = 0;
    for (const bucket of await this.listBuckets()) {
      const range = objectRange(bucket.name);
      let cursor: Uint8Array | undefined = range.begin;
      while (cursor !== undefined) {
        const from: Uint8Array = cursor;
        const step = await this.#store.transact((tx) => migrateLegacyStep(tx, { begin: from, end: range.end }, batchMax));
        migrated += step.migrated;
        cursor = step.next;
      }
    }
    return migrated;
  }

  /** Forgets `dataId` as garbage (and as pending) once its bytes are freed. */
  async forgetGarbage(dataId: string): Promise<void> {
    await this.#store.transact(async (tx) => {
      tx.clear(garbageKey(dataId));
      tx.clear(pendingKey(dataId));
    });
  }

  /** One page of a bucket listing; see `listObjects` in object-listing.ts. */
  async listObjects(input: ListObjectsRequest): Promise<ListObjectsResult | "no-such-bucket"> {
    return listObjects(this.#store, input);
  }
}

function decodeBucketConfigurationRecord(bytes: Uint8Array): Uint8Array {
  const record = decodeRecordOf("bucketConfiguration", bytes);
  assert(record.version === bucketConfigurationRecordVersion, `unknown bucketConfiguration record version ${record.version}`);
  const { document } = record.value as { document: Uint8Array };
  // msgpackr returns a Buffer view; callers get a plain copy they may keep.
  return new Uint8Array(document);
}

/** A copy without undefined fields, so that optional headers that are absent take no bytes. */
function withoutUndefined(record: ObjectRecord): ObjectRecord {
  const headers: ObjectHeaders = {};
  for (const [name, value] of Object.entries(record.headers)) {
    if (value !== undefined) headers[name as keyof ObjectHeaders] = value;
  }
  return { ...record, headers, userMetadata: { ...record.userMetadata } };
}
