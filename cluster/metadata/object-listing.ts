/**
 * ListObjects over the `("o", bucket, key)` subspace: one page of a bucket's
 * current, live objects in S3's order, with prefix, delimiter and a start
 * marker. Only this file reads the subspace for listing; records are decoded
 * with `decodeObjectRecord` (object-catalog.ts owns their format).
 */
import { assert } from "../../runtime/index.ts";
import { compareBytes, keyAfter, strinc } from "./bytes.ts";
import { bucketKey, objectKey, objectKeyFromStoredKey, objectKeyPrefix } from "./keyspace.ts";
import { decodeObjectRecord } from "./object-catalog.ts";
import type { ObjectRecord } from "./object-catalog.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

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

/** Pairs per range read when listing without a delimiter. */
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

/**
 * One page of a bucket listing with S3's semantics: keys in UTF-8 binary
 * order, only those starting with `prefix` and greater than `after`; with a
 * delimiter, keys whose remainder after the prefix contains it roll up into
 * one common prefix each, which counts once against `maxKeys`. A common
 * prefix is skipped by seeking past all of its keys, never by reading them.
 */
export async function listObjects(store: MetaStore, input: ListObjectsRequest): Promise<ListObjectsResult | "no-such-bucket"> {
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
    const next = await store.transact(async (tx) => {
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
