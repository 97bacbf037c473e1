/**
 * The MetaStore: FoundationDB's data model, written once and implemented by
 * thin backends (`lmdb` on one machine, `foundationdb` for a fleet).
 *
 * Keys and values are bytes. Keys are ordered bytewise (unsigned,
 * lexicographic), as in FoundationDB. Transactions are serializable and see
 * their own writes. FoundationDB's limits are enforced by every backend so
 * that code that passes on `lmdb` also passes on FoundationDB.
 */

/** FoundationDB's limits, enforced in every backend. */
export const metaLimits = {
  keyBytesMax: 10_000,
  valueBytesMax: 100_000,
  transactionBytesMax: 10_000_000,
  transactionMsMax: 5_000,
} as const;

export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface RangeOptions {
  /** Most pairs to return; required so that no read is unbounded. */
  readonly limit: number;
  /** Newest-first order when true. */
  readonly reverse?: boolean;
}

/** A serializable transaction with read-your-writes. */
export interface MetaTransaction {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Pairs with `begin <= key < end`, at most `limit`, in key order (or reverse). */
  getRange(begin: Uint8Array, end: Uint8Array, options: RangeOptions): Promise<KeyValue[]>;
  /**
   * The first key with `begin <= key < end`, without its value, or undefined
   * when there is none: FoundationDB's `getKey(firstGreaterOrEqual(begin))`,
   * bounded by `end`. It is for seeks that only ask where the next key is (a
   * delimiter listing lands on a key only to learn which common prefix it
   * rolls up into), so no backend copies a value that would be discarded.
   * A concurrent commit that adds or removes a key in `[begin, returned
   * key]` (in `[begin, end)` when none was found) conflicts with it; a
   * backend may count more as conflicts (FoundationDB also counts a new value
   * of the returned key), never fewer.
   */
  firstKey(begin: Uint8Array, end: Uint8Array): Promise<Uint8Array | undefined>;
  set(key: Uint8Array, value: Uint8Array): void;
  clear(key: Uint8Array): void;
  /** Clears every key with `begin <= key < end`. */
  clearRange(begin: Uint8Array, end: Uint8Array): void;
  /**
   * Atomic add of a signed 64-bit little-endian integer (FoundationDB's ADD
   * mutation). It does not add a read conflict: concurrent adds never conflict.
   * A missing value counts as zero.
   */
  add(key: Uint8Array, delta: bigint): void;
}

/** Why a transaction did not commit. */
export type MetaStoreErrorCode =
  /** A concurrent commit changed something this transaction read; `transact` retries these itself. */
  | "Conflict"
  /** Over one of `metaLimits`; the caller must split its work. */
  | "TooLarge"
  | "TooOld"
  | "KeyTooLarge"
  | "ValueTooLarge"
  | "Closed";

export class MetaStoreError extends Error {
  readonly code: MetaStoreErrorCode;
  constructor(code: MetaStoreErrorCode, message: string) {
    super(message);
    this.name = "MetaStoreError";
    this.code = code;
  }
}

export interface TransactOptions {
  /** Attempts on `Conflict` before giving up (with a `Conflict` error). */
  readonly attemptsMax?: number;
}

export interface MetaStore {
  /**
   * Runs `body` in a transaction and commits it, retrying the whole body on
   * conflict. The promise resolves only once the commit is durable. `body`
   * may run more than once, so it must have no side effects outside `tx`.
   */
  transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Waits for durability of everything committed, then releases the store. */
  close(): Promise<void>;
}
