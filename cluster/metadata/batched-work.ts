/**
 * Large jobs as a sequence of transactions, each inside FoundationDB's limits
 * (`metaLimits`: 10 MB written, 5 s), resumable from a cursor.
 *
 * A job is a `step` that, in one transaction, does as much work from a cursor
 * as its `WorkBudget` allows and returns the cursor after the last item it
 * finished (or `done`). `runBatchedWork` commits each step in its own
 * transaction, reports the cursor after every commit (a caller may store it
 * to resume after a crash), and stops after `transactionsMax` transactions
 * with the cursor to continue from: no job is unbounded.
 *
 * The budget is deliberately a fraction of FDB's limits: the byte count here
 * covers keys and values written (FDB also counts conflict ranges and
 * per-mutation overhead), and the clock here cannot see the commit itself.
 *
 * Invariants:
 * - a step finishes at least one item before its budget may stop it (so every
 *   transaction makes progress) — asserted through `WorkBudget.itemDone`;
 * - a step may run more than once for the same cursor (the store retries a
 *   conflicted transaction), so it derives everything from `tx` and `cursor`;
 * - the cursor is only advanced by a committed transaction.
 */
import { assert } from "../../runtime/index.ts";
import { compareBytes, keyAfter } from "./bytes.ts";
import type { KeyRange } from "./keyspace.ts";
import type { KeyValue, MetaStore, MetaTransaction } from "./store.ts";
import { metaLimits } from "./store.ts";

/** Default bytes a step may write: a quarter of FDB's 10 MB. */
export const batchBytesMaxDefault = metaLimits.transactionBytesMax / 4;
/** Default time a step may run: a fifth of FDB's 5 s, leaving room for the commit and a slow disk. */
export const batchMsMaxDefault = metaLimits.transactionMsMax / 5;
/** Default items a step may finish: keeps an LMDB commit (which applies every write at once) short. */
export const batchItemsMaxDefault = 10_000;

/** What a step has spent in its transaction, and whether it must stop. */
export interface WorkBudget {
  /** Call after finishing each item (its writes already made through `tx`). */
  itemDone(): void;
  /** True once the step finished an item and has spent its bytes, time or items: return the cursor now. */
  exhausted(): boolean;
  readonly itemsDone: number;
  readonly bytesWritten: number;
}

export type StepResult<C> = { readonly done: false; readonly cursor: C } | { readonly done: true };

export interface BatchedJob<C> {
  /** Where the job starts, or resumes (a cursor an earlier run reported). */
  readonly cursor: C;
  /** Does work from `cursor` in `tx` until the budget is exhausted or the job is done. */
  step(tx: MetaTransaction, cursor: C, budget: WorkBudget): Promise<StepResult<C>>;
}

export interface BatchedWorkOptions<C> {
  /** Monotonic milliseconds (a `Clock`'s `monotonicMs`), to measure each step. */
  readonly monotonicMs: () => number;
  /** Transactions this call may commit; then it returns the cursor to continue from. */
  readonly transactionsMax: number;
  readonly bytesPerTransactionMax?: number;
  readonly msPerTransactionMax?: number;
  readonly itemsPerTransactionMax?: number;
  /** Called after each commit with the cursor to resume from (e.g. to persist it). */
  readonly onCommitted?: (progress: BatchedProgress<C>) => void | Promise<void>;
}

export interface BatchedProgress<C> {
  /** The cursor to resume from, or undefined once the job is done. */
  readonly cursor: C | undefined;
  readonly transactions: number;
  readonly items: number;
}

export interface BatchedWorkReport<C> extends BatchedProgress<C> {
  readonly done: boolean;
  /** The most bytes one transaction wrote (keys and values, as the store counts them). */
  readonly bytesPerTransactionMax: number;
  /** The longest one transaction took, commit included (measured around `transact`). */
  readonly msPerTransactionMax: number;
  readonly itemsPerTransactionMax: number;
}

/** Runs `job` as a sequence of budgeted transactions; see the file comment. */
export async function runBatchedWork<C>(store: MetaStore, job: BatchedJob<C>, options: BatchedWorkOptions<C>): Promise<BatchedWorkReport<C>> {
  const bytesMax = options.bytesPerTransactionMax ?? batchBytesMaxDefault;
  const msMax = options.msPerTransactionMax ?? batchMsMaxDefault;
  const itemsMax = options.itemsPerTransactionMax ?? batchItemsMaxDefault;
  assert(Number.isInteger(options.transactionsMax) && options.transactionsMax >= 1, "runBatchedWork: transactionsMax must be >= 1");
  assert(bytesMax > 0 && bytesMax <= metaLimits.transactionBytesMax, `runBatchedWork: bytes budget ${bytesMax} outside FDB's limit`);
  assert(msMax > 0 && msMax < metaLimits.transactionMsMax, `runBatchedWork: time budget ${msMax} ms outside FDB's limit`);
  assert(Number.isInteger(itemsMax) && itemsMax >= 1, "runBatchedWork: itemsPerTransactionMax must be >= 1");

  let cursor: C | undefined = job.cursor;
  let transactions = 0;
  let items = 0;
  let bytesSeen = 0;
  let msSeen = 0;
  let itemsSeen = 0;
  while (cursor !== undefined && transactions < options.transactionsMax) {
    const from: C = cursor;
    const startMs = options.monotonicMs();
    const outcome = await store.transact(async (tx) => {
      const budget = new StepBudget(options.monotonicMs, { bytesMax, msMax, itemsMax });
      const result = await job.step(budget.wrap(tx), from, budget);
      assert(result.done || budget.itemsDone > 0, "runBatchedWork: a step that is not done must finish at least one item");
      return { result, itemsDone: budget.itemsDone, bytesWritten: budget.bytesWritten };
    });
    transactions += 1;
    items += outcome.itemsDone;
    bytesSeen = Math.max(bytesSeen, outcome.bytesWritten);
    msSeen = Math.max(msSeen, options.monotonicMs() - startMs);
    itemsSeen = Math.max(itemsSeen, outcome.itemsDone);
    cursor = outcome.result.done ? undefined : outcome.result.cursor;
    await options.onCommitted?.({ cursor, transactions, items });
  }
  return {
    cursor,
    transactions,
    items,
    done: cursor === undefined,
    bytesPerTransactionMax: bytesSeen,
    msPerTransactionMax: msSeen,
    itemsPerTransactionMax: itemsSeen,
  };
}

