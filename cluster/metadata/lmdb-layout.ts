/**
 * How MetaStore keys are laid out inside one LMDB database.
 *
 * LMDB refuses the empty key and keys longer than 1,978 bytes, while the
 * MetaStore accepts any key up to `metaLimits.keyBytesMax` (10,000 bytes, as
 * FoundationDB does). Both gaps are closed here, preserving byte order:
 *
 * | user key `k`                    | LMDB key                      | LMDB value                 |
 * |---------------------------------|-------------------------------|----------------------------|
 * | `k.length < groupPrefixBytes`   | `0x01 ‖ k`                    | the value, as is           |
 * | `k.length >= groupPrefixBytes`  | `0x01 ‖ k[0, groupPrefixBytes)` | a *group* (format below) |
 *
 * A group holds every long key sharing that prefix. Order is preserved: a
 * direct key is shorter than a group's prefix, so it sorts before every member
 * of the group exactly when it sorts before the prefix itself. The leading
 * 0x01 makes the empty key storable. Long keys are rare (S3 keys are at most
 * 1,024 bytes), so rewriting a whole group on each change is acceptable.
 *
 * The leading 0x01 is written and stripped by `lmdbKeyEncoder`, lmdb-js's key
 * encoder for this database: the view passes lmdb-js a user key (or a group
 * prefix) as is, and gets one back as a plain `Uint8Array`.
 *
 * Group value, format version 1 (all integers little-endian):
 *
 * | offset | bytes | field                                              |
 * |--------|-------|----------------------------------------------------|
 * | 0      | 1     | format version = 1                                 |
 * | 1      | 4     | entry count `n` (u32)                              |
 * | 5      | …     | `n` entries, ascending by suffix, suffixes unique: |
 * |        | 4     | suffix length (u32)                                |
 * |        | …     | suffix (the key after its first `groupPrefixBytes`)|
 * |        | 4     | value length (u32)                                 |
 * |        | …     | value                                              |
 */
import { assert } from "../../runtime/index.ts";
import type { RangeIterable, RootDatabase, Transaction } from "lmdb";
import { compareBytes, concatBytes, keyAfter } from "./bytes.ts";
import type { KeyValueWriter } from "./overlay-transaction.ts";
import type { KeyValue } from "./store.ts";

/** User keys at least this long live in a group keyed by their first `groupPrefixBytes` bytes. */
export const groupPrefixBytes = 1_900;
const dataPrefix = 0x01;
const groupFormatVersion = 1;
/** Stored keys handled per step of a `clearRange`, so clearing a huge range holds bounded memory. */
const clearBatchKeys = 1_000;

export type BinaryDatabase = RootDatabase<Uint8Array, Uint8Array>;

/** lmdb-js's read transaction with the bookkeeping it does not type (lmdb 3.5, read.js). */
interface SharedReadTransaction extends Transaction {
  /** True once lmdb-js has replaced it as its shared read transaction while it was in use. */
  notCurrent?: boolean;
  isDone?: boolean;
}

/**
 * The options of the view's keys-only seek (see `LmdbKeyValueView.firstKey`):
 * one object, changed before each seek, that lmdb-js reads when the seek starts.
 */
interface SeekOptions {
  start: Uint8Array;
  transaction: Transaction | undefined;
  readonly limit: 1;
  readonly values: false;
}

