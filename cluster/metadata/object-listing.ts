/**
 * ListObjects over the `("o", bucket, key)` subspace: one page of a bucket's
 * current, live objects in S3's order, with prefix, delimiter and a start
 * marker. Only this file reads the subspace for listing; records are decoded
 * with `decodeObjectRecord` (object-catalog.ts owns their format).
 *
 * Cost of a page (what `bench/listing.ts` measures on 1,000,000 objects):
 * - without a delimiter, one range read of `maxKeys + 1` pairs;
 * - with one, every common prefix costs one seek, a keys-only read of ONE key
 *   at `strinc(prefix)` (`MetaTransaction.firstKey`: no value is copied),
 *   whatever the number of keys beneath it. A seek that lands on a plain key
 *   reads on from that key with values. Between common prefixes, runs of
 *   plain keys are read in batches that double from 2 up to `readBatchMax`,
 *   so a run costs O(log n) reads and a batch overshoots into the next common
 *   prefix by at most as many keys as it has just listed.
 * - Only listed objects are decoded; keys are read from the stored bytes by
 *   hand (the tuple layer's generic decoder is several times slower).
 * - A page spans several transactions when it needs more than
 *   `readsPerTransactionMax` range reads, so no transaction nears FDB's 5 s.
 */
import { assert } from "../../runtime/index.ts";
import { compareBytes, concatBytes, keyAfter, strinc } from "./bytes.ts";
import { bucketKey, objectKey, objectKeyPrefix } from "./keyspace.ts";
import { asciiText } from "./msgpack-reader.ts";
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

/** Pairs per range read at most (S3 pages hold at most 1,000 entries; one more tells whether more follow). */
const readBatchMax = 1_001;
/** First batch after a common prefix, and with a delimiter at the start: growing from here costs O(log n) reads. */
const delimitedBatchInitial = 2;
/**
 * Range reads per transaction. A full page of 1,000 common prefixes needs
 * about 1,000 one-pair seeks; 256 per transaction keeps each one far inside
 * FDB's 5 s even at a millisecond per read, for four cheap transactions.
 */
const readsPerTransactionMax = 256;

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

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
  const shape: ListShape = {
    bucket,
    prefix,
    delimiter,
    maxKeys,
    end: strinc(region),
    keysBase: objectKeyPrefix(bucket, ""),
  };
  let state: ListState = {
    cursor: listStart(shape, after, region),
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
      // A copy: the body may run again after a conflict and must start from the same state.
      return listSteps(tx, { ...state, objects: [...state.objects], commonPrefixes: [...state.commonPrefixes] }, shape);
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
  readonly bucket: string;
  readonly prefix: string;
  readonly delimiter: string;
  readonly maxKeys: number;
  /** End of the listed region: every stored key starting with the encoded prefix is below it. */
  readonly end: Uint8Array;
  /** The bytes every stored key of the bucket starts with: `("o", bucket)` and the string type code. */
  readonly keysBase: Uint8Array;
}

/**
 * Where a listing starts: the first key of the prefix region that is greater
 * than `after` and, when `after` lies under a common prefix, past every key
 * of that common prefix (they were all rolled up into it, which is <= after).
 */
