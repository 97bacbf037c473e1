/**
 * The MetaStore conformance suite: every backend runs it (`lmdb-store.test.ts`,
 * `foundationdb-store.test.ts`). It checks the contract in `store.ts` against
 * independent references (Buffer.compare for byte order, plain arithmetic
 * for counters), never against the backend's own helpers.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { KeyValue, MetaStore, MetaStoreErrorCode, MetaTransaction } from "./store.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const hex = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : Buffer.from(value).toString("hex");
const keysHex = (pairs: readonly KeyValue[]): string[] => pairs.map((pair) => Buffer.from(pair.key).toString("hex"));
const int64 = (value: Uint8Array | undefined): bigint | undefined =>
  value === undefined ? undefined : Buffer.from(value).readBigInt64LE(0);
const filled = (length: number, byte: number): Uint8Array => new Uint8Array(length).fill(byte);
// FoundationDB reserves keys from 0xff on (its system keyspace), so the suite
// never uses them: every ordinary key lies in [empty, 0xff).
const everything = { begin: bytes(), end: bytes(0xff) };
const highest = (length: number): Uint8Array => {
  const key = filled(length, 0xff);
  key[0] = 0xfe;
  return key;
};

async function expectCode(promise: Promise<unknown>, code: MetaStoreErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(MetaStoreError);
  expect((caught as MetaStoreError).code).toBe(code);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * Registers the conformance tests for one backend. `open` opens the backend's
 * storage; every call within one test must open the same data (the durability
 * test closes and reopens). `cleanup` runs after each test, once every store
 * it opened is closed, and must erase the data so the next test starts empty.
 */