interface GroupEntry {
  readonly suffix: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * lmdb-js's key encoder for this database: it writes the leading 0x01 of
 * every LMDB key and strips it when reading, so the view never builds or
 * slices prefixed copies. A key comes back as a plain `Uint8Array` copied
 * byte by byte: lmdb-js's own binary keys are Buffers made by `slice` through
 * Buffer's species, about a fifth of a delimiter page's time under Bun, and
 * a `subarray` of one costs more again.
 */
export const lmdbKeyEncoder = {
  writeKey(key: Uint8Array, target: Uint8Array, start: number): number {
    // lmdb-js catches the RangeError of a key too long for its buffer.
    target.set(key, start + 1);
    target[start] = dataPrefix;
    return start + 1 + key.length;
  },
  readKey(source: Uint8Array, start: number, end: number): Uint8Array {
    assert(source[start] === dataPrefix && end > start, "lmdb key without the data prefix");
    const out = new Uint8Array(end - start - 1);
    for (let index = 0; index < out.length; index++) out[index] = source[start + 1 + index] as number;
    return out;
  },
};

/**
 * lmdb-js's value encoder for this database: values are stored as given
 * (what `encoding: "binary"` does) and read as a plain `Uint8Array` copy of
 * lmdb-js's shared read buffer (`decoderCopies`: the copy is ours to make),
 * again instead of a Buffer made through the species.
 */
export const lmdbValueEncoder = {
  encode(value: Uint8Array): Uint8Array {
    return value;
  },
  decode(source: Uint8Array, sizeBytes: number): Uint8Array {
    // A plain view of the whole buffer lmdb-js reads into, made once per
    // buffer: copying through it leaves no view behind per value.
    if (source.buffer !== valueSourceBuffer) {
      valueSourceBuffer = source.buffer;
      valueSourceView = new Uint8Array(source.buffer);
    }
    return valueSourceView.slice(source.byteOffset, source.byteOffset + sizeBytes);
  },
};
let valueSourceBuffer: ArrayBufferLike | undefined;
let valueSourceView: Uint8Array = new Uint8Array(0);

/**
 * The MetaStore key space over one LMDB database, read in `transaction` (a
 * read snapshot) or, when it is undefined, in the current LMDB write transaction.
 */
export class LmdbKeyValueView implements KeyValueWriter {
  readonly #db: BinaryDatabase;
  readonly #transaction: Transaction | undefined;
  #seekOptions: SeekOptions | undefined;
  #seekRange: RangeIterable<Uint8Array> | undefined;

  constructor(db: BinaryDatabase, transaction: Transaction | undefined) {
    this.#db = db;
    this.#transaction = transaction;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    if (key.length < groupPrefixBytes) return this.#rawGet(key);
    const group = this.#rawGet(slotKey(key));
    if (group === undefined) return undefined;
    const suffix = key.subarray(groupPrefixBytes);
    for (const entry of decodeGroup(group)) {
      if (compareBytes(entry.suffix, suffix) === 0) return entry.value;
    }
    return undefined;
  }

  *scan(begin: Uint8Array, end: Uint8Array, reverse: boolean): Iterable<KeyValue> {
    if (compareBytes(begin, end) >= 0) return;
    // A group whose prefix is a prefix of `begin` may hold members >= begin, so
    // the scan starts at the truncated key; members are filtered one by one.
    const low = slotKey(begin);
    const high = upperBound(end);
    const range = reverse
      ? this.#db.getRange({ start: high.key, end: low, reverse: true, inclusiveEnd: true, transaction: this.#readTransaction() })
      : this.#db.getRange({ start: low, end: high.key, inclusiveEnd: high.inclusive, transaction: this.#readTransaction() });
    // Forward, with both bounds shorter than a group prefix, LMDB's own bounds
    // are exact for direct keys; long bounds, and reverse scans (whose start,
    // `end` here, LMDB includes), need each key checked.
    const boundsExact = !reverse && begin.length < groupPrefixBytes && end.length < groupPrefixBytes;
    for (const pair of range) {
      const { key: slot, value } = pair;
      if (slot.length < groupPrefixBytes) {
        // lmdb-js's pair already holds the user key and a copy of the value: passed on as is, one object fewer per pair.
        if (boundsExact || (compareBytes(begin, slot) <= 0 && compareBytes(slot, end) < 0)) yield pair;
        continue;
      }
      const prefix = slot;
      const entries = decodeGroup(value);
      if (reverse) entries.reverse();
      for (const entry of entries) {
        const key = concatBytes(prefix, entry.suffix);
        if (compareBytes(begin, key) <= 0 && compareBytes(key, end) < 0) yield { key, value: entry.value };
      }
    }
  }

