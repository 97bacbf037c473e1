/**
 * An in-memory MetaStore, for simulations and unit tests: FoundationDB's model
 * (ordered byte keys, serializable optimistic transactions with
 * read-your-writes, range reads, atomic add, FDB's limits) with no file and no
 * real I/O, so a simulated fleet stays deterministic.
 *
 * Transactions are the same `OverlayTransaction` the LMDB backend uses: the
 * body reads one consistent snapshot and buffers its writes; the commit
 * re-validates every read against the latest data and applies all writes or
 * none. Snapshots come from multi-version storage (`MemoryStorage`): every
 * key keeps the values written at each commit version that a running
 * transaction may still read, and older versions are pruned as soon as no
 * snapshot needs them.
 *
 * Data lives in a `MemoryStorage`, not in the store handle, so a test can
 * close a store and open another over the same storage ("durable across close
 * and reopen"), or give every node of a simulated fleet one shared storage as
 * if it were one metadata cluster.
 *
 * Fault injection (`faults`): a commit can be delayed on a (simulated) clock
 * and a commit that would succeed can be refused with a transient `Conflict`,
 * both drawn from a seeded `Random`, so a simulation shuffles commit timing
 * and exercises retry paths while staying reproducible from its seed.
 */
import { assert, systemClock } from "../../runtime/index.ts";
import type { Clock, Random } from "../../runtime/index.ts";
import { bytesToOrderedString } from "./bytes.ts";
import type { KeyValueReader, KeyValueWriter } from "./overlay-transaction.ts";
import { OverlayTransaction } from "./overlay-transaction.ts";
import type { KeyValue, MetaStore, MetaTransaction, TransactOptions } from "./store.ts";
import { MetaStoreError } from "./store.ts";
import { transactAttemptsMaxDefault } from "./lmdb-store.ts";

/** Injected latency and transient conflicts, drawn from `random`, waited on `clock`. */
export interface MemoryStoreFaults {
  /** The clock commit delays sleep on (a simulated one keeps the run deterministic). */
  readonly clock: Clock;
  /** The source of every injected delay and conflict; fork one per store. */
  readonly random: Random;
  /** Each commit waits a uniform whole number of ms in `[0, commitDelayMsMax]` before it validates. 0 = no delay. */
  readonly commitDelayMsMax: number;
  /** Each read (`get`, `getRange`, `firstKey`) waits a uniform whole number of ms in `[0, readDelayMsMax]`. 0 = no delay. */
  readonly readDelayMsMax?: number;
  /** Probability in [0, 1] that a commit which would succeed is refused as a `Conflict` (and retried by `transact`). */
  readonly conflictProbability: number;
}

export interface MemoryStoreOptions {
  /** The data; defaults to a fresh, empty storage. Share one to reopen the same data or share it between stores. */
  readonly storage?: MemoryStorage;
  /**
   * Monotonic milliseconds, used only to refuse transactions older than
   * `metaLimits.transactionMsMax`. Defaults to `faults.clock` when faults are
   * given (a simulated transaction ages in simulated time), else the system clock.
   */
  readonly monotonicMs?: () => number;
  /** Called before retrying a conflicted transaction (attempt counts from 1), e.g. to back off on a clock. */
  readonly beforeRetry?: (attempt: number) => Promise<void>;
  readonly faults?: MemoryStoreFaults;
}

/** A fresh, empty in-memory key space. */
export function createMemoryStorage(): MemoryStorage {
  return new MemoryStorage();
}

/** Opens a MetaStore over `options.storage` (a fresh one by default). */
export function openMemoryStore(options: MemoryStoreOptions = {}): MetaStore {
  const faults = options.faults;
  if (faults !== undefined) {
    assert(
      Number.isSafeInteger(faults.commitDelayMsMax) && faults.commitDelayMsMax >= 0,
      `openMemoryStore: commitDelayMsMax must be a non-negative integer, got ${faults.commitDelayMsMax}`,
    );
    const readDelayMsMax = faults.readDelayMsMax ?? 0;
    assert(
      Number.isSafeInteger(readDelayMsMax) && readDelayMsMax >= 0,
      `openMemoryStore: readDelayMsMax must be a non-negative integer, got ${readDelayMsMax}`,
    );
    assert(
      faults.conflictProbability >= 0 && faults.conflictProbability <= 1,
      `openMemoryStore: conflictProbability must be in [0, 1], got ${faults.conflictProbability}`,
    );
  }
  return new MemoryStore(options);
}