function listStart(shape: ListShape, after: string, region: Uint8Array): Uint8Array {
  let start = region;
  if (after === "") return start;
  const afterStored = concatBytes(shape.keysBase, encodeKeyBody(after), terminator);
  // Pairs this file's hand-written key encoding with the tuple layer's, once per page.
  assert(compareBytes(afterStored, objectKey(shape.bucket, after)) === 0, "listObjects: key encoding differs from keyspace.ts");
  const afterNext = keyAfter(afterStored);
  if (compareBytes(afterNext, start) > 0) start = afterNext;
  const rolledUp = shape.delimiter === "" ? undefined : commonPrefixOf(after, shape.prefix, shape.delimiter);
  if (rolledUp !== undefined) {
    const pastPrefix = pastCommonPrefix(shape, rolledUp);
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

/** The first stored key after every key that starts with `common`. */
function pastCommonPrefix(shape: ListShape, common: string): Uint8Array {
  return strinc(concatBytes(shape.keysBase, encodeKeyBody(common)));
}

/**
 * `pastCommonPrefix` for a `common` prefix of the key stored as `stored`:
 * when `common` is ASCII without 0x00, its encoding is its characters, one
 * byte each, so the stored key already holds it and nothing is encoded
 * (a delimiter page computes this once per common prefix, 1,000 times).
 */
function pastCommonPrefixOf(shape: ListShape, common: string, stored: Uint8Array): Uint8Array {
  for (let index = 0; index < common.length; index++) {
    const code = common.charCodeAt(index);
    if (code === 0x00 || code >= 0x80) return pastCommonPrefix(shape, common);
  }
  return pastStoredPrefix(shape, common.length, stored);
}

/**
 * strinc of the stored key's first `keysBase.length + commonLength` bytes,
 * for a common prefix that is ASCII without 0x00 (its bytes are never 0xff,
 * so the last one is incremented).
 */
function pastStoredPrefix(shape: ListShape, commonLength: number, stored: Uint8Array): Uint8Array {
  const length = shape.keysBase.length + commonLength;
  assert(length < stored.length, "listObjects: a common prefix longer than its key");
  // Uint8Array's own slice: a copy even of a Buffer (whose slice is a view).
  const out = uint8ArraySlice.call(stored, 0, length);
  out[length - 1] = (out[length - 1] as number) + 1;
  return out;
}

const uint8ArraySlice = Uint8Array.prototype.slice;

/** Advances a listing by up to `readsPerTransactionMax` range reads inside one transaction. */
async function listSteps(tx: MetaTransaction, state: ListState, shape: ListShape): Promise<ListState> {
  const { prefix, delimiter, maxKeys, end } = shape;
  for (let reads = 0; reads < readsPerTransactionMax && !state.done; reads++) {
    if (compareBytes(state.cursor, end) >= 0) {
      state.done = true;
      break;
    }
    // One more than still fits, so that a full page can tell whether more follows.
    const room = maxKeys - state.objects.length - state.commonPrefixes.length;
    if (state.batchLimit === 1 && delimiter !== "") {
      seekStep(await tx.firstKey(state.cursor, end), state, shape);
      continue;
    }
    const limit = Math.min(state.batchLimit, room + 1);
    const batch = await tx.getRange(state.cursor, end, { limit });
    // The common prefix the previous pair rolled up into, while later pairs of the batch still fall under it.
    let openPrefix: string | undefined;
    let seekTo: Uint8Array | undefined;
    // The stored key of the last object listed while it is the furthest point
    // read: the cursor moves just past it once, after the batch, not per key.
    let lastListed: Uint8Array | undefined;
    for (const pair of batch) {
      const key = keyFromStored(pair.key, shape.keysBase);
      if (openPrefix !== undefined) {
        if (key.startsWith(openPrefix)) continue;
        openPrefix = undefined;
        seekTo = undefined;
      }
      if (state.objects.length + state.commonPrefixes.length === maxKeys) {
        state.isTruncated = true;
        state.done = true;
        break;
      }
      const common = delimiter === "" ? undefined : commonPrefixOf(key, prefix, delimiter);
      if (common === undefined) {
        state.objects.push(decodeObjectRecord(pair.value));
        state.lastReturned = key;
        lastListed = pair.key;
        continue;
      }
      state.commonPrefixes.push(common);
      state.lastReturned = common;
      openPrefix = common;
      seekTo = pastCommonPrefixOf(shape, common, pair.key);
      state.cursor = seekTo;
      lastListed = undefined;
    }
    if (lastListed !== undefined) state.cursor = keyAfter(lastListed);
    if (state.done) break;
    if (batch.length < limit) {
      // The region holds nothing more (a pending seek included: it would find nothing).
      state.done = true;
      break;
    }
    if (delimiter !== "") {
      // Ending inside a common prefix means the next read is a seek past it:
      // one key is all it needs (`seekStep`). Otherwise keys run on, so read more at once.
      state.batchLimit = seekTo !== undefined ? 1 : Math.min(Math.max(state.batchLimit, 1) * 2, readBatchMax);
    }
  }
  return state;
}

/**
 * One seek past a common prefix: `found` is the first stored key at the
 * cursor (keys only). Another common prefix is listed and skipped at once;
 * a plain key becomes the cursor, and the next read lists it with its value
 * and reads on (in a batch of 2, doubling as after any listed object).
 */
function seekStep(found: Uint8Array | undefined, state: ListState, shape: ListShape): void {
  if (found === undefined) {
    state.done = true;
    return;
  }
  if (state.objects.length + state.commonPrefixes.length === shape.maxKeys) {
    state.isTruncated = true;
    state.done = true;
    return;
  }
  const last = found.length - 1;
  assert(last >= shape.keysBase.length && found[last] === 0x00, "listObjects: not an object key of this bucket");
  // An ASCII key (most keys) is its own encoding, and so is every prefix of it.
  const ascii = asciiText(found, shape.keysBase.length, last);
  const key = ascii ?? keyFromStored(found, shape.keysBase);
  const common = commonPrefixOf(key, shape.prefix, shape.delimiter);
  if (common === undefined) {
    state.cursor = found;
    state.batchLimit = delimitedBatchInitial;
    return;
  }
  state.commonPrefixes.push(common);
  state.lastReturned = common;
  state.cursor = ascii === undefined ? pastCommonPrefix(shape, common) : pastStoredPrefix(shape, common.length, found);
}

const terminator = new Uint8Array([0x00]);

/**
 * A string's body in the tuple encoding: its UTF-8 bytes with each 0x00
 * escaped as 0x00 0xff (no type code, no terminator), as `keyspace.ts` lays
 * object keys out through `fdb-tuple`; `keyFromStored` reverses it.
 */
function encodeKeyBody(key: string): Uint8Array {
  const utf8 = utf8Encoder.encode(key);
  if (!utf8.includes(0x00)) return utf8;
  const out: number[] = [];
  for (const byte of utf8) {
    out.push(byte);
    if (byte === 0x00) out.push(0xff);
  }
  return Uint8Array.from(out);
}

/**
 * The S3 key of a stored object key of this bucket: `keysBase`, the escaped
 * UTF-8 body, then the 0x00 terminator. Anything else in the range is a bug.
 */
function keyFromStored(stored: Uint8Array, keysBase: Uint8Array): string {
  const last = stored.length - 1;
  assert(last >= keysBase.length && stored[last] === 0x00, "listObjects: not an object key of this bucket");
  // ASCII keys (most keys) are read in place, without a view of the bytes.
  const ascii = asciiText(stored, keysBase.length, last);
  if (ascii !== undefined) return ascii;
  const body = stored.subarray(keysBase.length, last);
  const firstZero = body.indexOf(0x00);
  if (firstZero === -1) return utf8Decoder.decode(body);
  const out: number[] = [];
  for (let index = 0; index < body.length; index++) {
    const byte = body[index] as number;
    out.push(byte);
    if (byte === 0x00) {
      assert(body[index + 1] === 0xff, "listObjects: object key with an unescaped 0x00");
      index++;
    }
  }
  return utf8Decoder.decode(Uint8Array.from(out));
}
