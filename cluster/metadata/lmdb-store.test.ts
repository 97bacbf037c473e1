import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore } from "./lmdb-store.ts";
import { runMetaStoreConformance } from "./store.case.test.ts";
import { MetaStoreError, metaLimits } from "./store.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

let directory: string | undefined;

runMetaStoreConformance(
  "lmdb",
  async () => {
    directory ??= mkdtempSync(join(tmpdir(), "cairn-lmdb-"));
    return openLmdbStore({ path: directory });
  },
  async () => {
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
    directory = undefined;
  },
);

/**
 * One transaction that reads (`first`), waits while `commits` run in others,
 * and reads again (`second`); both reads must see the transaction's snapshot.
 * A macrotask passes before the second read, so that lmdb-js's own timer for
 * renewing its shared read transaction has run.
 */
async function readAcrossCommits<A, B>(
  store: MetaStore,
  first: (tx: MetaTransaction) => Promise<A>,
  commits: () => Promise<void>,
  second: (tx: MetaTransaction) => Promise<B>,
): Promise<{ first: A; second: B }> {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started: () => void = () => {};
  const reading = new Promise<void>((resolve) => {
    started = resolve;
  });
  const seen = store.transact(async (tx) => {
    const before = await first(tx);
    started();
    await released;
    return { first: before, second: await second(tx) };
  });
  await reading;
  await commits();
  await new Promise((resolve) => setImmediate(resolve));
  release();
  return seen;
}

