/**
 * The embedded MetaStore backend on LMDB (npm `lmdb`). Several processes may
 * open the same environment: LMDB serializes write transactions across them.
 *
 * Transactions are optimistic (see `overlay-transaction.ts`): the body reads a
 * consistent LMDB read snapshot and buffers its writes; the commit runs inside
 * one synchronous LMDB write transaction, which re-validates every read against
 * the latest data and either applies every write or none. lmdb-js's
 * asynchronous `transaction()` never completes under Bun 1.4, so commits use
 * `transactionSync`, which also returns only once the commit is flushed to disk.
 */
import type { Transaction } from "lmdb";
import { open } from "lmdb";
import type { BinaryDatabase } from "./lmdb-layout.ts";
import { LmdbKeyValueView, lmdbKeyEncoder, lmdbValueEncoder } from "./lmdb-layout.ts";
import { OverlayTransaction } from "./overlay-transaction.ts";
import type { MetaStore, MetaTransaction, TransactOptions } from "./store.ts";
import { MetaStoreError } from "./store.ts";
import { systemClock } from "../../runtime/index.ts";

const systemMonotonicMs = systemClock().monotonicMs;

export interface LmdbStoreOptions {
  /** Directory of the LMDB environment (created if missing). */
  readonly path: string;
  /**
   * Monotonic milliseconds, used only to refuse transactions older than
   * `metaLimits.transactionMsMax`. Defaults to the runtime's system clock,
   * because FoundationDB's 5 s limit is measured in real time and the store
   * must refuse exactly what FDB refuses.
   */
  readonly monotonicMs?: () => number;
  /**
   * Called before retrying a conflicted transaction (attempt counts from 1), so
   * that a caller holding a `Clock` can back off with jitter. Without it the
   * store retries at once: only `runtime/` may own timers.
   */
  readonly beforeRetry?: (attempt: number) => Promise<void>;
}

/** Default attempts on `Conflict` before `transact` gives up. */
export const transactAttemptsMaxDefault = 10;

/** Opens (creating if needed) an LMDB environment as a MetaStore. */
export async function openLmdbStore(options: LmdbStoreOptions): Promise<MetaStore> {
  const db: BinaryDatabase = open<Uint8Array, Uint8Array>({
    path: options.path,
    // Bytes in, bytes out, through encoders that write the layout's 0x01 key
    // prefix and return plain copies (see lmdb-layout.ts). No `keyEncoding`:
    // lmdb-js would prefer its own binary key handling to `keyEncoder`.
    keyEncoder: lmdbKeyEncoder,
    encoding: "binary",
    encoder: lmdbValueEncoder,
    // `path` is always a directory; lmdb-js would otherwise take a path with a
    // dot in its last segment ("meta.v1", "/tmp/tmp.abc") for a file name.
    noSubdir: false,
    // Durability: commits must be flushed before `transact` resolves. Plain
    // synchronous commits give that; overlapping sync would acknowledge first.
    overlappingSync: false,
    noSync: false,
  });
  return new LmdbStore(db, options);
}

class LmdbStore implements MetaStore {
  readonly #db: BinaryDatabase;
  readonly #monotonicMs: () => number;
  readonly #beforeRetry: ((attempt: number) => Promise<void>) | undefined;
  #closed = false;
  /** Read snapshots of transactions still running, released at the latest by `close()`. */
  readonly #snapshots = new Set<Transaction>();

  constructor(db: BinaryDatabase, options: LmdbStoreOptions) {
    this.#db = db;
    this.#monotonicMs = options.monotonicMs ?? systemMonotonicMs;
    this.#beforeRetry = options.beforeRetry;
  }

  async transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    const attemptsMax = options?.attemptsMax ?? transactAttemptsMaxDefault;
    if (!(Number.isInteger(attemptsMax) && attemptsMax >= 1)) {
      throw new Error(`transact: attemptsMax must be a positive integer, got ${attemptsMax}`);
    }
    for (let attempt = 1; ; attempt++) {
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
    if (this.#closed) return;
    this.#closed = true;
    // A body still running will fail with Closed at its next operation; its
    // snapshot must not outlive the environment.
    for (const snapshot of this.#snapshots) snapshot.done();
    this.#snapshots.clear();
    // Every commit was synchronous and flushed; `flushed` covers any write lmdb-js itself queued.
    await this.#db.flushed;
    await this.#db.close();
  }

  async #attempt<T>(body: (tx: MetaTransaction) => Promise<T>): Promise<{ committed: true; result: T } | { committed: false }> {
    // A fresh snapshot per attempt: lmdb-js otherwise shares one read
    // transaction per event-loop turn, and a retry must see the commit it lost to.
    this.#db.resetReadTxn();
    const snapshot = this.#db.useReadTransaction();
    this.#snapshots.add(snapshot);
    const tx = new OverlayTransaction(new LmdbKeyValueView(this.#db, snapshot), {
      monotonicMs: this.#monotonicMs,
      checkOpen: () => this.#checkOpen(),
    });
    try {
      const result = await body(tx);
      tx.finish();
      this.#checkOpen();
      tx.checkLimits();
      // A transaction that wrote nothing is serializable at its snapshot: nothing to commit.
      if (!tx.hasWrites()) return { committed: true, result };
      const committed = this.#db.transactionSync(() => {
        const current = new LmdbKeyValueView(this.#db, undefined);
        if (!tx.validate(current)) return false;
        tx.apply(current);
        return true;
      });
      return committed ? { committed: true, result } : { committed: false };
    } finally {
      tx.finish();
      if (this.#snapshots.delete(snapshot)) snapshot.done();
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MetaStoreError("Closed", "the metadata store is closed");
  }
}
