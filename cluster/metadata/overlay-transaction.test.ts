/**
 * The overlay transaction's read bookkeeping, seen from the reader below it:
 * how many stored pairs a range read takes, when a keys-only seek goes to the
 * reader's `firstKey`, what a seek's validation depends on, and how often the
 * transaction's age is checked. The contract itself is the conformance suite's
 * (`store.case.test.ts`); these are the costs and edges it cannot see.
 */
import { describe, expect, test } from "bun:test";
import { createMemoryStorage } from "./memory-store.ts";
import type { MemoryStorage } from "./memory-store.ts";
import type { KeyValueReader } from "./overlay-transaction.ts";
import { ageCheckOperations, OverlayTransaction } from "./overlay-transaction.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const name = (key: Uint8Array | undefined): string | undefined => (key === undefined ? undefined : Buffer.from(key).toString());

/** A reader that counts the pairs its scans hand out and its `firstKey` calls. */
function countingReader(inner: KeyValueReader): { reader: KeyValueReader; counts: { pairs: number; seeks: number; scans: number } } {
  const counts = { pairs: 0, seeks: 0, scans: 0 };
  const reader: KeyValueReader = {
    get: (key) => inner.get(key),
    *scan(begin, end, reverse) {
      counts.scans++;
      for (const pair of inner.scan(begin, end, reverse)) {
        counts.pairs++;
        yield pair;
      }
    },
    firstKey: (begin, end) => {
      counts.seeks++;
      return inner.firstKey(begin, end);
    },
  };
  return { reader, counts };
}

function storageWith(keys: string): MemoryStorage {
  const storage = createMemoryStorage();
  storage.commit((writer) => {
    for (const letter of keys) writer.set(text(letter), text(`${letter}1`));
    return true;
  });
  return storage;
}

function transactionOver(reader: KeyValueReader, monotonicMs: () => number = () => 0): OverlayTransaction {
  return new OverlayTransaction(reader, { monotonicMs, checkOpen: () => {} });
}

describe("overlay transaction", () => {
  test("a range read takes from the snapshot only the pairs its answer needs", async () => {
    const storage = storageWith("abcdefgh");
    const { reader, counts } = countingReader(storage.reader(storage.openSnapshot()));
    const tx = transactionOver(reader);
    expect((await tx.getRange(text("a"), text("z"), { limit: 1 })).map((pair) => name(pair.key))).toEqual(["a"]);
    expect(counts.pairs).toBe(1);
    expect((await tx.getRange(text("c"), text("z"), { limit: 3 })).map((pair) => name(pair.key))).toEqual(["c", "d", "e"]);
    expect(counts.pairs).toBe(4);
    // With pending writes: a cleared stored key is read and skipped, a pending set takes a place of its own.
    tx.clear(text("f"));
    tx.set(text("fa"), text("new"));
    expect((await tx.getRange(text("f"), text("z"), { limit: 2 })).map((pair) => name(pair.key))).toEqual(["fa", "g"]);
    // f (cleared) and g: h is never taken.
    expect(counts.pairs).toBe(6);
  });

  test("a keys-only seek asks the snapshot's firstKey when nothing is pending, and merges pending writes otherwise", async () => {
    const storage = storageWith("bdf");
    const { reader, counts } = countingReader(storage.reader(storage.openSnapshot()));
    const tx = transactionOver(reader);
    expect(name(await tx.firstKey(text("a"), text("z")))).toBe("b");
    expect(name(await tx.firstKey(text("c"), text("z")))).toBe("d");
    expect(name(await tx.firstKey(text("g"), text("z")))).toBeUndefined();
    expect(name(await tx.firstKey(text("c"), text("c")))).toBeUndefined();
    expect(counts).toEqual({ pairs: 0, seeks: 3, scans: 0 });
    tx.clear(text("d"));
    expect(name(await tx.firstKey(text("c"), text("z")))).toBe("f");
    expect(counts.seeks).toBe(3);
    expect(counts.scans).toBe(1);
  });

  test("a seek's validation depends on the keys up to the one it found, not on values or later keys", async () => {
    const seekThenCommit = async (change: (storage: MemoryStorage) => void): Promise<boolean> => {
      const storage = storageWith("bm");
      const tx = transactionOver(storage.reader(storage.openSnapshot()));
      expect(name(await tx.firstKey(text("c"), text("z")))).toBe("m");
      change(storage);
      tx.set(text("out"), text("x"));
      return storage.commit((writer) => tx.validate(writer));
    };
    const write = (key: string, value?: string) => (storage: MemoryStorage) =>
      storage.commit((writer) => {
        if (value === undefined) writer.clear(text(key));
        else writer.set(text(key), text(value));
        return true;
      });
    expect(await seekThenCommit(() => {})).toBe(true);
    // The seek found "m": a new value of "m", a key before "c" or after "m" changes nothing it saw.
    expect(await seekThenCommit(write("m", "changed"))).toBe(true);
    expect(await seekThenCommit(write("b", "changed"))).toBe(true);
    expect(await seekThenCommit(write("q", "new"))).toBe(true);
    expect(await seekThenCommit(write("d", "new"))).toBe(false);
    expect(await seekThenCommit(write("m"))).toBe(false);
  });

  test(`the age is checked on the first operation, every ${ageCheckOperations}th after it, and before a commit`, async () => {
    const storage = storageWith("abc");
    let nowMs = 0;
    const tx = transactionOver(storage.reader(storage.openSnapshot()), () => nowMs);
    await tx.get(text("a"));
    nowMs = metaLimits.transactionMsMax + 1;
    // Operations 2 .. ageCheckOperations read no clock; the next one does.
    for (let operation = 2; operation <= ageCheckOperations; operation++) await tx.firstKey(text("a"), text("z"));
    let caught: unknown;
    try {
      await tx.firstKey(text("a"), text("z"));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MetaStoreError);
    expect((caught as MetaStoreError).code).toBe("TooOld");
    // Whatever the count, the check before a commit always reads the clock.
    const late = transactionOver(storage.reader(storage.openSnapshot()), () => nowMs);
    nowMs += metaLimits.transactionMsMax + 1;
    expect(() => late.checkLimits()).toThrow(MetaStoreError);
  });
});
