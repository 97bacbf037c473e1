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
import { compareBytes, keyAfter, strinc } from "./bytes.ts";
import {
  bucketKey,
  bucketRange,
  garbageKey,
  garbageRange,
  objectKey,
  objectKeyFromStoredKey,
  objectKeyPrefix,
  objectRange,
  pendingKey,
  pendingRange,
} from "./keyspace.ts";
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

export interface ListObjectsRequest {
  bucket: string;
  prefix: string;
  /** Empty string means no delimiter. */
  delimiter: string;
  /** Only keys and common prefixes strictly greater than this. */
  after: string;
  maxKeys: number;
}

export interface ListObjectsResult {
  objects: ObjectRecord[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned. */
  lastReturned?: string;
}

/** Version 2 records carry a `DataLayout`; version 1 had `diskId`, `chunkBytes`, `chunkCount` (the `single` layout). */
const recordVersion = 2;
const bucketRecordVersion = 1;
/** Pairs per range read when listing without a delimiter, or buckets. */
const readBatchMax = 1_000;
/**
 * First batch size when listing with a delimiter. A batch may run into a
 * rolled-up prefix, whose keys are then skipped by seeking; starting small
 * and doubling while no roll-up occurs bounds the keys read beneath each
 * common prefix by the current batch size, never by how many keys it holds.
 */
const delimitedBatchInitial = 8;
/** Range reads per transaction, keeping each far inside FDB's 5 s limit. */
const readsPerTransactionMax = 16;
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

  /**
   * One page of a bucket listing with S3's semantics: keys in UTF-8 binary
   * order, only those starting with `prefix` and greater than `after`; with a
   * delimiter, keys whose remainder after the prefix contains it roll up into
   * one common prefix each, which counts once against `maxKeys`. A common
   * prefix is skipped by seeking past all of its keys, never by reading them.
   */
  async listObjects(input: ListObjectsRequest): Promise<ListObjectsResult | "no-such-bucket"> {
    const { bucket, prefix, delimiter, after, maxKeys } = input;
    assert(Number.isInteger(maxKeys) && maxKeys >= 0, `listObjects: bad maxKeys ${maxKeys}`);
    const region = objectKeyPrefix(bucket, prefix);
    const end = strinc(region);
    let state: ListState = {
      cursor: listStart(bucket, prefix, delimiter, after, region),
      objects: [],
      commonPrefixes: [],
      lastReturned: undefined,
      isTruncated: false,
      done: maxKeys === 0,
      batchLimit: delimiter === "" ? readBatchMax : delimitedBatchInitial,
    };
    let first = true;
    do {
      const checkBucket = first;
      first = false;
      const next = await this.#store.transact(async (tx) => {
        if (checkBucket && (await tx.get(bucketKey(bucket))) === undefined) return "no-such-bucket" as const;
        return listSteps(tx, { ...state, objects: [...state.objects], commonPrefixes: [...state.commonPrefixes] }, {
          prefix,
          delimiter,
          maxKeys,
          end,
        });
      });
      if (next === "no-such-bucket") return next;
      state = next;
    } while (!state.done);
    return {
      objects: state.objects,
      commonPrefixes: state.commonPrefixes,
      isTruncated: state.isTruncated,
      ...(state.lastReturned === undefined ? {} : { lastReturned: state.lastReturned }),
    };
  }
}

interface ListState {
  /** The next stored key to read from. */
  cursor: Uint8Array;
  objects: ObjectRecord[];
  commonPrefixes: string[];
  lastReturned: string | undefined;
  isTruncated: boolean;
  done: boolean;
  batchLimit: number;
}

interface ListShape {
  readonly prefix: string;
  readonly delimiter: string;
  readonly maxKeys: number;
  readonly end: Uint8Array;
}

/**
 * Where a listing starts: the first key of the prefix region that is greater
 * than `after` and, when `after` lies under a common prefix, past every key
 * of that common prefix (they were all rolled up into it, which is <= after).
 */
function listStart(bucket: string, prefix: string, delimiter: string, after: string, region: Uint8Array): Uint8Array {
  let start = region;
  if (after === "") return start;
  const afterNext = keyAfter(objectKey(bucket, after));
  if (compareBytes(afterNext, start) > 0) start = afterNext;
  const rolledUp = delimiter === "" ? undefined : commonPrefixOf(after, prefix, delimiter);
  if (rolledUp !== undefined) {
    const pastPrefix = strinc(objectKeyPrefix(bucket, rolledUp));
    if (compareBytes(pastPrefix, start) > 0) start = pastPrefix;
  }
  return start;
}

/** The common prefix `key` rolls up into, or undefined when it is listed as itself. */
function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at === -1 ? undefined : key.slice(0, at + delimiter.length);
}

/** Advances a listing by up to `readsPerTransactionMax` range reads inside one transaction. */
async function listSteps(tx: MetaTransaction, state: ListState, shape: ListShape): Promise<ListState> {
  const { prefix, delimiter, maxKeys, end } = shape;
  const entries = (): number => state.objects.length + state.commonPrefixes.length;
  for (let reads = 0; reads < readsPerTransactionMax && !state.done; reads++) {
    if (compareBytes(state.cursor, end) >= 0) {
      state.done = true;
      break;
    }
    // One more than still fits, so that a full page can tell whether more follows.
    const limit = Math.min(state.batchLimit, maxKeys - entries() + 1);
    const batch = await tx.getRange(state.cursor, end, { limit });
    let rolledUp = false;
    for (const pair of batch) {
      const { key } = objectKeyFromStoredKey(pair.key);
      const common = delimiter === "" ? undefined : commonPrefixOf(key, prefix, delimiter);
      if (entries() === maxKeys) {
        state.isTruncated = true;
        state.done = true;
        break;
      }
      if (common === undefined) {
        state.objects.push(decodeObjectRecord(pair.value));
        state.lastReturned = key;
        state.cursor = keyAfter(pair.key);
        continue;
      }
      state.commonPrefixes.push(common);
      state.lastReturned = common;
      // Seek past every key under the common prefix instead of reading them.
      state.cursor = strinc(objectKeyPrefix(objectKeyFromStoredKey(pair.key).bucket, common));
      rolledUp = true;
      break;
    }
    if (state.done) break;
    if (!rolledUp && batch.length < limit) {
      state.done = true;
      break;
    }
    if (delimiter !== "") {
      state.batchLimit = rolledUp ? delimitedBatchInitial : Math.min(state.batchLimit * 2, readBatchMax);
    }
  }
  return state;
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