// ---------------------------------------------------------------------------
// Multi-version storage

/** One value of a key as of a commit version; `undefined` marks a clear. */
interface VersionedValue {
  readonly version: number;
  readonly value: Uint8Array | undefined;
}

interface KeyHistory {
  readonly key: Uint8Array;
  /** Ascending by version; never empty. */
  versions: VersionedValue[];
}

/**
 * Ordered keys with a short value history each. Version `v` is the state after
 * the `v`-th commit; a snapshot at `v` sees, for every key, its newest value
 * at a version `<= v`.
 *
 * Keys are held as "ordered strings" (one UTF-16 unit per byte), whose `<`
 * order is the keys' unsigned bytewise order, in a sorted array searched by
 * bisection. A key whose only remaining history is a clear that no snapshot
 * can see is removed, so cleared keys do not accumulate.
 */
export class MemoryStorage {
  /** Sorted ascending. */
  readonly #orders: string[] = [];
  readonly #histories = new Map<string, KeyHistory>();
  #version = 0;
  /** Open snapshot versions and how many transactions hold each. */
  readonly #snapshots = new Map<number, number>();
  /** Keys whose history may hold versions that no snapshot needs any more. */
  readonly #prunable = new Set<string>();
  /** Counts insertions into and removals from `#orders`. */
  #shapeChanges = 0;

  /** Live keys (for tests and diagnostics). */
  keyCount(): number {
    let count = 0;
    for (const history of this.#histories.values()) {
      if (history.versions[history.versions.length - 1]!.value !== undefined) count += 1;
    }
    return count;
  }

  /** Values held across all keys and versions, clears included (for tests of pruning). */
  storedVersionCount(): number {
    let count = 0;
    for (const history of this.#histories.values()) count += history.versions.length;
    return count;
  }

  /** Pins the current version for a transaction's reads; release with `releaseSnapshot`. */
  openSnapshot(): number {
    const version = this.#version;
    this.#snapshots.set(version, (this.#snapshots.get(version) ?? 0) + 1);
    return version;
  }

  releaseSnapshot(version: number): void {
    const count = this.#snapshots.get(version);
    assert(count !== undefined, `releaseSnapshot: version ${version} is not open`);
    if (count > 1) this.#snapshots.set(version, count - 1);
    else this.#snapshots.delete(version);
    this.#prune();
  }

  /** A reader of the state at `version` (a snapshot the caller holds open). */
  reader(version: number): KeyValueReader {
    return {
      get: (key) => this.#valueAt(bytesToOrderedString(key), version),
      scan: (begin, end, reverse) => this.#scan(begin, end, reverse, version),
      firstKey: (begin, end) => this.#firstKey(begin, end, version),
    };
  }

  /**
   * Runs `body` with a writer at the latest version; every write it makes is
   * one new commit version. Synchronous, so nothing interleaves with it.
   */
  commit(body: (writer: KeyValueWriter) => boolean): boolean {
    const version = this.#version + 1;
    const writer: KeyValueWriter = {
      get: (key) => this.#valueAt(bytesToOrderedString(key), version),
      scan: (begin, end, reverse) => this.#scan(begin, end, reverse, version),
      firstKey: (begin, end) => this.#firstKey(begin, end, version),
      set: (key, value) => this.#write(key, value, version),
      clear: (key) => this.#write(key, undefined, version),
      clearRange: (begin, end) => {
        const beginOrder = bytesToOrderedString(begin);
        const endOrder = bytesToOrderedString(end);
        if (beginOrder >= endOrder) return;
        // Collected first: writing a clear may remove a key from #orders.
        const covered = this.#orders.slice(this.#lowerBound(beginOrder), this.#lowerBound(endOrder));
        for (const order of covered) {
          if (this.#valueAt(order, version) !== undefined) this.#write(this.#histories.get(order)!.key, undefined, version);
        }
      },
    };
    // The body validates before it writes, so a refused commit wrote nothing.
    const committed = body(writer);
    if (committed) this.#version = version;
    this.#prune();
    return committed;
  }

  #write(key: Uint8Array, value: Uint8Array | undefined, version: number): void {
    const order = bytesToOrderedString(key);
    let history = this.#histories.get(order);
    if (history === undefined) {
      if (value === undefined) return;
      history = { key: key.slice(), versions: [] };
      this.#histories.set(order, history);
      this.#orders.splice(this.#lowerBound(order), 0, order);
      this.#shapeChanges += 1;
    }
    const last = history.versions[history.versions.length - 1];
    const entry: VersionedValue = { version, value: value === undefined ? undefined : value.slice() };
    // Two writes to one key in one commit: the later one wins.
    if (last !== undefined && last.version === version) history.versions[history.versions.length - 1] = entry;
    else history.versions.push(entry);
    this.#prunable.add(order);
  }

  #valueAt(order: string, version: number): Uint8Array | undefined {
    const history = this.#histories.get(order);
    if (history === undefined) return undefined;
    const versions = history.versions;
    for (let index = versions.length - 1; index >= 0; index -= 1) {
      const entry = versions[index]!;
      if (entry.version <= version) return entry.value;
    }
    return undefined;
  }

