/**
 * Bucket and object metadata over a `MetaStore`: the model the gateway's
 * object service writes and reads.
 *
 * Record formats (see `record-codec.ts` for the envelope), all version 1:
 * - bucket   `("b", name)`          → `BucketRecord`
 * - object   `("o", bucket, key)`   → `ObjectRecord`
 * - pending  `("p", dataId)`        → `PendingRecord` (bytes being written, not yet committed)
 * - garbage  `("g", dataId)`        → `PendingRecord` (bytes of a replaced or deleted object)
 *
 * Invariants: an object record exists only under an existing bucket; a
 * `dataId` is referenced by at most one of {an object record, a pending
 * record, a garbage record} once a commit has finished, so freeing garbage
 * never frees live bytes.
 */
import { assert } from "../../runtime/index.ts";
import { keyAfter } from "./bytes.ts";
import {
  bucketKey,
  bucketRange,
  garbageKey,
  garbageRange,
  objectKey,
  objectRange,
  pendingKey,
  pendingRange,
} from "./keyspace.ts";
import { listObjects } from "./object-listing.ts";
import type { ListObjectsRequest, ListObjectsResult } from "./object-listing.ts";
import { decodeRecordOf, encodeRecord } from "./record-codec.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

export interface BucketRecord {
  name: string;
  createdMs: number;
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
}

export interface PendingRecord {
  dataId: string;
  layout: DataLayout;
  createdMs: number;
}

export type { ListObjectsRequest, ListObjectsResult } from "./object-listing.ts";

/** Version 2 records carry a `DataLayout`; version 1 had `diskId`, `chunkBytes`, `chunkCount` (the `single` layout). */
const recordVersion = 2;
const bucketRecordVersion = 1;
/** Pairs per range read when listing buckets or pending records. */
const readBatchMax = 1_000;
/** Pending records examined per `listGarbage` call. */
const pendingScanMax = 10_000;

/** Encodes an object record as stored (kind `object`, version 1). */
export function encodeObjectRecord(record: ObjectRecord): Uint8Array {
  return encodeRecord("object", recordVersion, withoutUndefined(record));
}

/** Decodes a stored object record of any version. */
export function decodeObjectRecord(bytes: Uint8Array): ObjectRecord {
  const record = decodeRecordOf("object", bytes);
  if (record.version === 2) return record.value as ObjectRecord;
  assert(record.version === 1, `unknown object record version ${record.version}`);
  const { diskId, chunkBytes, chunkCount, ...rest } = record.value as Omit<ObjectRecord, "layout"> & SingleLayoutFieldsV1;
  return { ...rest, layout: { kind: "single", diskId, chunkBytes, chunkCount } };
}

/** The fields of a version-1 object or data record that version 2 moved into `layout`. */
interface SingleLayoutFieldsV1 {
  diskId: string;
  chunkBytes: number;
  chunkCount: number;
}

function encodeBucketRecord(record: BucketRecord): Uint8Array {
  return encodeRecord("bucket", bucketRecordVersion, { name: record.name, createdMs: record.createdMs });
}

function decodeBucketRecord(bytes: Uint8Array): BucketRecord {
  const record = decodeRecordOf("bucket", bytes);
  assert(record.version === 1, `unknown bucket record version ${record.version}`);
  return record.value as BucketRecord;
}

function encodeDataRecord(kind: "pending" | "garbage", record: PendingRecord): Uint8Array {
  return encodeRecord(kind, recordVersion, { dataId: record.dataId, layout: record.layout, createdMs: record.createdMs });
}

