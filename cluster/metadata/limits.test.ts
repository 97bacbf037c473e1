/**
 * FoundationDB's limits in every local backend (lmdb, memory): a transaction
 * over 10 MB or 5 s fails with a `MetaStoreError` code and applies nothing,
 * even when its body catches the error and carries on (FDB fails such a
 * transaction at commit).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore } from "./lmdb-store.ts";
import { openMemoryStore } from "./memory-store.ts";
import type { MetaStore, MetaStoreErrorCode, MetaTransaction } from "./store.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

const directories: string[] = [];
const stores: MetaStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const backends: Record<string, (monotonicMs: () => number) => Promise<MetaStore>> = {
  lmdb: async (monotonicMs) => {
    const directory = mkdtempSync(join(tmpdir(), "cairn-limits-"));
    directories.push(directory);
    const store = await openLmdbStore({ path: directory, monotonicMs });
    stores.push(store);
    return store;
  },
  memory: async (monotonicMs) => {
    const store = openMemoryStore({ monotonicMs });
    stores.push(store);
    return store;
  },
};

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

async function refusal(store: MetaStore, body: (tx: MetaTransaction) => Promise<unknown>): Promise<MetaStoreErrorCode | "committed"> {
  try {
    await store.transact(body, { attemptsMax: 1 });
    return "committed";
  } catch (error) {
    expect(error).toBeInstanceOf(MetaStoreError);
    return (error as MetaStoreError).code;
  }
}

async function keys(store: MetaStore): Promise<number> {
  return (await store.transact((tx) => tx.getRange(new Uint8Array([0x00]), new Uint8Array([0xff]), { limit: 100_000 }))).length;
}

for (const [name, open] of Object.entries(backends)) {
  describe(`limits on ${name}`, () => {
    test("over 10 MB written fails TooLarge, also when the body swallows the error; nothing is applied", async () => {
      const store = await open(() => 0);
      const value = new Uint8Array(metaLimits.valueBytesMax);
      const overTheLimit = Math.floor(metaLimits.transactionBytesMax / value.length) + 1;
      expect(
        await refusal(store, async (tx) => {
          for (let index = 0; index < overTheLimit; index++) tx.set(text(`k${index}`), value);
        }),
      ).toBe("TooLarge");
      expect(
        await refusal(store, async (tx) => {
          try {
            for (let index = 0; index < overTheLimit; index++) tx.set(text(`k${index}`), value);
          } catch {
            // A body that ignores the refusal must not get the writes that fitted committed.
          }
        }),
      ).toBe("TooLarge");
      expect(await keys(store)).toBe(0);
      // Just under the limit commits.
      const fitting = Math.floor((metaLimits.transactionBytesMax - 1_000) / (value.length + 10));
      expect(
        await refusal(store, async (tx) => {
          for (let index = 0; index < fitting; index++) tx.set(text(`k${String(index).padStart(8, "0")}`), value);
        }),
      ).toBe("committed");
      expect(await keys(store)).toBe(fitting);
    });

    test("a swallowed KeyTooLarge or ValueTooLarge still fails the commit", async () => {
      const store = await open(() => 0);
      expect(
        await refusal(store, async (tx) => {
          tx.set(text("a"), text("x"));
          try {
            tx.set(new Uint8Array(metaLimits.keyBytesMax + 1), text("x"));
          } catch {
            // ignored on purpose
          }
        }),
      ).toBe("KeyTooLarge");
      expect(
        await refusal(store, async (tx) => {
          tx.set(text("a"), text("x"));
          try {
            tx.set(text("b"), new Uint8Array(metaLimits.valueBytesMax + 1));
          } catch {
            // ignored on purpose
          }
        }),
      ).toBe("ValueTooLarge");
      expect(await keys(store)).toBe(0);
    });

    test("over 5 s fails TooOld, for writes and for reads, and applies nothing", async () => {
      let nowMs = 0;
      const store = await open(() => nowMs);
      expect(
        await refusal(store, async (tx) => {
          tx.set(text("a"), text("x"));
          nowMs += metaLimits.transactionMsMax + 1;
        }),
      ).toBe("TooOld");
      expect(
        await refusal(store, async (tx) => {
          nowMs += metaLimits.transactionMsMax + 1;
          return tx.get(text("a"));
        }),
      ).toBe("TooOld");
      expect(
        await refusal(store, async (tx) => {
          nowMs += metaLimits.transactionMsMax;
          tx.set(text("b"), text("x"));
        }),
      ).toBe("committed");
      expect(await keys(store)).toBe(1);
    });
  });
}