  /**
   * The first user key in `[begin, end)`, without reading its value: one
   * LMDB cursor seek (`MDB_SET_RANGE`) through lmdb-js's keys-only range.
   * Groups of long keys (and a long `begin`, which may fall inside one) are
   * left to `scan`, which sorts their members out; they are rare.
   *
   * lmdb-js builds an iterable, a `TextDecoder` and an options object per
   * `getRange` call besides the iterator itself (~1.3 KB of garbage per
   * one-key seek, measured). A delimiter page seeks 1,000 times, so the view
   * makes one keys-only range with `limit: 1` and, before each seek, moves
   * its `start` and sets its `transaction`: lmdb-js reads both from the
   * options object when an iteration starts (lmdb 3.5 `read.js`), and `limit`
   * and `values`, which it reads once, never change (~0.8 KB per seek, nearly
   * all of it the iterator's own closures). If lmdb-js ever took `start` when
   * the range is made, every seek would land on the first one's key: the
   * conformance suite's `firstKey` tests would fail.
   */
  firstKey(begin: Uint8Array, end: Uint8Array): Uint8Array | undefined {
    // The overlay asks only for non-empty ranges (`KeyValueReader.firstKey`).
    if (begin.length < groupPrefixBytes) {
      const slot = this.#seekSlot(begin);
      if (slot === undefined) return undefined;
      // A direct key: LMDB's start bound was exact and `end` is checked here.
      if (slot.length < groupPrefixBytes) return compareBytes(slot, end) < 0 ? slot : undefined;
    }
    for (const pair of this.scan(begin, end, false)) return pair.key;
    return undefined;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    if (key.length < groupPrefixBytes) {
      this.#db.put(key, value);
      return;
    }
    this.#updateGroup(key.subarray(0, groupPrefixBytes), (entries) => {
      const suffix = key.subarray(groupPrefixBytes);
      const index = entries.findIndex((entry) => compareBytes(entry.suffix, suffix) >= 0);
      const entry = { suffix: suffix.slice(), value };
      if (index === -1) entries.push(entry);
      else if (compareBytes((entries[index] as GroupEntry).suffix, suffix) === 0) entries[index] = entry;
      else entries.splice(index, 0, entry);
      return entries;
    });
  }

  clear(key: Uint8Array): void {
    if (key.length < groupPrefixBytes) {
      this.#db.remove(key);
      return;
    }
    const suffix = key.subarray(groupPrefixBytes);
    this.#updateGroup(key.subarray(0, groupPrefixBytes), (entries) =>
      entries.filter((entry) => compareBytes(entry.suffix, suffix) !== 0),
    );
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    if (compareBytes(begin, end) >= 0) return;
    let cursor = slotKey(begin);
    const high = upperBound(end);
    for (;;) {
      const batch = [
        ...this.#db.getRange({
          start: cursor,
          end: high.key,
          inclusiveEnd: high.inclusive,
          limit: clearBatchKeys,
          transaction: this.#transaction,
        }),
      ];
      const last = batch[batch.length - 1];
      if (last === undefined) return;
      for (const { key: slot, value } of batch) {
        if (slot.length < groupPrefixBytes) {
          if (compareBytes(begin, slot) <= 0 && compareBytes(slot, end) < 0) this.#db.remove(slot);
          continue;
        }
        const kept = decodeGroup(value).filter((entry) => {
          const key = concatBytes(slot, entry.suffix);
          return compareBytes(key, begin) < 0 || compareBytes(key, end) >= 0;
        });
        if (kept.length === 0) this.#db.remove(slot);
        else this.#db.put(slot, encodeGroup(kept));
      }
      cursor = keyAfter(last.key);
    }
  }

  /**
   * The `transaction` option for a read. lmdb-js opens (and closes) a native
   * cursor for every range read on an explicit transaction, about as costly
   * as the seek itself; on its shared read transaction it reuses one cursor.
   * So while the snapshot IS that shared transaction, reads name none and
   * lmdb-js reads it with its reused cursor: the same snapshot, read faster
   * (a page of 1,000 one-pair seeks: ~35% less time). lmdb-js marks a
   * transaction it stops sharing while in use `notCurrent` (on its timer, a
   * commit, or our next `resetReadTxn`), and a transaction is held in use
   * for as long as this view reads it, so it cannot be renewed meanwhile;
   * from then on reads name it again. `lmdb-store.test.ts` checks that a
   * snapshot outlives commits and resets, which fails if lmdb-js stops
   * marking it so.
   */
  #readTransaction(): Transaction | undefined {
    const transaction = this.#transaction as SharedReadTransaction | undefined;
    if (transaction === undefined) return undefined;
    return transaction.notCurrent !== true && transaction.isDone !== true ? undefined : transaction;
  }

  /** The first stored slot (user key or group prefix) at or after `start`, with no end bound. */
  #seekSlot(start: Uint8Array): Uint8Array | undefined {
    const transaction = this.#readTransaction();
    let options = this.#seekOptions;
    let range = this.#seekRange;
    if (options === undefined || range === undefined) {
      options = { start, transaction, limit: 1, values: false };
      range = this.#db.getKeys(options);
      this.#seekOptions = options;
      this.#seekRange = range;
    }
    options.start = start;
    options.transaction = transaction;
    const iterator = range[Symbol.iterator]();
    try {
      const step = iterator.next();
      return step.done === true ? undefined : step.value;
    } finally {
      iterator.return?.();
    }
  }

  #updateGroup(prefix: Uint8Array, change: (entries: GroupEntry[]) => GroupEntry[]): void {
    const existing = this.#rawGet(prefix);
    const entries = change(existing === undefined ? [] : decodeGroup(existing));
    if (entries.length === 0) {
      if (existing !== undefined) this.#db.remove(prefix);
    } else {
      this.#db.put(prefix, encodeGroup(entries));
    }
  }

  /**
   * Reads one stored key through a one-pair cursor: lmdb-js's `get` does not
   * honour an explicit read transaction (it returned newer data than the
   * snapshot under Bun 1.4), while its range cursors do.
   */
  #rawGet(slot: Uint8Array): Uint8Array | undefined {
    for (const pair of this.#db.getRange({ start: slot, limit: 1, transaction: this.#readTransaction() })) {
      return compareBytes(pair.key, slot) === 0 ? pair.value : undefined;
    }
    return undefined;
  }
}

