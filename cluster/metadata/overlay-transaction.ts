/**
 * A serializable transaction with read-your-writes by optimistic concurrency,
 * independent of the storage engine underneath.
 *
 * The transaction reads from one consistent snapshot (a `KeyValueReader`) and
 * buffers its writes in an overlay that its own reads see. It records every
 * key it read from the snapshot (with the value it saw) and every span of keys
 * a range read depended on (with the pairs it saw there). At commit the backend,
 * holding its exclusive write lock, calls `validate` against the latest state:
 * if every recorded read would return the same answer now, the transaction is
 * equivalent to one that ran entirely at the commit point, so applying its
 * writes (`apply`) keeps the history serializable. Otherwise it is a conflict.
 * A keys-only seek (`firstKey`) records only the key it found, so what it
 * depended on is which keys exist up to that one, not their values.
 */
import { assert } from "../../runtime/index.ts";
import { bytesEqual, bytesToOrderedString, compareBytes, keyAfter } from "./bytes.ts";
import type { KeyValue, MetaTransaction, RangeOptions } from "./store.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

/** A consistent, synchronous view of stored pairs. */
export interface KeyValueReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** Pairs with `begin <= key < end`, produced lazily, in key order (or reverse). */
  scan(begin: Uint8Array, end: Uint8Array, reverse: boolean): Iterable<KeyValue>;
  /** The first key with `begin <= key < end` (`begin < end`), read without its value. */
  firstKey(begin: Uint8Array, end: Uint8Array): Uint8Array | undefined;
}

/** A view that can also change the stored pairs (inside the backend's write transaction). */
export interface KeyValueWriter extends KeyValueReader {
  set(key: Uint8Array, value: Uint8Array): void;
  clear(key: Uint8Array): void;
  clearRange(begin: Uint8Array, end: Uint8Array): void;
}

type PointWrite =
  | { readonly kind: "set"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: "clear"; readonly key: Uint8Array }
  | { readonly kind: "add"; readonly key: Uint8Array; readonly delta: bigint };

interface PointRead {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

interface RangeRead {
  /** The span whose stored contents the answer depended on: `begin <= key < end`. */
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
  /** The stored pairs seen in the span, ascending. */
  readonly seen: readonly KeyValue[];
}

/** A keys-only seek: the first stored key in `[begin, end)` was `key` (none when undefined). */
interface KeyRead {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
  readonly key: Uint8Array | undefined;
}

interface KeyRange {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

export interface OverlayTransactionOptions {
  /** Monotonic milliseconds, used only to refuse transactions older than `metaLimits.transactionMsMax`. */
  readonly monotonicMs: () => number;
  /** Throws (a `Closed` error) when the store has been closed. */
  readonly checkOpen: () => void;
}

/**
 * FoundationDB's ADD: the existing value read as a little-endian integer
 * (missing = 0, zero-extended or truncated to 8 bytes) plus `delta`, wrapped
 * to 64 bits, written as 8 bytes.
 */
export function addLittleEndian(existing: Uint8Array | undefined, delta: bigint): Uint8Array {
  let base = 0n;
  if (existing !== undefined) {
    for (let index = Math.min(existing.length, 8) - 1; index >= 0; index--) {
      base = (base << 8n) | BigInt(existing[index] as number);
    }
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, base + delta), true);
  return out;
}

/**
 * The transaction's age is checked on its first operation and on every
 * `ageCheckOperations`-th after it, and always before a commit. Reading the
 * clock costs ~0.1 µs, a few per cent of a delimiter page of 1,000 seeks, and
 * FoundationDB does not refuse reads at exactly 5 s either (its storage
 * servers drop old versions about then); a transaction past the limit still
 * fails, at most this many operations later, and never commits.
 */
export const ageCheckOperations = 16;

/** The transaction handed to a `transact` body; the backend validates and applies it. */
export class OverlayTransaction implements MetaTransaction {
  readonly #reader: KeyValueReader;
  readonly #options: OverlayTransactionOptions;
  readonly #startMs: number;
  readonly #points = new Map<string, PointWrite>();
  readonly #clearedRanges: KeyRange[] = [];
  readonly #pointReads = new Map<string, PointRead>();
  readonly #rangeReads: RangeRead[] = [];
  readonly #keyReads: KeyRead[] = [];
  #bytesWritten = 0;
  /** Operations so far, for `ageCheckOperations`. */
  #operations = 0;
  /**
   * The first limit a write broke. FoundationDB fails such a transaction at
   * commit even when the body caught the error and went on; keeping it here
   * makes every backend refuse the commit too, instead of applying the writes
   * that fitted.
   */
  #limitRefusal: MetaStoreError | undefined;
  #finished = false;