function decodeDataRecord(kind: "pending" | "garbage", bytes: Uint8Array): PendingRecord {
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

  constructor(store: MetaStore) {
    this.#store = store;
  }

  /** Creates a bucket unless one of that name exists. */
  async createBucket(name: string, nowMs: number): Promise<"created" | "exists"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(name))) !== undefined) return "exists";
      tx.set(bucketKey(name), encodeBucketRecord({ name, createdMs: nowMs }));
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

  /** Deletes a bucket that holds no object. */
  async deleteBucket(name: string): Promise<"deleted" | "not-found" | "not-empty"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(name))) === undefined) return "not-found";
      const objects = objectRange(name);
      if ((await tx.getRange(objects.begin, objects.end, { limit: 1 })).length > 0) return "not-empty";
      tx.clear(bucketKey(name));
      return "deleted";
    });
  }

  async getObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return this.#store.transact(async (tx) => {
      const bytes = await tx.get(objectKey(bucket, key));
      return bytes === undefined ? undefined : decodeObjectRecord(bytes);
    });
  }

  /** Records the intent to write data before its bytes are written (PREPARING). */
  async preparePut(pending: PendingRecord): Promise<void> {
    await this.#store.transact(async (tx) => {
      tx.set(pendingKey(pending.dataId), encodeDataRecord("pending", pending));
    });
  }

  /**
   * In one transaction: checks the bucket exists, replaces the current record,
   * clears the pending record, and records the replaced object's data as
   * garbage. Returns the replaced record.
   */
  async commitPut(record: ObjectRecord): Promise<{ replaced?: ObjectRecord } | "no-such-bucket"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(record.bucket))) === undefined) return "no-such-bucket";
      const key = objectKey(record.bucket, record.key);
      const previous = await tx.get(key);
      tx.set(key, encodeObjectRecord(record));
      tx.clear(pendingKey(record.dataId));
      if (previous === undefined) return {};
      const replaced = decodeObjectRecord(previous);
      // Re-committing the same data (a retried commit) must not mark live bytes as garbage.
      if (replaced.dataId !== record.dataId) markGarbage(tx, replaced, record.lastModifiedMs);
      return { replaced };
    });
  }

  /** Removes an object's record and records its data as garbage. */
  async deleteObject(bucket: string, key: string): Promise<{ removed?: ObjectRecord } | "no-such-bucket"> {
    return this.#store.transact(async (tx) => {
      if ((await tx.get(bucketKey(bucket))) === undefined) return "no-such-bucket";
      const stored = objectKey(bucket, key);
      const previous = await tx.get(stored);
      if (previous === undefined) return {};
      const removed = decodeObjectRecord(previous);
      tx.clear(stored);
      markGarbage(tx, removed, removed.lastModifiedMs);
      return { removed };
    });
  }

  /**
   * Data whose bytes may be freed, at most `limit`: replaced and deleted
   * objects' data, then PREPARING records older than `preparingMaxAgeMs` at
   * `nowMs` (their PUT crashed or was abandoned). At most `pendingScanMax`
   * pending records are examined per call.
   */
  async listGarbage(nowMs: number, preparingMaxAgeMs: number, limit: number): Promise<PendingRecord[]> {
    assert(Number.isInteger(limit) && limit >= 0, `listGarbage: bad limit ${limit}`);
    if (limit === 0) return [];
    return this.#store.transact(async (tx) => {
      const out: PendingRecord[] = [];
      const garbage = garbageRange();
      for (const pair of await tx.getRange(garbage.begin, garbage.end, { limit })) {
        out.push(decodeDataRecord("garbage", pair.value));
      }
      const pending = pendingRange();
      let cursor = pending.begin;
      let examined = 0;
      while (out.length < limit && examined < pendingScanMax) {
        const batch = await tx.getRange(cursor, pending.end, { limit: Math.min(readBatchMax, pendingScanMax - examined) });
        for (const pair of batch) {
          const record = decodeDataRecord("pending", pair.value);
          if (nowMs - record.createdMs > preparingMaxAgeMs && out.length < limit) out.push(record);
        }
        examined += batch.length;
        const last = batch[batch.length - 1];
        if (last === undefined || batch.length < readBatchMax) break;
        cursor = keyAfter(last.key);
      }
      return out;
    });
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

function markGarbage(tx: MetaTransaction, record: ObjectRecord, nowMs: number): void {
  tx.set(
    garbageKey(record.dataId),
    encodeDataRecord("garbage", {
      dataId: record.dataId,
      layout: record.layout,
      createdMs: nowMs,
    }),
  );
}

/** A copy without undefined fields, so that optional headers that are absent take no bytes. */
function withoutUndefined(record: ObjectRecord): ObjectRecord {
  const headers: ObjectHeaders = {};
  for (const [name, value] of Object.entries(record.headers)) {
    if (value !== undefined) headers[name as keyof ObjectHeaders] = value;
  }
  return { ...record, headers, userMetadata: { ...record.userMetadata } };
}