/**
 * The LMDB bound that ends a scan of user keys `< end`. A long `end` is cut to
 * its group prefix and made inclusive, since that group may hold keys below
 * `end`; callers filter members against the exact bound.
 */
function upperBound(end: Uint8Array): { key: Uint8Array; inclusive: boolean } {
  if (end.length < groupPrefixBytes) return { key: end, inclusive: false };
  return { key: slotKey(end), inclusive: true };
}

/**
 * The key lmdb-js is given for a user key (`lmdbKeyEncoder` adds the 0x01):
 * the key itself when short, else its group prefix. lmdb-js copies a key
 * when it is used, so a view of the caller's bytes is enough.
 */
function slotKey(key: Uint8Array): Uint8Array {
  return key.length <= groupPrefixBytes ? key : key.subarray(0, groupPrefixBytes);
}

function encodeGroup(entries: readonly GroupEntry[]): Uint8Array {
  let length = 5;
  for (const entry of entries) length += 8 + entry.suffix.length + entry.value.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out[0] = groupFormatVersion;
  view.setUint32(1, entries.length, true);
  let offset = 5;
  for (const entry of entries) {
    view.setUint32(offset, entry.suffix.length, true);
    out.set(entry.suffix, offset + 4);
    offset += 4 + entry.suffix.length;
    view.setUint32(offset, entry.value.length, true);
    out.set(entry.value, offset + 4);
    offset += 4 + entry.value.length;
  }
  return out;
}

function decodeGroup(bytes: Uint8Array): GroupEntry[] {
  assert(bytes[0] === groupFormatVersion, `unknown long-key group format ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(1, true);
  const entries: GroupEntry[] = [];
  let offset = 5;
  for (let index = 0; index < count; index++) {
    const suffixLength = view.getUint32(offset, true);
    const suffix = bytes.subarray(offset + 4, offset + 4 + suffixLength);
    offset += 4 + suffixLength;
    const valueLength = view.getUint32(offset, true);
    const value = bytes.subarray(offset + 4, offset + 4 + valueLength);
    offset += 4 + valueLength;
    entries.push({ suffix, value });
  }
  assert(offset === bytes.length, "long-key group has trailing bytes");
  return entries;
}