describe("lmdb store", () => {
  test("a transaction older than the limit is refused with TooOld and commits nothing", async () => {
    const path = mkdtempSync(join(tmpdir(), "cairn-lmdb-"));
    let nowMs = 0;
    const store = await openLmdbStore({ path, monotonicMs: () => nowMs });
    try {
      let caught: unknown;
      try {
        await store.transact(async (tx) => {
          tx.set(new Uint8Array([1]), new Uint8Array([1]));
          nowMs += metaLimits.transactionMsMax + 1;
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(MetaStoreError);
      expect((caught as MetaStoreError).code).toBe("TooOld");
      expect(await store.transact((tx) => tx.get(new Uint8Array([1])))).toBeUndefined();
      // Reads past the limit are refused too.
      caught = undefined;
      try {
        await store.transact(async (tx) => {
          nowMs += metaLimits.transactionMsMax + 1;
          return tx.get(new Uint8Array([1]));
        });
      } catch (error) {
        caught = error;
      }
      expect((caught as MetaStoreError).code).toBe("TooOld");
    } finally {
      await store.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  test("a transaction reads one snapshot while others commit, start and end around it", async () => {
    // LmdbKeyValueView reads through lmdb-js's shared read transaction while
    // the snapshot is that transaction; this fails if it ever reads a newer one.
    const path = mkdtempSync(join(tmpdir(), "cairn-lmdb-"));
    const store = await openLmdbStore({ path });
    const keys = Array.from({ length: 20 }, (_, index) => new Uint8Array([5, index]));
    const end = new Uint8Array([6]);
    const valuesOf = (pairs: readonly { value: Uint8Array }[]): number[] => pairs.map((pair) => pair.value[0] as number);
    try {
      await store.transact(async (tx) => {
        for (const key of keys) tx.set(key, new Uint8Array([1]));
      });
      const seen = await readAcrossCommits(
        store,
        async (tx) => valuesOf(await tx.getRange(keys[0] as Uint8Array, end, { limit: 100 })),
        // Commits (each resets lmdb-js's shared read transaction), and other transactions starting and ending.
        async () => {
          for (let round = 2; round <= 4; round++) {
            await store.transact(async (tx) => {
              for (const key of keys) tx.set(key, new Uint8Array([round]));
            });
            expect(await store.transact((tx) => tx.get(keys[3] as Uint8Array))).toEqual(new Uint8Array([round]));
          }
        },
        // One-pair seeks, as a delimiter listing reads, then a point read and a whole range.
        async (tx) => {
          const seeks: number[] = [];
          for (const key of keys) seeks.push(...valuesOf(await tx.getRange(key, end, { limit: 1 })));
          const point = (await tx.get(keys[3] as Uint8Array))?.[0];
          const after = valuesOf(await tx.getRange(keys[0] as Uint8Array, end, { limit: 100 }));
          return { seeks, point, after };
        },
      );
      const ones = keys.map(() => 1);
      expect(seen).toEqual({ first: ones, second: { seeks: ones, point: 1, after: ones } });
      expect(valuesOf(await store.transact((tx) => tx.getRange(keys[0] as Uint8Array, end, { limit: 100 })))).toEqual(keys.map(() => 4));
    } finally {
      await store.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  test("keys-only seeks read the transaction's snapshot before and after other commits change the keys", async () => {
    // LmdbKeyValueView.firstKey reuses one lmdb-js range and switches its
    // transaction from lmdb-js's shared one to the explicit snapshot once a
    // commit replaces the shared one; either way the keys are the snapshot's.
    const path = mkdtempSync(join(tmpdir(), "cairn-lmdb-"));
    const store = await openLmdbStore({ path });
    const key = (index: number): Uint8Array => new Uint8Array([5, index]);
    const end = new Uint8Array([6]);
    const seekAll = async (tx: MetaTransaction): Promise<Array<number | undefined>> => {
      const found: Array<number | undefined> = [];
      for (let index = 0; index < 20; index++) found.push((await tx.firstKey(key(index), end))?.[1]);
      return found;
    };
    try {
      await store.transact(async (tx) => {
        for (let index = 0; index < 20; index += 2) tx.set(key(index), new Uint8Array([1]));
      });
      const seen = await readAcrossCommits(
        store,
        seekAll,
        // Odd keys arrive and key 4 goes, in commits that reset lmdb-js's shared read transaction.
        async () => {
          for (let index = 1; index < 20; index += 2) {
            await store.transact(async (tx) => {
              tx.set(key(index), new Uint8Array([2]));
              if (index === 1) tx.clear(key(4));
            });
          }
        },
        seekAll,
      );
      // Even keys only, 4 included: the first even key at or after each index; none after 18.
      const evens = Array.from({ length: 20 }, (_, index) => (index <= 18 ? index + (index % 2) : undefined));
      expect(seen).toEqual({ first: evens, second: evens });
      const now = await store.transact(seekAll);
      expect(now).toEqual(Array.from({ length: 20 }, (_, index) => (index === 4 ? 5 : index)));
    } finally {
      await store.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  test("beforeRetry is called between conflicting attempts", async () => {
    const path = mkdtempSync(join(tmpdir(), "cairn-lmdb-"));
    const attempts: number[] = [];
    const store = await openLmdbStore({ path, beforeRetry: async (attempt) => void attempts.push(attempt) });
    try {
      const key = new Uint8Array([7]);
      await Promise.all(
        Array.from({ length: 3 }, () =>
          store.transact(async (tx) => {
            const value = (await tx.get(key))?.[0] ?? 0;
            tx.set(key, new Uint8Array([value + 1]));
          }),
        ),
      );
      expect([...((await store.transact((tx) => tx.get(key))) ?? [])]).toEqual([3]);
      // Three racing read-modify-writes: the two losers retry, one of them twice.
      expect(attempts.sort()).toEqual([1, 1, 2]);
    } finally {
      await store.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  test("two processes incrementing one counter by read-modify-write lose no update", async () => {
    // A dot in the directory name must not make lmdb-js treat it as a file.
    const path = mkdtempSync(join(tmpdir(), "cairn.lmdb-mp-"));
    const incrementsPerProcess = 150;
    const child = join(import.meta.dir, "lmdb-counter-child.ts");
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, [child, path, String(incrementsPerProcess)], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let output = "";
        proc.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
        proc.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        proc.on("error", reject);
        proc.on("exit", (code) => (code === 0 ? resolve(output) : reject(new Error(`child exited ${code}: ${output}`))));
      });
    try {
      const outputs = await Promise.all([run(), run()]);
      for (const output of outputs) expect(output).toContain("done");
      const store = await openLmdbStore({ path });
      try {
        const value = await store.transact((tx) => tx.get(new TextEncoder().encode("counter")));
        expect(value === undefined ? 0 : Buffer.from(value).readUInt32LE(0)).toBe(2 * incrementsPerProcess);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });
});