export function runMetaStoreConformance(
  name: string,
  open: () => Promise<MetaStore>,
  cleanup: () => Promise<void>,
): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let store: MetaStore;
    let opened: MetaStore[] = [];
    const openTracked = async (): Promise<MetaStore> => {
      const instance = await open();
      opened.push(instance);
      return instance;
    };
    const read = <T>(body: (tx: MetaTransaction) => Promise<T>): Promise<T> => store.transact(body);
    const all = (): Promise<KeyValue[]> =>
      read((tx) => tx.getRange(everything.begin, everything.end, { limit: 10_000 }));

    beforeEach(async () => {
      opened = [];
      store = await openTracked();
    });

    afterEach(async () => {
      for (const instance of opened) await instance.close();
      await cleanup();
    });

    test("get, set and clear", async () => {
      expect(await read((tx) => tx.get(text("missing")))).toBeUndefined();
      await store.transact(async (tx) => {
        tx.set(text("a"), text("one"));
        tx.set(text("b"), text("two"));
      });
      expect(hex(await read((tx) => tx.get(text("a"))))).toBe(hex(text("one")));
      await store.transact(async (tx) => tx.set(text("a"), text("uno")));
      expect(hex(await read((tx) => tx.get(text("a"))))).toBe(hex(text("uno")));
      await store.transact(async (tx) => tx.clear(text("a")));
      expect(await read((tx) => tx.get(text("a")))).toBeUndefined();
      expect(hex(await read((tx) => tx.get(text("b"))))).toBe(hex(text("two")));
      // Clearing a missing key is not an error.
      await store.transact(async (tx) => tx.clear(text("never")));
    });

    test("the empty key and empty values are stored", async () => {
      await store.transact(async (tx) => {
        tx.set(bytes(), text("empty key"));
        tx.set(text("k"), bytes());
      });
      expect(hex(await read((tx) => tx.get(bytes())))).toBe(hex(text("empty key")));
      expect(hex(await read((tx) => tx.get(text("k"))))).toBe("");
      expect(keysHex(await all())).toEqual(["", Buffer.from("k").toString("hex")]);
    });

    test("getRange orders keys bytewise, including 0x00 and 0xff bytes", async () => {
      const keys = [
        bytes(0xfe, 0xff),
        bytes(0x00),
        bytes(0x00, 0x00),
        bytes(0x01),
        bytes(0x01, 0xff, 0xff),
        highest(1),
        bytes(0x7f),
        bytes(0x80),
        bytes(0x00, 0xff),
        bytes(0x01, 0x00),
        text("a"),
        text("a\u0000"),
        text("ab"),
        text("é"),
        text("z"),
      ];
      await store.transact(async (tx) => {
        for (const [index, key] of keys.entries()) tx.set(key, bytes(index));
      });
      const expected = keys.map((key) => Buffer.from(key)).sort(Buffer.compare).map((key) => key.toString("hex"));
      expect(keysHex(await all())).toEqual(expected);
      const reversed = await read((tx) => tx.getRange(everything.begin, everything.end, { limit: 100, reverse: true }));
      expect(keysHex(reversed)).toEqual([...expected].reverse());
      // Values travel with their keys.
      for (const pair of reversed) {
        const index = keys.findIndex((key) => Buffer.compare(Buffer.from(key), Buffer.from(pair.key)) === 0);
        expect([...pair.value]).toEqual([index]);
      }
    });

    test("getRange honours begin (inclusive), end (exclusive), limit and reverse", async () => {
      await store.transact(async (tx) => {
        for (const letter of "abcdefg") tx.set(text(letter), text(letter.toUpperCase()));
      });
      const range = (begin: string, end: string, limit: number, reverse = false): Promise<string[]> =>
        read(async (tx) =>
          (await tx.getRange(text(begin), text(end), { limit, reverse })).map((pair) => Buffer.from(pair.key).toString()),
        );
      expect(await range("b", "e", 100)).toEqual(["b", "c", "d"]);
      expect(await range("b", "e", 2)).toEqual(["b", "c"]);
      expect(await range("b", "e", 2, true)).toEqual(["d", "c"]);
      expect(await range("bb", "dd", 100)).toEqual(["c", "d"]);
      expect(await range("a", "z", 3, true)).toEqual(["g", "f", "e"]);
      expect(await range("c", "c", 10)).toEqual([]);
      expect(await range("e", "b", 10)).toEqual([]);
      expect(await range("x", "z", 10)).toEqual([]);
      expect(await range("a", "z", 0)).toEqual([]);
    });

    test("clearRange clears begin <= key < end and nothing else", async () => {
      await store.transact(async (tx) => {
        for (const letter of "abcdef") tx.set(text(letter), text(letter));
      });
      await store.transact(async (tx) => tx.clearRange(text("b"), text("e")));
      expect((await all()).map((pair) => Buffer.from(pair.key).toString())).toEqual(["a", "e", "f"]);
      await store.transact(async (tx) => tx.clearRange(text("f"), text("a")));
      expect((await all()).length).toBe(3);
    });

    test("keys up to the 10,000-byte limit order and clear like short ones", async () => {
      // Long keys sharing long prefixes, mixed with short ones: a backend whose
      // engine limits key length must still keep byte order exactly.
      const long = (length: number, tail: number): Uint8Array => {
        const key = filled(length, 0x61);
        key[length - 1] = tail;
        return key;
      };
      const keys = [
        text("a"),
        text("b"),
        long(1_899, 0x62),
        long(1_900, 0x62),
        long(1_901, 0x62),
        long(1_901, 0x60),
        long(1_902, 0x61),
        long(5_000, 0x00),
        long(5_000, 0xff),
        long(metaLimits.keyBytesMax, 0x62),
        highest(metaLimits.keyBytesMax),
        highest(2_000),
        filled(3_000, 0x00),
      ];
      await store.transact(async (tx) => {
        for (const [index, key] of keys.entries()) tx.set(key, bytes(index));
      });
      const sorted = keys.map((key) => Buffer.from(key)).sort(Buffer.compare);
      const expected = sorted.map((key) => key.toString("hex"));
      expect(keysHex(await all())).toEqual(expected);
      const reversed = await read((tx) => tx.getRange(everything.begin, everything.end, { limit: 100, reverse: true }));
      expect(keysHex(reversed)).toEqual([...expected].reverse());
      for (const [index, key] of keys.entries()) {
        expect([...((await read((tx) => tx.get(key))) ?? [])]).toEqual([index]);
      }
      // A range whose bounds fall inside runs of long keys.
      const low = sorted[3] as Uint8Array;
      const high = sorted[8] as Uint8Array;
      const middle = await read((tx) => tx.getRange(low, high, { limit: 100 }));
      expect(keysHex(middle)).toEqual(expected.slice(3, 8));
      const middleReverse = await read((tx) => tx.getRange(low, high, { limit: 2, reverse: true }));
      expect(keysHex(middleReverse)).toEqual(expected.slice(6, 8).reverse());
      await store.transact(async (tx) => tx.clearRange(low, high));
      expect(keysHex(await all())).toEqual([...expected.slice(0, 3), ...expected.slice(8)]);
      await store.transact(async (tx) => tx.clear(sorted[9] as Uint8Array));
      expect(keysHex(await all())).toEqual([...expected.slice(0, 3), ...expected.slice(8, 9), ...expected.slice(10)]);
    });

    test("firstKey: the first key in [begin, end), against Buffer.compare, many seeks in one transaction", async () => {
      const long = (length: number, tail: number): Uint8Array => {
        const key = filled(length, 0x61);
        key[length - 1] = tail;
        return key;
      };
      // Short keys with 0x00 and 0xff bytes, and long ones (a backend may keep
      // keys over some length apart, as LMDB's layout keeps them in groups).
      const keys = [
        bytes(),
        bytes(0x00),
        bytes(0x00, 0x00),
        text("a"),
        text("a\u0000"),
        text("ab"),
        bytes(0x61, 0xff),
        text("b"),
        text("m"),
        long(1_899, 0x62),
        long(1_900, 0x62),
        long(1_901, 0x61),
        long(1_901, 0x62),
        long(3_000, 0x63),
        highest(2_000),
        highest(10),
      ];
      await store.transact(async (tx) => {
        for (const [index, key] of keys.entries()) tx.set(key, bytes(index));
      });
      const sorted = keys.map((key) => Buffer.from(key)).sort(Buffer.compare);
      const reference = (begin: Uint8Array, end: Uint8Array): string | undefined => {
        const found = sorted.find((key) => Buffer.compare(key, begin) >= 0 && Buffer.compare(key, end) < 0);
        return found?.toString("hex");
      };
      // Bounds: every key, each key followed by 0x00, each key cut short, and the ends of the keyspace.
      const bounds: Uint8Array[] = [everything.begin, everything.end, text("c"), text("zz")];
      for (const key of sorted) {
        bounds.push(key, Buffer.concat([key, bytes(0x00)]));
        if (key.length > 0) bounds.push(key.subarray(0, key.length - 1));
      }
      const pairs: Array<{ begin: Uint8Array; end: Uint8Array }> = [];
      for (const begin of bounds) {
        for (const end of [everything.end, ...bounds.filter((_, index) => index % 3 === 0)]) pairs.push({ begin, end });
      }
      const answers = await read(async (tx) => {
        const out: Array<string | undefined> = [];
        for (const { begin, end } of pairs) out.push(hex(await tx.firstKey(begin, end)));
        return out;
      });
      expect(answers).toEqual(pairs.map(({ begin, end }) => reference(begin, end)));
    });

    test("firstKey sees the transaction's own sets, clears, clearRanges and adds", async () => {
      await store.transact(async (tx) => {
        for (const letter of "bdfh") tx.set(text(letter), text("stored"));
      });
      const seen = await store.transact(async (tx) => {
        const name = async (begin: string, end: string): Promise<string | undefined> => {
          const key = await tx.firstKey(text(begin), text(end));
          return key === undefined ? undefined : Buffer.from(key).toString();
        };
        const before = await name("a", "z");
        tx.clear(text("b"));
        const afterClear = await name("a", "z");
        tx.clearRange(text("c"), text("g"));
        const afterClearRange = await name("a", "z");
        tx.set(text("e"), text("new"));
        const afterSet = await name("a", "z");
        tx.add(text("c"), 1n);
        const afterAdd = await name("a", "z");
        const bounded = await name("i", "z");
        return { before, afterClear, afterClearRange, afterSet, afterAdd, bounded };
      });
      expect(seen).toEqual({ before: "b", afterClear: "d", afterClearRange: "h", afterSet: "e", afterAdd: "c", bounded: undefined });
    });

    test("firstKey is invalidated by a key inserted before the key it found, or that key's removal, not by keys after it", async () => {
      await store.transact(async (tx) => {
        tx.set(text("m"), text("m"));
        tx.set(text("t"), text("t"));
      });
      const runConcurrently = async (change: (tx: MetaTransaction) => void): Promise<{ runs: number; found: string[] }> => {
        const gate = deferred();
        const reading = deferred();
        let runs = 0;
        const found: string[] = [];
        const first = store.transact(async (tx) => {
          runs++;
          const key = await tx.firstKey(text("c"), text("z"));
          found.push(key === undefined ? "none" : Buffer.from(key).toString());
          if (runs === 1) {
            reading.resolve();
            await gate.promise;
          }
          tx.set(text("out"), text("done"));
        });
        await reading.promise;
        await store.transact(async (tx) => change(tx));
        gate.resolve();
        await first;
        return { runs, found };
      };
      expect(await runConcurrently((tx) => tx.set(text("d"), text("d")))).toEqual({ runs: 2, found: ["m", "d"] });
      expect(await runConcurrently((tx) => tx.clear(text("d")))).toEqual({ runs: 2, found: ["d", "m"] });
      expect(await runConcurrently((tx) => tx.clear(text("m")))).toEqual({ runs: 2, found: ["m", "out"] });
      expect(await runConcurrently((tx) => tx.set(text("u"), text("after")))).toEqual({ runs: 1, found: ["out"] });
    });

    test("a transaction reads its own writes", async () => {
      await store.transact(async (tx) => {
        for (const letter of "bdf") tx.set(text(letter), text("stored"));
      });
      const seen = await store.transact(async (tx) => {
        tx.set(text("a"), text("new"));
        tx.set(text("d"), text("changed"));
        tx.clear(text("b"));
        const getA = hex(await tx.get(text("a")));
        const getB = await tx.get(text("b"));
        const getD = hex(await tx.get(text("d")));
        const forward = await tx.getRange(text("a"), text("z"), { limit: 10 });
        const reverse = await tx.getRange(text("a"), text("z"), { limit: 10, reverse: true });
        // A pending clear must not use up the limit.
        const limited = await tx.getRange(text("b"), text("z"), { limit: 2 });
        return { getA, getB, getD, forward, reverse, limited };
      });
      expect(seen.getA).toBe(hex(text("new")));
      expect(seen.getB).toBeUndefined();
      expect(seen.getD).toBe(hex(text("changed")));
      expect(seen.forward.map((pair) => `${Buffer.from(pair.key)}=${Buffer.from(pair.value)}`)).toEqual([
        "a=new",
        "d=changed",
        "f=stored",
      ]);
      expect(seen.reverse.map((pair) => Buffer.from(pair.key).toString())).toEqual(["f", "d", "a"]);
      expect(seen.limited.map((pair) => Buffer.from(pair.key).toString())).toEqual(["d", "f"]);
    });

    test("a pending clearRange hides stored keys; writes after it show", async () => {
      await store.transact(async (tx) => {
        for (const letter of "abcde") tx.set(text(letter), text("stored"));
      });
      const seen = await store.transact(async (tx) => {
        tx.clearRange(text("b"), text("e"));
        tx.set(text("c"), text("again"));
        tx.add(text("d"), 3n);
        return {
          keys: (await tx.getRange(text("a"), text("z"), { limit: 10 })).map((pair) => Buffer.from(pair.key).toString()),
          b: await tx.get(text("b")),
          d: int64(await tx.get(text("d"))),
        };
      });
      expect(seen).toEqual({ keys: ["a", "c", "d", "e"], b: undefined, d: 3n });
      expect((await all()).map((pair) => Buffer.from(pair.key).toString())).toEqual(["a", "c", "d", "e"]);
      expect(int64(await read((tx) => tx.get(text("d"))))).toBe(3n);
    });

    test("atomic add: a missing value counts as zero, negatives wrap as signed 64-bit", async () => {
      await store.transact(async (tx) => tx.add(text("n"), 5n));
      const stored = await read((tx) => tx.get(text("n")));
      expect(stored?.length).toBe(8);
      expect(int64(stored)).toBe(5n);
      await store.transact(async (tx) => tx.add(text("n"), -7n));
      expect(int64(await read((tx) => tx.get(text("n"))))).toBe(-2n);
      const inside = await store.transact(async (tx) => {
        tx.add(text("n"), 10n);
        tx.add(text("n"), 1n);
        return int64(await tx.get(text("n")));
      });
      expect(inside).toBe(9n);
      await store.transact(async (tx) => tx.add(text("max"), 0x7fff_ffff_ffff_ffffn));
      await store.transact(async (tx) => tx.add(text("max"), 1n));
      expect(int64(await read((tx) => tx.get(text("max"))))).toBe(-0x8000_0000_0000_0000n);
    });

    test("concurrent adds never conflict", async () => {
      const count = 25;
      // One attempt each: any conflict would reject.
      await Promise.all(
        Array.from({ length: count }, (_, index) =>
          store.transact(async (tx) => tx.add(text("counter"), BigInt(index + 1)), { attemptsMax: 1 }),
        ),
      );
      expect(int64(await read((tx) => tx.get(text("counter"))))).toBe(BigInt((count * (count + 1)) / 2));
    });

    test("concurrent read-modify-write transactions serialize", async () => {
      const count = 10;
      let runs = 0;
      await Promise.all(
        Array.from({ length: count }, () =>
          store.transact(
            async (tx) => {
              runs++;
              const value = int64(await tx.get(text("counter"))) ?? 0n;
              const buffer = Buffer.alloc(8);
              buffer.writeBigInt64LE(value + 1n);
              tx.set(text("counter"), buffer);
            },
            { attemptsMax: count + 5 },
          ),
        ),
      );
      expect(int64(await read((tx) => tx.get(text("counter"))))).toBe(BigInt(count));
      // Lost races must have re-run their bodies.
      expect(runs).toBeGreaterThan(count);
    });

    test("a transaction whose read was invalidated runs its body again", async () => {
      await store.transact(async (tx) => tx.set(text("k"), text("before")));
      const gate = deferred();
      const reading = deferred();
      let runs = 0;
      const first = store.transact(async (tx) => {
        runs++;
        const value = await tx.get(text("k"));
        if (runs === 1) {
          reading.resolve();
          await gate.promise;
        }
        tx.set(text("copy"), value ?? bytes());
      });
      await reading.promise;
      await store.transact(async (tx) => tx.set(text("k"), text("after")));
      gate.resolve();
      await first;
      expect(runs).toBe(2);
      expect(Buffer.from((await read((tx) => tx.get(text("copy")))) ?? bytes()).toString()).toBe("after");
    });

    test("a range read is invalidated by an insert inside the range it saw", async () => {
      const gate = deferred();
      const reading = deferred();
      let runs = 0;
      const first = store.transact(async (tx) => {
        runs++;
        const found = await tx.getRange(text("a"), text("z"), { limit: 10 });
        if (runs === 1) {
          reading.resolve();
          await gate.promise;
        }
        tx.set(text("count"), bytes(found.length));
      });
      await reading.promise;
      await store.transact(async (tx) => tx.set(text("m"), text("inserted")));
      gate.resolve();
      await first;
      expect(runs).toBe(2);
      expect([...((await read((tx) => tx.get(text("count")))) ?? [])]).toEqual([1]);
    });

    test("writes outside what a transaction read do not conflict with it", async () => {
      await store.transact(async (tx) => {
        tx.set(text("b"), text("b"));
        tx.set(text("x"), text("x"));
      });
      const gate = deferred();
      const reading = deferred();
      let runs = 0;
      const first = store.transact(async (tx) => {
        runs++;
        await tx.get(text("x"));
        // Limited to one pair, this read depends on keys up to "b" only.
        await tx.getRange(text("a"), text("z"), { limit: 1 });
        if (runs === 1) {
          reading.resolve();
          await gate.promise;
        }
        tx.set(text("out"), text("done"));
      });
      await reading.promise;
      await store.transact(async (tx) => {
        tx.set(text("y"), text("elsewhere"));
        tx.add(text("x-counter"), 1n);
      });
      gate.resolve();
      await first;
      expect(runs).toBe(1);
    });

    test("a transaction out of attempts fails with Conflict", async () => {
      const gate = deferred();
      const reading = deferred();
      const first = store.transact(
        async (tx) => {
          await tx.get(text("k"));
          reading.resolve();
          await gate.promise;
          tx.set(text("k"), text("first"));
        },
        { attemptsMax: 1 },
      );
      await reading.promise;
      await store.transact(async (tx) => tx.set(text("k"), text("second")));
      gate.resolve();
      await expectCode(first, "Conflict");
      expect(Buffer.from((await read((tx) => tx.get(text("k")))) ?? bytes()).toString()).toBe("second");
    });

    test("limits are refused with the right code and nothing is applied", async () => {
      await expectCode(
        store.transact(async (tx) => {
          tx.set(text("first"), text("x"));
          tx.set(filled(metaLimits.keyBytesMax + 1, 0x61), text("x"));
        }),
        "KeyTooLarge",
      );
      await expectCode(
        store.transact(async (tx) => {
          tx.set(text("first"), text("x"));
          tx.set(text("big"), filled(metaLimits.valueBytesMax + 1, 1));
        }),
        "ValueTooLarge",
      );
      await expectCode(
        store.transact(async (tx) => {
          tx.set(text("first"), text("x"));
          const value = filled(metaLimits.valueBytesMax, 2);
          for (let index = 0; index * metaLimits.valueBytesMax <= metaLimits.transactionBytesMax; index++) {
            tx.set(text(`chunk-${index}`), value);
          }
        }),
        "TooLarge",
      );
      expect(await all()).toEqual([]);
      // Exactly at the limits is accepted.
      await store.transact(async (tx) => tx.set(filled(metaLimits.keyBytesMax, 0x61), filled(metaLimits.valueBytesMax, 3)));
      expect((await read((tx) => tx.get(filled(metaLimits.keyBytesMax, 0x61))))?.length).toBe(metaLimits.valueBytesMax);
    });

    test("a body that throws commits nothing", async () => {
      const failure = new Error("body failed");
      let caught: unknown;
      try {
        await store.transact(async (tx) => {
          tx.set(text("a"), text("x"));
          tx.add(text("n"), 1n);
          tx.clearRange(bytes(), bytes(0xff));
          throw failure;
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBe(failure);
      expect(await all()).toEqual([]);
    });

    test("commits are durable across close and reopen", async () => {
      await store.transact(async (tx) => {
        tx.set(text("durable"), text("yes"));
        tx.add(text("n"), 42n);
      });
      await store.close();
      store = await openTracked();
      expect(Buffer.from((await read((tx) => tx.get(text("durable")))) ?? bytes()).toString()).toBe("yes");
      expect(int64(await read((tx) => tx.get(text("n"))))).toBe(42n);
    });

    test("a closed store refuses transactions", async () => {
      await store.close();
      await expectCode(store.transact(async (tx) => tx.get(text("a"))), "Closed");
      store = await openTracked();
    });
  });
}