  constructor(reader: KeyValueReader, options: OverlayTransactionOptions) {
    this.#reader = reader;
    this.#options = options;
    this.#startMs = options.monotonicMs();
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#checkUsable();
    checkKeySize(key);
    const write = this.#points.get(bytesToOrderedString(key));
    if (write !== undefined && write.kind !== "add") return write.kind === "set" ? write.value : undefined;
    if (write === undefined && this.#inClearedRange(key)) return undefined;
    const stored = this.#readStored(key);
    return write === undefined ? stored : addLittleEndian(stored, write.delta);
  }

  async getRange(begin: Uint8Array, end: Uint8Array, options: RangeOptions): Promise<KeyValue[]> {
    this.#checkUsable();
    const { limit } = options;
    assert(Number.isInteger(limit) && limit >= 0, `getRange: limit must be a non-negative integer, got ${limit}`);
    const reverse = options.reverse === true;
    if (limit === 0 || compareBytes(begin, end) >= 0) return [];

    const points: Array<{ readonly order: string; readonly write: PointWrite }> = [];
    // Read-only transactions (listings) skip building the ordered strings, a
    // fifth of a one-pair read's cost when profiled.
    if (this.#points.size > 0) {
      const beginString = bytesToOrderedString(begin);
      const endString = bytesToOrderedString(end);
      for (const [order, write] of this.#points) {
        if (order >= beginString && order < endString) points.push({ order, write });
      }
    }
    points.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
    if (reverse) points.reverse();

    const out: KeyValue[] = [];
    const seen: KeyValue[] = [];
    let lastKey: Uint8Array | undefined;
    const iterator = this.#reader.scan(begin, end, reverse)[Symbol.iterator]();
    try {
      let stored = nextPair(iterator);
      let pointIndex = 0;
      while (out.length < limit) {
        const point = points[pointIndex];
        if (stored === undefined && point === undefined) break;
        // Negative: the stored pair comes next; positive: the pending write; zero: both, same key.
        let order: number;
        if (stored === undefined) order = 1;
        else if (point === undefined) order = -1;
        else {
          const comparison = compareBytes(stored.key, point.write.key);
          order = reverse ? -comparison : comparison;
        }
        // A stored pair is fetched only while the answer still has room: a
        // read of one pair (a seek) must not read, and copy, a second.
        if (order < 0 && stored !== undefined) {
          seen.push(stored);
          lastKey = stored.key;
          if (!this.#inClearedRange(stored.key)) out.push(stored);
          stored = out.length < limit ? nextPair(iterator) : undefined;
        } else if (point !== undefined) {
          let base: Uint8Array | undefined;
          let consumed = false;
          if (order === 0 && stored !== undefined) {
            seen.push(stored);
            base = stored.value;
            consumed = true;
          }
          lastKey = point.write.key;
          const value = resolveWrite(point.write, base);
          if (value !== undefined) out.push({ key: point.write.key, value });
          pointIndex++;
          if (consumed) stored = out.length < limit ? nextPair(iterator) : undefined;
        }
      }
    } finally {
      iterator.return?.();
    }

    // The answer depended on the stored pairs only up to the last key it consumed
    // when the limit cut it short; a narrower span means fewer false conflicts.
    const exhausted = out.length < limit || lastKey === undefined;
    if (reverse) seen.reverse();
    this.#rangeReads.push({
      begin: exhausted || !reverse ? begin : (lastKey as Uint8Array),
      end: exhausted || reverse ? end : keyAfter(lastKey as Uint8Array),
      seen,
    });
    return out;
  }

