/**
 * The FoundationDB backend.
 *
 * - With `FDB_CLUSTER_FILE` naming a cluster (and libfdb_c at
 *   `FDB_LIBRARY_PATH` or /usr/lib/libfdb_c.so), the MetaStore conformance
 *   suite runs against that cluster under the key prefix
 *   `CAIRN_FDB_TEST_PREFIX` (default "cairn-conformance"), which it clears.
 *   Without it the suite prints `foundationdb: skipped (no FDB_CLUSTER_FILE)`:
 *   no FoundationDB server can be installed on these machines.
 * - Always: the pieces that need no server (symbol table, struct layout,
 *   error mapping, key prefixing, the ADD operand, the missing-library error).
 * - When a C compiler is present: the same conformance suite and the retry
 *   loop through the real FFI binding over a stand-in libfdb_c
 *   (`foundationdb-fake-library.ts`), which proves the binding, not FDB.
 */
import { describe, expect, test } from "bun:test";
import { dlopen, ptr } from "bun:ffi";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  foundationDbLibraryPath,
  foundationDbLibraryPathDefault,
  foundationDbSymbols,
  keyValueLayout,
  readKeyValueArray,
} from "./foundationdb-api.ts";
import { classifyFoundationDbError, fdbErrorCodes, FoundationDbError, type FdbErrorPredicates } from "./foundationdb-errors.ts";
import { buildFakeFoundationDbLibrary } from "./foundationdb-fake-library.ts";
import {
  addOperand,
  encodeKeyPrefix,
  foundationDbKnobs,
  keyPrefixBytesMax,
  openFoundationDbStore,
  prefixKey,
  unprefixKey,
  type FoundationDbStoreOptions,
} from "./foundationdb-store.ts";
import { stopFoundationDbNetwork } from "./foundationdb-network.ts";
import { runMetaStoreConformance } from "./store.case.test.ts";
import { MetaStoreError, metaLimits, type MetaStore, type MetaStoreErrorCode } from "./store.ts";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** Registers the conformance suite for stores opened with `options`, erasing the prefix after each test. */
function conformance(name: string, options: FoundationDbStoreOptions): void {
  runMetaStoreConformance(
    name,
    () => openFoundationDbStore(options),
    async () => {
      const store = await openFoundationDbStore(options);
      try {
        await store.transact(async (tx) => tx.clearRange(new Uint8Array(0), new Uint8Array([0xff])));
      } finally {
        await store.close();
      }
    },
  );
}

const clusterFile = process.env.FDB_CLUSTER_FILE;
if (clusterFile === undefined) {
  console.log("foundationdb: skipped (no FDB_CLUSTER_FILE)");
  test.skip("foundationdb MetaStore conformance (skipped: no FDB_CLUSTER_FILE)", () => {});
} else {
  conformance("foundationdb", { clusterFile, keyPrefix: process.env.CAIRN_FDB_TEST_PREFIX ?? "cairn-conformance" });
}

