/**
 * Large jobs split into transactions inside FoundationDB's limits: a
 * 1,000,000-key range deleted on lmdb, a 10,000-item job that cannot fit one
 * transaction (and is refused when tried), resuming from a cursor, and the
 * time budget on a manual clock.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../runtime/index.ts";
import type { BatchedJob } from "./batched-work.ts";
import { batchBytesMaxDefault, clearRangeInBatches, runBatchedWork } from "./batched-work.ts";
import { keyAfter } from "./bytes.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { openMemoryStore } from "./memory-store.ts";
import type { MetaStore } from "./store.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

const clock = systemClock();

/** `tag ‖ index` as 4 big-endian bytes: keys that sort by index. */
function indexKey(tag: number, index: number): Uint8Array {
  const key = new Uint8Array(5);
  key[0] = tag;
  new DataView(key.buffer).setUint32(1, index, false);
  return key;
}

function keyIndex(key: Uint8Array): number {
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1, false);
}

const tagBefore = 0x10;
const tagRange = 0x11;
const tagAfter = 0x12;
const tagPart = 0x20;
const tagManifest = 0x21;
const counterKey = new Uint8Array([0x30]);

async function count(store: MetaStore, tag: number): Promise<number> {
  let total = 0;
  let cursor: Uint8Array = new Uint8Array([tag]);
  const end = new Uint8Array([tag + 1]);
  for (;;) {
    const batch = await store.transact((tx) => tx.getRange(cursor, end, { limit: 10_000 }));
    total += batch.length;
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < 10_000) return total;
    cursor = keyAfter(last.key);
  }
}

async function readCounter(store: MetaStore): Promise<bigint> {
  const bytes = await store.transact((tx) => tx.get(counterKey));
  return bytes === undefined ? 0n : new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true);
}

