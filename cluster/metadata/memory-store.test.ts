import { describe, expect, test } from "bun:test";
import { manualClock, seededRandom } from "../../runtime/index.ts";
import { createMemoryStorage, openMemoryStore, type MemoryStorage } from "./memory-store.ts";
import { runMetaStoreConformance } from "./store.case.test.ts";
import { MetaStoreError, metaLimits } from "./store.ts";

let storage: MemoryStorage | undefined;

runMetaStoreConformance(
  "memory",
  async () => {
    // Every open within one test shares the storage, so close-and-reopen finds its data.
    storage ??= createMemoryStorage();
    return openMemoryStore({ storage });
  },
  async () => {
    storage = undefined;
  },
);

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const decode = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Runs `work` while advancing `clock` until it settles (bounded). */
async function driven<T>(clock: ReturnType<typeof manualClock>, work: Promise<T>, stepsMax = 10_000): Promise<T> {
  let settled = false;
  const result = work.finally(() => {
    settled = true;
  });
  for (let step = 0; step < stepsMax && !settled; step += 1) {
    await clock.advance(1);
  }
  expect(settled).toBe(true);
  return result;
}

describe("memory store", () => {
  test("a transaction reads one snapshot while others commit", async () => {
    const store = openMemoryStore();
    await store.transact(async (tx) => {
      tx.set(text("a"), text("1"));
      tx.set(text("c"), text("1"));
    });
    const reading = deferred();
    const gate = deferred();
    const seen = store.transact(async (tx) => {
      const before = decode(await tx.get(text("a")));
      reading.resolve();
      await gate.promise;
      const after = decode(await tx.get(text("c")));
      const keys = (await tx.getRange(text("a"), text("z"), { limit: 10 })).map((pair) => decode(pair.key));
      return { before, after, keys };
    });
    await reading.promise;
    await store.transact(async (tx) => {
      tx.set(text("c"), text("2"));
      tx.set(text("b"), text("2"));
      tx.clear(text("a"));
    });
    gate.resolve();
    // Read-only, so it commits at its snapshot without conflict.
    expect(await seen).toEqual({ before: "1", after: "1", keys: ["a", "c"] });
    const now = await store.transact(async (tx) => (await tx.getRange(text("a"), text("z"), { limit: 10 })).map((pair) => decode(pair.value)));
    expect(now).toEqual(["2", "2"]);
  });

  test("old versions and cleared keys are pruned once no snapshot needs them", async () => {
    const space = createMemoryStorage();
    const store = openMemoryStore({ storage: space });
    for (let round = 0; round < 50; round += 1) {
      await store.transact(async (tx) => {
        for (let index = 0; index < 20; index += 1) tx.set(text(`k${index}`), text(`${round}`));
      });
    }
    expect(space.keyCount()).toBe(20);
    // No snapshot was open across commits, so each key kept its newest value only.
    expect(space.storedVersionCount()).toBe(20);
    const gate = deferred();
    const reading = deferred();
    const pinned = store.transact(async (tx) => {
      await tx.get(text("k0"));
      reading.resolve();
      await gate.promise;
      return decode(await tx.get(text("k5")));
    });
    await reading.promise;
    await store.transact(async (tx) => tx.clearRange(text("k"), text("l")));
    expect(space.keyCount()).toBe(0);
    // The pinned snapshot keeps each key's value beside its clear.
    expect(space.storedVersionCount()).toBe(40);
    gate.resolve();
    // The pinned snapshot still reads the cleared key.
    expect(await pinned).toBe("49");
    // With the snapshot gone, the cleared keys left no history behind.
    expect(space.storedVersionCount()).toBe(0);
    await store.transact(async (tx) => tx.set(text("other"), text("x")));
    expect(space.storedVersionCount()).toBe(1);
  });

  test("a transaction older than the limit (on the given clock) is refused with TooOld", async () => {
    let nowMs = 0;
    const store = openMemoryStore({ monotonicMs: () => nowMs });
    let caught: unknown;
    try {
      await store.transact(async (tx) => {
        tx.set(text("a"), text("1"));
        nowMs += metaLimits.transactionMsMax + 1;
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MetaStoreError);
    expect((caught as MetaStoreError).code).toBe("TooOld");
    expect(await store.transact((tx) => tx.get(text("a")))).toBeUndefined();
  });

  test("injected conflicts are retried and never lose an update; beforeRetry sees each retry", async () => {
    const seed = 4242;
    const clock = manualClock(0);
    const retries: number[] = [];
    const store = openMemoryStore({
      faults: { clock, random: seededRandom(seed), commitDelayMsMax: 5, readDelayMsMax: 3, conflictProbability: 0.3 },
      beforeRetry: async (attempt) => void retries.push(attempt),
    });
    const count = 20;
    const increments = Array.from({ length: count }, () =>
      store.transact(
        async (tx) => {
          const value = Number(decode(await tx.get(text("n"))) ?? "0");
          tx.set(text("n"), text(String(value + 1)));
        },
        { attemptsMax: 1_000 },
      ),
    );
    await driven(clock, Promise.all(increments));
    expect(decode(await driven(clock, store.transact((tx) => tx.get(text("n")))))).toBe(String(count));
    // Racing read-modify-writes plus a 30% injected conflict rate: retries happened.
    expect(retries.length).toBeGreaterThan(0);
  });

  test("the same fault seed gives the same commit order", async () => {
    const run = async (seed: number): Promise<string> => {
      const clock = manualClock(0);
      const store = openMemoryStore({ faults: { clock, random: seededRandom(seed), commitDelayMsMax: 20, conflictProbability: 0.2 } });
      const order: string[] = [];
      const writers = Array.from({ length: 8 }, (_, index) =>
        store.transact(
          async (tx) => {
            const log = decode(await tx.get(text("log"))) ?? "";
            tx.set(text("log"), text(`${log}${index}`));
          },
          { attemptsMax: 1_000 },
        ).then(() => order.push(String(index))),
      );
      await driven(clock, Promise.all(writers));
      return `${order.join("")}|${decode(await store.transact((tx) => tx.get(text("log"))))}`;
    };
    const first = await run(7);
    expect(await run(7)).toBe(first);
    // Other seeds shuffle commit timing: at least one of four gives another order.
    const others = await Promise.all([11, 12, 13, 14].map(run));
    expect(others.some((other) => other !== first)).toBe(true);
  });
});