/** Counts what one attempt of a step writes and how long it runs. */
class StepBudget implements WorkBudget {
  readonly #monotonicMs: () => number;
  readonly #limits: { readonly bytesMax: number; readonly msMax: number; readonly itemsMax: number };
  readonly #startMs: number;
  #itemsDone = 0;
  #bytesWritten = 0;

  constructor(monotonicMs: () => number, limits: { bytesMax: number; msMax: number; itemsMax: number }) {
    this.#monotonicMs = monotonicMs;
    this.#limits = limits;
    this.#startMs = monotonicMs();
  }

  get itemsDone(): number {
    return this.#itemsDone;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  itemDone(): void {
    this.#itemsDone += 1;
  }

  exhausted(): boolean {
    if (this.#itemsDone === 0) return false;
    return (
      this.#itemsDone >= this.#limits.itemsMax ||
      this.#bytesWritten >= this.#limits.bytesMax ||
      this.#monotonicMs() - this.#startMs >= this.#limits.msMax
    );
  }

  /** `tx` with its writes counted the way the store counts them (`overlay-transaction.ts`). */
  wrap(tx: MetaTransaction): MetaTransaction {
    return {
      get: (key) => tx.get(key),
      getRange: (begin, end, options) => tx.getRange(begin, end, options),
      firstKey: (begin, end) => tx.firstKey(begin, end),
      set: (key, value) => {
        tx.set(key, value);
        this.#bytesWritten += key.length + value.length;
      },
      clear: (key) => {
        tx.clear(key);
        this.#bytesWritten += key.length;
      },
      clearRange: (begin, end) => {
        tx.clearRange(begin, end);
        this.#bytesWritten += begin.length + end.length;
      },
      add: (key, delta) => {
        tx.add(key, delta);
        this.#bytesWritten += key.length + 8;
      },
    };
  }
}

export interface ClearRangeOptions extends BatchedWorkOptions<Uint8Array> {
  /** Resume from here (a cursor an earlier run reported); default the start of the range. */
  readonly cursor?: Uint8Array;
  /** Pairs read per range read. */
  readonly readBatchPairs?: number;
  /**
   * Work done for each pair before it is cleared, in the same transaction
   * (e.g. recording an object's data as garbage). Its writes count against the
   * budget; writes inside `range` would be cleared with it, so they go elsewhere.
   */
  readonly onPair?: (tx: MetaTransaction, pair: KeyValue) => void | Promise<void>;
}

/**
 * Clears every key of `range`, a budgeted batch per transaction: each reads
 * the next pairs, runs `onPair` for each, then clears from the cursor to just
 * past the last pair it handled. Use it for the deletion of a bucket's last
 * million objects, where each object needs its own bookkeeping; a bare
 * FoundationDB `clearRange` would fit one transaction but skip that work, and
 * on LMDB it would apply a million deletes in one write transaction.
 */
export async function clearRangeInBatches(store: MetaStore, range: KeyRange, options: ClearRangeOptions): Promise<BatchedWorkReport<Uint8Array>> {
  const readBatchPairs = options.readBatchPairs ?? 1_000;
  assert(Number.isInteger(readBatchPairs) && readBatchPairs >= 1, "clearRangeInBatches: readBatchPairs must be >= 1");
  const start = options.cursor ?? range.begin;
  assert(compareBytes(start, range.begin) >= 0, "clearRangeInBatches: the cursor lies before the range");
  return runBatchedWork<Uint8Array>(
    store,
    {
      cursor: start,
      step: async (tx, cursor, budget) => {
        let next = cursor;
        for (;;) {
          const batch = await tx.getRange(next, range.end, { limit: readBatchPairs });
          for (const pair of batch) {
            if (budget.exhausted()) {
              tx.clearRange(cursor, next);
              return { done: false, cursor: next };
            }
            await options.onPair?.(tx, pair);
            budget.itemDone();
            next = keyAfter(pair.key);
          }
          if (batch.length < readBatchPairs) {
            tx.clearRange(cursor, range.end);
            return { done: true };
          }
        }
      },
    },
    options,
  );
}