  *#scan(begin: Uint8Array, end: Uint8Array, reverse: boolean, version: number): Iterable<KeyValue> {
    const beginOrder = bytesToOrderedString(begin);
    const endOrder = bytesToOrderedString(end);
    if (beginOrder >= endOrder) return;
    // Walks indices of the sorted array without copying it, so a limited read
    // of a huge range costs only what it reads. Every consumer drains a scan
    // synchronously and commits are synchronous, so the array cannot change
    // under a walk; the shape counter proves it.
    const shape = this.#shapeChanges;
    const first = this.#lowerBound(beginOrder);
    const stop = this.#lowerBound(endOrder);
    for (let step = 0; step < stop - first; step += 1) {
      assert(this.#shapeChanges === shape, "MemoryStorage: keys were inserted or removed during a scan");
      const order = this.#orders[reverse ? stop - 1 - step : first + step]!;
      const value = this.#valueAt(order, version);
      if (value !== undefined) yield { key: this.#histories.get(order)!.key, value };
    }
  }

  #firstKey(begin: Uint8Array, end: Uint8Array, version: number): Uint8Array | undefined {
    for (const pair of this.#scan(begin, end, false, version)) return pair.key;
    return undefined;
  }

  /** Index of the first key `>= order`. */
  #lowerBound(order: string): number {
    let low = 0;
    let high = this.#orders.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#orders[middle]! < order) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Drops every version that no open snapshot (nor the latest state) can read. */
  #prune(): void {
    if (this.#prunable.size === 0) return;
    let oldest = this.#version;
    for (const version of this.#snapshots.keys()) oldest = Math.min(oldest, version);
    for (const order of [...this.#prunable]) {
      const history = this.#histories.get(order);
      if (history === undefined) {
        this.#prunable.delete(order);
        continue;
      }
      // The newest version <= oldest is what the oldest reader sees; older ones are unreachable.
      let keepFrom = 0;
      for (let index = history.versions.length - 1; index >= 0; index -= 1) {
        if (history.versions[index]!.version <= oldest) {
          keepFrom = index;
          break;
        }
      }
      if (keepFrom > 0) history.versions = history.versions.slice(keepFrom);
      if (history.versions.length > 1) continue;
      this.#prunable.delete(order);
      if (history.versions[0]!.value === undefined) {
        this.#histories.delete(order);
        this.#orders.splice(this.#lowerBound(order), 1);
        this.#shapeChanges += 1;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The store

const systemMonotonicMs = systemClock().monotonicMs;

class MemoryStore implements MetaStore {
  readonly #storage: MemoryStorage;
  readonly #monotonicMs: () => number;
  readonly #beforeRetry: ((attempt: number) => Promise<void>) | undefined;
  readonly #faults: MemoryStoreFaults | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions) {
    this.#storage = options.storage ?? new MemoryStorage();
    this.#faults = options.faults;
    const faultClock = options.faults?.clock;
    this.#monotonicMs = options.monotonicMs ?? (faultClock === undefined ? systemMonotonicMs : () => faultClock.monotonicMs());
    this.#beforeRetry = options.beforeRetry;
  }

  async transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    const attemptsMax = options?.attemptsMax ?? transactAttemptsMaxDefault;
    if (!(Number.isInteger(attemptsMax) && attemptsMax >= 1)) {
      throw new Error(`transact: attemptsMax must be a positive integer, got ${attemptsMax}`);
    }
    for (let attempt = 1; ; attempt += 1) {
      this.#checkOpen();
      const outcome = await this.#attempt(body);
      if (outcome.committed) return outcome.result;
      if (attempt >= attemptsMax) {
        throw new MetaStoreError("Conflict", `transaction conflicted ${attempt} times; giving up`);
      }
      if (this.#beforeRetry !== undefined) await this.#beforeRetry(attempt);
    }
  }

  async close(): Promise<void> {
    // Every commit applied in memory before `transact` resolved: nothing to flush.
    this.#closed = true;
  }

  async #attempt<T>(body: (tx: MetaTransaction) => Promise<T>): Promise<{ committed: true; result: T } | { committed: false }> {
    const storage = this.#storage;
    const snapshot = storage.openSnapshot();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      storage.releaseSnapshot(snapshot);
    };
    const tx = new OverlayTransaction(storage.reader(snapshot), {
      monotonicMs: this.#monotonicMs,
      checkOpen: () => this.#checkOpen(),
    });
    const faults = this.#faults;
    const readDelayMsMax = faults?.readDelayMsMax ?? 0;
    const view = faults === undefined || readDelayMsMax === 0 ? tx : delayedReads(tx, faults, readDelayMsMax);
    try {
      const result = await body(view);
      tx.finish();
      this.#checkOpen();
      tx.checkLimits();
      // A transaction that wrote nothing is serializable at its snapshot: nothing to commit.
      if (!tx.hasWrites()) return { committed: true, result };
      // The snapshot is no longer read; releasing it before the commit lets
      // the commit prune what only this transaction still pinned.
      release();
      await this.#commitDelay();
      this.#checkOpen();
      tx.checkLimits();
      if (this.#injectConflict()) return { committed: false };
      const committed = storage.commit((writer) => {
        if (!tx.validate(writer)) return false;
        tx.apply(writer);
        return true;
      });
      return committed ? { committed: true, result } : { committed: false };
    } finally {
      tx.finish();
      release();
    }
  }

  async #commitDelay(): Promise<void> {
    const faults = this.#faults;
    if (faults === undefined || faults.commitDelayMsMax === 0) return;
    const delayMs = faults.random.integer(faults.commitDelayMsMax + 1);
    if (delayMs > 0) await faults.clock.sleep(delayMs);
  }

  #injectConflict(): boolean {
    const faults = this.#faults;
    if (faults === undefined || faults.conflictProbability === 0) return false;
    return faults.random.next() < faults.conflictProbability;
  }

  #checkOpen(): void {
    if (this.#closed) throw new MetaStoreError("Closed", "the metadata store is closed");
  }
}

/**
 * The transaction as the body sees it when reads are slowed: each read first
 * waits a drawn delay on the faults' clock, then reads the (unmoving) snapshot.
 */
function delayedReads(tx: MetaTransaction, faults: MemoryStoreFaults, readDelayMsMax: number): MetaTransaction {
  const pause = async (): Promise<void> => {
    const delayMs = faults.random.integer(readDelayMsMax + 1);
    if (delayMs > 0) await faults.clock.sleep(delayMs);
  };
  return {
    get: async (key) => {
      await pause();
      return tx.get(key);
    },
    getRange: async (begin, end, options) => {
      await pause();
      return tx.getRange(begin, end, options);
    },
    firstKey: async (begin, end) => {
      await pause();
      return tx.firstKey(begin, end);
    },
    set: (key, value) => tx.set(key, value),
    clear: (key) => tx.clear(key),
    clearRange: (begin, end) => tx.clearRange(begin, end),
    add: (key, delta) => tx.add(key, delta),
  };
}