  async firstKey(begin: Uint8Array, end: Uint8Array): Promise<Uint8Array | undefined> {
    this.#checkUsable();
    if (compareBytes(begin, end) >= 0) return undefined;
    if (this.#points.size > 0 || this.#clearedRanges.length > 0) {
      // Pending writes may add, hide or replace keys: the merging range read
      // answers (it reads a value too, and records it, so a later change of
      // that value counts as a conflict here: more than needed, never less).
      const [pair] = await this.getRange(begin, end, { limit: 1 });
      return pair?.key;
    }
    // Nothing pending (every listing transaction): the snapshot answers alone.
    const key = this.#reader.firstKey(begin, end);
    this.#keyReads.push({ begin, end, key });
    return key;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.#checkUsable();
    this.#checkKey(key);
    if (value.length > metaLimits.valueBytesMax) {
      this.#refuse(new MetaStoreError("ValueTooLarge", `value of ${value.length} bytes exceeds ${metaLimits.valueBytesMax}`));
    }
    this.#countWrite(key.length + value.length);
    // Copied so that a caller reusing its buffer cannot change what commits.
    this.#points.set(bytesToOrderedString(key), { kind: "set", key: key.slice(), value: value.slice() });
  }

  clear(key: Uint8Array): void {
    this.#checkUsable();
    this.#checkKey(key);
    this.#countWrite(key.length);
    this.#points.set(bytesToOrderedString(key), { kind: "clear", key: key.slice() });
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    this.#checkUsable();
    if (compareBytes(begin, end) >= 0) return;
    this.#countWrite(begin.length + end.length);
    const beginString = bytesToOrderedString(begin);
    const endString = bytesToOrderedString(end);
    for (const order of [...this.#points.keys()]) {
      if (order >= beginString && order < endString) this.#points.delete(order);
    }
    this.#clearedRanges.push({ begin: begin.slice(), end: end.slice() });
  }

  add(key: Uint8Array, delta: bigint): void {
    this.#checkUsable();
    this.#checkKey(key);
    this.#countWrite(key.length + 8);
    const order = bytesToOrderedString(key);
    const write = this.#points.get(order);
    const ownKey = key.slice();
    if (write === undefined) {
      // Over a pending clearRange the base is known to be missing (zero), so the add becomes a set.
      this.#points.set(
        order,
        this.#inClearedRange(key)
          ? { kind: "set", key: ownKey, value: addLittleEndian(undefined, delta) }
          : { kind: "add", key: ownKey, delta },
      );
    } else if (write.kind === "add") {
      this.#points.set(order, { kind: "add", key: ownKey, delta: write.delta + delta });
    } else {
      const base = write.kind === "set" ? write.value : undefined;
      this.#points.set(order, { kind: "set", key: ownKey, value: addLittleEndian(base, delta) });
    }
  }

  /** True when committing would change something. Read-only transactions need no commit. */
  hasWrites(): boolean {
    return this.#points.size > 0 || this.#clearedRanges.length > 0;
  }

