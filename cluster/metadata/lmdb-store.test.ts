import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore } from "./lmdb-store.ts";
import { runMetaStoreConformance } from "./store.case.test.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

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