describe("foundationdb backend pieces that need no server", () => {
  test("the symbol table declares each C function with its C arity", () => {
    const arity = Object.fromEntries(Object.entries(foundationDbSymbols).map(([name, spec]) => [name, spec.args.length]));
    expect(arity).toEqual({
      fdb_select_api_version_impl: 2,
      fdb_get_max_api_version: 0,
      fdb_get_error: 1,
      fdb_error_predicate: 2,
      fdb_network_set_option: 3,
      fdb_setup_network: 0,
      fdb_run_network: 0,
      fdb_stop_network: 0,
      fdb_create_database: 2,
      fdb_database_destroy: 1,
      fdb_database_create_transaction: 2,
      fdb_transaction_destroy: 1,
      fdb_transaction_set_option: 4,
      fdb_transaction_get: 4,
      fdb_transaction_get_range: 15,
      fdb_transaction_get_key: 6,
      fdb_transaction_set: 5,
      fdb_transaction_clear: 3,
      fdb_transaction_clear_range: 5,
      fdb_transaction_atomic_op: 6,
      fdb_transaction_commit: 1,
      fdb_transaction_on_error: 2,
      fdb_future_set_callback: 3,
      fdb_future_get_error: 1,
      fdb_future_get_value: 4,
      fdb_future_get_key: 3,
      fdb_future_get_keyvalue_array: 4,
      fdb_future_destroy: 1,
    });
    // Functions returning a future return a pointer; the rest an error code or nothing.
    expect(foundationDbSymbols.fdb_transaction_get_range.returns).toBe("ptr");
    expect(foundationDbSymbols.fdb_transaction_get_key.returns).toBe("ptr");
    expect(foundationDbSymbols.fdb_future_get_key.returns).toBe("i32");
    expect(foundationDbSymbols.fdb_transaction_commit.returns).toBe("ptr");
    expect(foundationDbSymbols.fdb_transaction_on_error.returns).toBe("ptr");
    expect(foundationDbSymbols.fdb_transaction_set.returns).toBe("void");
  });

  test("FDBKeyValue is read with pack(4) offsets: 0, 8, 12, 20, stride 24", () => {
    expect(keyValueLayout).toEqual({ keyOffset: 0, keyLengthOffset: 8, valueOffset: 12, valueLengthOffset: 20, strideBytes: 24 });
    // Lay out two packed structs by hand, pointing at real memory, and read them back.
    const keys = [text("alpha"), new Uint8Array(0)];
    const values = [text("one"), text("the second value")];
    const array = new Uint8Array(2 * 24);
    const view = new DataView(array.buffer);
    for (const [index, key] of keys.entries()) {
      const value = values[index] as Uint8Array;
      view.setBigUint64(index * 24 + 0, key.length === 0 ? 0n : BigInt(ptr(key)), true);
      view.setInt32(index * 24 + 8, key.length, true);
      view.setBigUint64(index * 24 + 12, BigInt(ptr(value)), true);
      view.setInt32(index * 24 + 20, value.length, true);
    }
    const read = readKeyValueArray(ptr(array), 2);
    expect(read.map((pair) => [Buffer.from(pair.key).toString(), Buffer.from(pair.value).toString()])).toEqual([
      ["alpha", "one"],
      ["", "the second value"],
    ]);
    // The copies do not alias the C memory.
    (keys[0] as Uint8Array)[0] = 0x41;
    expect(Buffer.from(read[0]?.key ?? new Uint8Array()).toString()).toBe("alpha");
  });

  test("FDB error codes map to MetaStore codes, retries or a plain FoundationDbError", () => {
    const predicates: FdbErrorPredicates = {
      retryable: (code) => [1020, 1021, 1007, 1009, 1037, 1213, 1039].includes(code),
      maybeCommitted: (code) => code === 1021 || code === 1039,
    };
    const outcome = (code: number, attempt = 1, attemptsMax = 10): string => {
      const result = classifyFoundationDbError(code, attempt, attemptsMax, predicates, () => "text");
      if (result.kind === "retry") return result.conflict ? "retry conflict" : "retry";
      if (result.error instanceof MetaStoreError) return result.error.code;
      return result.error instanceof FoundationDbError ? `fdb ${result.error.fdbCode}` : "other";
    };
    const expected: Record<number, string> = {
      [fdbErrorCodes.notCommitted]: "retry conflict",
      [fdbErrorCodes.transactionTooOld]: "TooOld",
      [fdbErrorCodes.transactionTimedOut]: "TooOld",
      [fdbErrorCodes.transactionTooLarge]: "TooLarge",
      [fdbErrorCodes.keyTooLarge]: "KeyTooLarge",
      [fdbErrorCodes.valueTooLarge]: "ValueTooLarge",
      [fdbErrorCodes.commitUnknownResult]: "Conflict",
      [fdbErrorCodes.clusterVersionChanged]: "Conflict",
      [fdbErrorCodes.futureVersion]: "retry",
      [fdbErrorCodes.processBehind]: "retry",
      [fdbErrorCodes.tagThrottled]: "retry",
      2000: "fdb 2000",
      1510: "fdb 1510",
    };
    for (const [code, want] of Object.entries(expected)) expect(`${code}: ${outcome(Number(code))}`).toBe(`${code}: ${want}`);
    // Out of attempts, a conflict or another retryable error becomes Conflict.
    expect(outcome(fdbErrorCodes.notCommitted, 10, 10)).toBe("Conflict");
    expect(outcome(fdbErrorCodes.processBehind, 3, 3)).toBe("Conflict");
    expect(outcome(fdbErrorCodes.notCommitted, 9, 10)).toBe("retry conflict");
    // commit_unknown_result says so in its message.
    const unknown = classifyFoundationDbError(1021, 1, 10, predicates, () => "commit_unknown_result");
    expect(unknown.kind === "fail" && unknown.error.message).toContain("may or may not have been applied");
  });

  test("keys live under the tuple-encoded prefix and never reach the system keyspace", () => {
    expect(hex(encodeKeyPrefix("cairn"))).toBe("02636169726e00");
    // A NUL inside the prefix is escaped, so no prefix is a prefix of another's encoding.
    expect(hex(encodeKeyPrefix("a\u0000b"))).toBe("026100ff6200");
    expect(() => encodeKeyPrefix("")).toThrow("must not be empty");
    expect(() => encodeKeyPrefix("x".repeat(keyPrefixBytesMax))).toThrow(`at most ${keyPrefixBytesMax}`);
    const prefix = encodeKeyPrefix("fleet-a");
    for (const key of [new Uint8Array(0), new Uint8Array([0xff, 0xff]), text("o/bucket/key")]) {
      const stored = prefixKey(prefix, key);
      expect(hex(stored)).toBe(hex(prefix) + hex(key));
      expect(stored[0]).toBeLessThan(0xff);
      expect(hex(unprefixKey(prefix, stored))).toBe(hex(key));
    }
    expect(() => unprefixKey(prefix, prefixKey(encodeKeyPrefix("fleet-b"), text("k")))).toThrow("outside the store's prefix");
    // The key-size knob leaves room for the longest prefix on top of Cairn's limit.
    expect(foundationDbKnobs()).toEqual([`key_size_limit=${metaLimits.keyBytesMax + keyPrefixBytesMax}`]);
  });

  test("the ADD operand is 8 bytes of two's complement, little-endian", () => {
    const reference = (delta: bigint): string => {
      const buffer = Buffer.alloc(8);
      buffer.writeBigInt64LE(BigInt.asIntN(64, delta));
      return buffer.toString("hex");
    };
    expect(hex(addOperand(1n))).toBe("0100000000000000");
    expect(hex(addOperand(-1n))).toBe("ffffffffffffffff");
    expect(hex(addOperand(0x0102_0304_0506_0708n))).toBe("0807060504030201");
    for (const delta of [0n, 255n, 256n, -256n, 0x7fff_ffff_ffff_ffffn, -0x8000_0000_0000_0000n, 1n << 64n, (1n << 63n) + 5n]) {
      expect(hex(addOperand(delta))).toBe(reference(delta));
    }
  });

  test("a missing library is reported with its path and FDB_LIBRARY_PATH", async () => {
    const missing = join(tmpdir(), "cairn-no-such-dir", "libfdb_c.so");
    let caught: unknown;
    try {
      await openFoundationDbStore({ clusterFile: "/etc/foundationdb/fdb.cluster", keyPrefix: "cairn", libraryPath: missing });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toContain(missing);
    expect((caught as Error).message).toContain("FDB_LIBRARY_PATH");
    expect(foundationDbLibraryPath(undefined, {})).toBe(foundationDbLibraryPathDefault);
    expect(foundationDbLibraryPath(undefined, { FDB_LIBRARY_PATH: "/opt/fdb/libfdb_c.so" })).toBe("/opt/fdb/libfdb_c.so");
    expect(foundationDbLibraryPath("/explicit.so", { FDB_LIBRARY_PATH: "/opt/fdb/libfdb_c.so" })).toBe("/explicit.so");
  });
});

const scratch = mkdtempSync(join(tmpdir(), "cairn-fdb-fake-"));
const fake = buildFakeFoundationDbLibrary(scratch);
if ("skipped" in fake) {
  console.log(`foundationdb binding over a stand-in libfdb_c: skipped (${fake.skipped})`);
  test.skip(`foundationdb binding over a stand-in libfdb_c (skipped: ${fake.skipped})`, () => {});
} else {
  const fakeClusterFile = join(scratch, "fdb.cluster");
  writeFileSync(fakeClusterFile, "stand-in:cluster@127.0.0.1:4500\n");
  const options: FoundationDbStoreOptions = { clusterFile: fakeClusterFile, keyPrefix: "cairn-conformance", libraryPath: fake.path };
  conformance("foundationdb binding over a stand-in libfdb_c", options);

  const probe = dlopen(fake.path, {
    fake_keyvalue_layout: { args: ["i32"], returns: "i32" },
    fake_inject_commit_error: { args: ["i32", "i32"], returns: "void" },
    fake_commit_count: { args: [], returns: "i32" },
  }).symbols;

  const withStore = async <T>(body: (store: MetaStore) => Promise<T>, keyPrefix = "cairn-retry"): Promise<T> => {
    const store = await openFoundationDbStore({ ...options, keyPrefix });
    try {
      return await body(store);
    } finally {
      await store.transact(async (tx) => tx.clearRange(new Uint8Array(0), new Uint8Array([0xff])));
      await store.close();
    }
  };

  const failureCode = async (promise: Promise<unknown>): Promise<MetaStoreErrorCode | string> => {
    try {
      await promise;
      return "resolved";
    } catch (error) {
      return error instanceof MetaStoreError ? error.code : String(error);
    }
  };

  describe("foundationdb binding over a stand-in libfdb_c", () => {
    test("a C compiler lays out FDBKeyValue under pack(4) as the binding reads it", () => {
      expect([0, 1, 2, 3, 4].map((field) => probe.fake_keyvalue_layout(field))).toEqual([
        keyValueLayout.keyOffset,
        keyValueLayout.keyLengthOffset,
        keyValueLayout.valueOffset,
        keyValueLayout.valueLengthOffset,
        keyValueLayout.strideBytes,
      ]);
    });

    test("range reads page across batches, forward and reverse, up to the limit", async () => {
      await withStore(async (store) => {
        const keys = Array.from({ length: 50 }, (_, index) => `k${String(index).padStart(3, "0")}`);
        await store.transact(async (tx) => {
          for (const key of keys) tx.set(text(key), text(key.toUpperCase()));
        });
        const read = (limit: number, reverse: boolean): Promise<string[]> =>
          store.transact(async (tx) =>
            (await tx.getRange(text("k"), text("l"), { limit, reverse })).map((pair) => Buffer.from(pair.key).toString()),
          );
        expect(await read(23, false)).toEqual(keys.slice(0, 23));
        expect(await read(23, true)).toEqual(keys.slice(-23).reverse());
        expect(await read(1000, false)).toEqual(keys);
        expect(await read(1000, true)).toEqual([...keys].reverse());
        expect(await read(7, false)).toEqual(keys.slice(0, 7));
      });
    });

    test("conflicts are retried through fdb_transaction_on_error, bounded by attemptsMax", async () => {
      await withStore(async (store) => {
        let runs = 0;
        probe.fake_inject_commit_error(fdbErrorCodes.notCommitted, 2);
        await store.transact(async (tx) => {
          runs++;
          tx.add(text("n"), 1n);
        });
        expect(runs).toBe(3);
        runs = 0;
        probe.fake_inject_commit_error(fdbErrorCodes.notCommitted, 3);
        const code = await failureCode(
          store.transact(
            async (tx) => {
              runs++;
              tx.add(text("n"), 1n);
            },
            { attemptsMax: 3 },
          ),
        );
        probe.fake_inject_commit_error(0, 0);
        expect(code).toBe("Conflict");
        expect(runs).toBe(3);
        const value = await store.transact((tx) => tx.get(text("n")));
        expect(Buffer.from(value ?? new Uint8Array(8)).readBigInt64LE(0)).toBe(1n);
      });
    });

    test("other retryable errors are retried; limit errors are not", async () => {
      await withStore(async (store) => {
        let runs = 0;
        probe.fake_inject_commit_error(fdbErrorCodes.processBehind, 1);
        await store.transact(async (tx) => {
          runs++;
          tx.set(text("a"), text("x"));
        });
        expect(runs).toBe(2);
        const cases: [number, MetaStoreErrorCode][] = [
          [fdbErrorCodes.transactionTooLarge, "TooLarge"],
          [fdbErrorCodes.transactionTooOld, "TooOld"],
          [fdbErrorCodes.transactionTimedOut, "TooOld"],
        ];
        for (const [fdbCode, want] of cases) {
          runs = 0;
          probe.fake_inject_commit_error(fdbCode, 1);
          const got = await failureCode(
            store.transact(async (tx) => {
              runs++;
              tx.set(text("b"), text("y"));
            }),
          );
          expect(`${fdbCode}: ${got} after ${runs} run(s)`).toBe(`${fdbCode}: ${want} after 1 run(s)`);
        }
        expect(await store.transact((tx) => tx.get(text("b")))).toBeUndefined();
      });
    });

    test("commit_unknown_result is not retried: the body ran once, its commit applied once", async () => {
      await withStore(async (store) => {
        let runs = 0;
        const commitsBefore = probe.fake_commit_count();
        probe.fake_inject_commit_error(fdbErrorCodes.commitUnknownResult, 1);
        let caught: unknown;
        try {
          await store.transact(async (tx) => {
            runs++;
            tx.add(text("counter"), 1n);
          });
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(MetaStoreError);
        expect((caught as MetaStoreError).message).toContain("may or may not have been applied");
        expect(runs).toBe(1);
        expect(probe.fake_commit_count() - commitsBefore).toBe(1);
        const value = await store.transact((tx) => tx.get(text("counter")));
        expect(Buffer.from(value ?? new Uint8Array(8)).readBigInt64LE(0)).toBe(1n);
      });
    });

    test("a missing cluster file and a second API version are clear errors", async () => {
      let caught: unknown;
      try {
        await openFoundationDbStore({ ...options, clusterFile: join(scratch, "missing.cluster") });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(FoundationDbError);
      expect((caught as FoundationDbError).fdbCode).toBe(1515);
      expect((caught as Error).message).toContain("missing.cluster");
      caught = undefined;
      try {
        await openFoundationDbStore({ ...options, apiVersion: 710 });
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).toContain("API version 730 is already selected");
    });

    test("prefixes keep stores apart in one cluster", async () => {
      const first = await openFoundationDbStore({ ...options, keyPrefix: "fleet-a" });
      const second = await openFoundationDbStore({ ...options, keyPrefix: "fleet-b" });
      try {
        await first.transact(async (tx) => tx.set(text("k"), text("a")));
        await second.transact(async (tx) => tx.set(text("k"), text("b")));
        const all = (store: MetaStore): Promise<string[]> =>
          store.transact(async (tx) =>
            (await tx.getRange(new Uint8Array(0), new Uint8Array([0xff]), { limit: 10 })).map(
              (pair) => `${Buffer.from(pair.key)}=${Buffer.from(pair.value)}`,
            ),
          );
        expect(await all(first)).toEqual(["k=a"]);
        expect(await all(second)).toEqual(["k=b"]);
      } finally {
        for (const store of [first, second]) {
          await store.transact(async (tx) => tx.clearRange(new Uint8Array(0), new Uint8Array([0xff])));
          await store.close();
        }
      }
    });

    test("a one-shot process waits for its pending futures before exiting", () => {
      // The child never awaits at top level: only the store's keep-alive
      // holds the process open while the network thread is still working.
      const script = join(scratch, "one-shot.ts");
      writeFileSync(
        script,
        [
          `import { dlopen } from "bun:ffi";`,
          `import { openFoundationDbStore } from ${JSON.stringify(join(import.meta.dir, "foundationdb-store.ts"))};`,
          `const options = ${JSON.stringify({ ...options, keyPrefix: "one-shot" })};`,
          `dlopen(options.libraryPath, { fake_set_completion_delay_us: { args: ["i32"], returns: "void" } }).symbols.fake_set_completion_delay_us(200000);`,
          `void openFoundationDbStore(options).then((store) =>`,
          `  store.transact(async (tx) => { tx.set(new Uint8Array([1]), new Uint8Array([2])); return (await tx.get(new Uint8Array([1])))?.[0]; })`,
          `    .then((value) => { console.log("committed " + value); return store.close(); }));`,
        ].join("\n"),
      );
      const child = Bun.spawnSync([process.execPath, script], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
      expect(`${child.stdout?.toString() ?? ""}${child.stderr?.toString() ?? ""}`.trim()).toBe("committed 2");
      expect(child.exitCode).toBe(0);
    });

    // Last: it stops every network this process started, the real one included.
    test("stopFoundationDbNetwork joins the network thread, which cannot be restarted", async () => {
      stopFoundationDbNetwork();
      let caught: unknown;
      try {
        await openFoundationDbStore(options);
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).toContain("cannot be restarted");
    });
  });
}