  /**
   * Throws, before a commit, what FoundationDB's commit would: the limit a
   * write broke (`TooLarge`, `KeyTooLarge`, `ValueTooLarge`), even when the
   * body caught it, else `TooOld` when the transaction is too old.
   */
  checkLimits(): void {
    if (this.#limitRefusal !== undefined) throw this.#limitRefusal;
    this.checkAge();
  }

  /** Throws `TooOld` when the transaction has outlived `metaLimits.transactionMsMax`. */
  checkAge(): void {
    const elapsedMs = this.#options.monotonicMs() - this.#startMs;
    if (elapsedMs > metaLimits.transactionMsMax) {
      throw new MetaStoreError("TooOld", `transaction is ${Math.round(elapsedMs)} ms old (max ${metaLimits.transactionMsMax})`);
    }
  }

  /** True when every recorded read would give the same answer against `current`. */
  validate(current: KeyValueReader): boolean {
    for (const read of this.#pointReads.values()) {
      if (!bytesEqual(current.get(read.key), read.value)) return false;
    }
    for (const read of this.#rangeReads) {
      let index = 0;
      for (const pair of current.scan(read.begin, read.end, false)) {
        const expected = read.seen[index++];
        if (expected === undefined || !bytesEqual(pair.key, expected.key) || !bytesEqual(pair.value, expected.value)) {
          return false;
        }
      }
      if (index !== read.seen.length) return false;
    }
    for (const read of this.#keyReads) {
      if (!bytesEqual(current.firstKey(read.begin, read.end), read.key)) return false;
    }
    return true;
  }

  /** Applies the buffered writes to `writer`, in an order that yields the overlay's final state. */
  apply(writer: KeyValueWriter): void {
    // Each clearRange already removed the point writes it covered when it was
    // issued, so every remaining point write happened after every clearRange
    // that covers its key: clearing first, then writing points, is exact.
    for (const range of this.#clearedRanges) writer.clearRange(range.begin, range.end);
    for (const write of this.#points.values()) {
      switch (write.kind) {
        case "set":
          writer.set(write.key, write.value);
          break;
        case "clear":
          writer.clear(write.key);
          break;
        case "add":
          writer.set(write.key, addLittleEndian(writer.get(write.key), write.delta));
          break;
      }
    }
  }

  /** Marks the transaction over; any later use by a leaked reference is a bug. */
  finish(): void {
    this.#finished = true;
  }

  #readStored(key: Uint8Array): Uint8Array | undefined {
    const order = bytesToOrderedString(key);
    const earlier = this.#pointReads.get(order);
    // The snapshot does not move, so a second read of the same key needs no second record.
    if (earlier !== undefined) return earlier.value;
    const value = this.#reader.get(key);
    this.#pointReads.set(order, { key: key.slice(), value });
    return value;
  }

  #inClearedRange(key: Uint8Array): boolean {
    for (const range of this.#clearedRanges) {
      if (compareBytes(range.begin, key) <= 0 && compareBytes(key, range.end) < 0) return true;
    }
    return false;
  }

  #countWrite(bytes: number): void {
    this.#bytesWritten += bytes;
    if (this.#bytesWritten > metaLimits.transactionBytesMax) {
      this.#refuse(
        new MetaStoreError("TooLarge", `transaction writes ${this.#bytesWritten} bytes, more than ${metaLimits.transactionBytesMax}`),
      );
    }
  }

  /** A write's key over the limit fails the whole transaction, like any other broken limit. */
  #checkKey(key: Uint8Array): void {
    if (key.length > metaLimits.keyBytesMax) {
      this.#refuse(new MetaStoreError("KeyTooLarge", `key of ${key.length} bytes exceeds ${metaLimits.keyBytesMax}`));
    }
  }

  #refuse(error: MetaStoreError): never {
    this.#limitRefusal ??= error;
    throw error;
  }

  #checkUsable(): void {
    assert(!this.#finished, "transaction used after its transact() call finished");
    this.#options.checkOpen();
    if (this.#operations++ % ageCheckOperations === 0) this.checkAge();
  }
}

function checkKeySize(key: Uint8Array): void {
  if (key.length > metaLimits.keyBytesMax) {
    throw new MetaStoreError("KeyTooLarge", `key of ${key.length} bytes exceeds ${metaLimits.keyBytesMax}`);
  }
}

function nextPair(iterator: Iterator<KeyValue>): KeyValue | undefined {
  const step = iterator.next();
  return step.done === true ? undefined : step.value;
}

function resolveWrite(write: PointWrite, base: Uint8Array | undefined): Uint8Array | undefined {
  switch (write.kind) {
    case "set":
      return write.value;
    case "clear":
      return undefined;
    case "add":
      return addLittleEndian(base, write.delta);
  }
}