describe("batched work on lmdb", () => {
  let directory: string;
  let store: MetaStore;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "cairn-batched-"));
    store = await openLmdbStore({ path: directory });
  });

  afterAll(async () => {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  test("a 1,000,000-key range is deleted in transactions that each stay inside the limits", async () => {
    const keys = 1_000_000;
    const value = new Uint8Array(8).fill(7);
    // Filling is split too: 250,000 pairs of 13 bytes is 3.25 MB per transaction.
    for (let first = 0; first < keys; first += 250_000) {
      await store.transact(async (tx) => {
        for (let index = first; index < first + 250_000; index++) tx.set(indexKey(tagRange, index), value);
      });
    }
    await store.transact(async (tx) => {
      tx.set(indexKey(tagBefore, 0), value);
      tx.set(indexKey(tagAfter, 0), value);
    });

    const committed: number[] = [];
    const report = await clearRangeInBatches(
      store,
      { begin: new Uint8Array([tagRange]), end: new Uint8Array([tagRange + 1]) },
      {
        monotonicMs: clock.monotonicMs,
        transactionsMax: 1_000,
        // Per-object bookkeeping in the same transaction as the clear, counted exactly once per key.
        onPair: (tx) => tx.add(counterKey, 1n),
        onCommitted: (progress) => {
          committed.push(progress.items);
        },
      },
    );
    console.log(
      `1,000,000 keys cleared in ${report.transactions} transactions; per transaction at most ${report.itemsPerTransactionMax} keys, ` +
        `${report.bytesPerTransactionMax} bytes written, ${report.msPerTransactionMax.toFixed(0)} ms (commit included)`,
    );
    expect(report.done).toBe(true);
    expect(report.items).toBe(keys);
    expect(report.transactions).toBeGreaterThanOrEqual(100);
    expect(report.itemsPerTransactionMax).toBeLessThanOrEqual(10_000);
    expect(report.bytesPerTransactionMax).toBeLessThanOrEqual(batchBytesMaxDefault);
    expect(report.msPerTransactionMax).toBeLessThan(metaLimits.transactionMsMax);
    expect(committed.length).toBe(report.transactions);
    expect(await readCounter(store)).toBe(BigInt(keys));
    expect(await count(store, tagRange)).toBe(0);
    expect(await count(store, tagBefore)).toBe(1);
    expect(await count(store, tagAfter)).toBe(1);
  }, 60_000);

  test("a 10,000-part job of 15 MB is refused in one transaction and done in several, resuming from its cursor", async () => {
    const parts = 10_000;
    const partValue = (index: number): Uint8Array => new Uint8Array(1_500).fill(index % 251);
    for (let first = 0; first < parts; first += 2_500) {
      await store.transact(async (tx) => {
        for (let index = first; index < first + 2_500; index++) tx.set(indexKey(tagPart, index), partValue(index));
      });
    }

    // Moving every part into the manifest writes about 15 MB: one transaction must be refused, applying nothing.
    let caught: unknown;
    try {
      await store.transact(async (tx) => {
        const all = await tx.getRange(indexKey(tagPart, 0), indexKey(tagPart + 1, 0), { limit: parts });
        for (const pair of all) {
          tx.set(indexKey(tagManifest, keyIndex(pair.key)), pair.value);
          tx.clear(pair.key);
        }
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MetaStoreError);
    expect((caught as MetaStoreError).code).toBe("TooLarge");
    expect(await count(store, tagManifest)).toBe(0);
    expect(await count(store, tagPart)).toBe(parts);

    const job = (cursor: number): BatchedJob<number> => ({
      cursor,
      step: async (tx, from, budget) => {
        let next = from;
        while (next < parts) {
          const batch = await tx.getRange(indexKey(tagPart, next), indexKey(tagPart + 1, 0), { limit: 200 });
          for (const pair of batch) {
            if (budget.exhausted()) return { done: false, cursor: next };
            const index = keyIndex(pair.key);
            tx.set(indexKey(tagManifest, index), pair.value);
            tx.clear(pair.key);
            budget.itemDone();
            next = index + 1;
          }
          if (batch.length === 0) break;
        }
        return { done: true };
      },
    });
    // A first run is cut short after two transactions (as if the process stopped), then resumed.
    const first = await runBatchedWork(store, job(0), { monotonicMs: clock.monotonicMs, transactionsMax: 2 });
    expect(first.done).toBe(false);
    expect(first.transactions).toBe(2);
    expect(first.cursor).toBe(first.items);
    expect(await count(store, tagManifest)).toBe(first.items);
    const rest = await runBatchedWork(store, job(first.cursor as number), { monotonicMs: clock.monotonicMs, transactionsMax: 100 });
    console.log(
      `10,000 parts (about 15 MB of writes) in ${first.transactions} + ${rest.transactions} transactions; ` +
        `at most ${Math.max(first.bytesPerTransactionMax, rest.bytesPerTransactionMax)} bytes and ` +
        `${Math.max(first.msPerTransactionMax, rest.msPerTransactionMax).toFixed(0)} ms per transaction`,
    );
    expect(rest.done).toBe(true);
    expect(first.items + rest.items).toBe(parts);
    expect(first.transactions + rest.transactions).toBeGreaterThanOrEqual(7);
    // A step stops after the item that crossed the budget: at most one item (~1.5 KB) over it.
    expect(Math.max(first.bytesPerTransactionMax, rest.bytesPerTransactionMax)).toBeLessThanOrEqual(batchBytesMaxDefault + 2_100);
    expect(await count(store, tagPart)).toBe(0);
    expect(await count(store, tagManifest)).toBe(parts);
    const sample = await store.transact((tx) => tx.get(indexKey(tagManifest, 4_321)));
    expect(sample).toEqual(partValue(4_321));
  }, 60_000);
});

describe("batched work budgets", () => {
  test("a step stops when its time budget is spent (manual clock)", async () => {
    const store = openMemoryStore({ monotonicMs: () => 0 });
    await store.transact(async (tx) => {
      for (let index = 0; index < 100; index++) tx.set(indexKey(tagRange, index), new Uint8Array([1]));
    });
    let nowMs = 0;
    const perTransaction: number[] = [];
    let last = 0;
    const report = await clearRangeInBatches(
      store,
      { begin: new Uint8Array([tagRange]), end: new Uint8Array([tagRange + 1]) },
      {
        monotonicMs: () => nowMs,
        transactionsMax: 100,
        msPerTransactionMax: 1_000,
        onPair: () => {
          nowMs += 150;
        },
        onCommitted: (progress) => {
          perTransaction.push(progress.items - last);
          last = progress.items;
        },
      },
    );
    expect(report.done).toBe(true);
    expect(report.items).toBe(100);
    // 150 ms per item against 1,000 ms: the budget is seen spent after the 7th item.
    expect(perTransaction.slice(0, -1).every((items) => items === 7)).toBe(true);
    expect(report.transactions).toBe(Math.ceil(100 / 7));
    expect(await count(store, tagRange)).toBe(0);
  });

  test("transactionsMax bounds a run; a run that stopped reports where to resume", async () => {
    const store = openMemoryStore();
    await store.transact(async (tx) => {
      for (let index = 0; index < 50; index++) tx.set(indexKey(tagRange, index), new Uint8Array([1]));
    });
    const range = { begin: new Uint8Array([tagRange]), end: new Uint8Array([tagRange + 1]) };
    const options = { monotonicMs: clock.monotonicMs, itemsPerTransactionMax: 10, readBatchPairs: 4 };
    const first = await clearRangeInBatches(store, range, { ...options, transactionsMax: 3 });
    expect(first).toMatchObject({ done: false, transactions: 3, items: 30, itemsPerTransactionMax: 10 });
    expect(await count(store, tagRange)).toBe(20);
    expect(keyIndex(first.cursor as Uint8Array)).toBe(29);
    const rest = await clearRangeInBatches(store, range, { ...options, transactionsMax: 3, cursor: first.cursor as Uint8Array });
    expect(rest).toMatchObject({ done: true, items: 20 });
    expect(await count(store, tagRange)).toBe(0);
  });

  test("a step that neither finishes an item nor ends the job is a bug", async () => {
    const store = openMemoryStore();
    const stuck: BatchedJob<number> = { cursor: 0, step: async () => ({ done: false, cursor: 0 }) };
    await expect(runBatchedWork(store, stuck, { monotonicMs: clock.monotonicMs, transactionsMax: 5 })).rejects.toThrow(
      "must finish at least one item",
    );
  });
});
