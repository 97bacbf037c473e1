import { describe, expect, test } from "bun:test";
import { AssertionError } from "./assert.ts";
import type { Clock } from "./behavior.ts";
import { manualClock, sleepUnlessAborted, systemClock } from "./clock.ts";

describe("manualClock", () => {
  test("time moves only on advance", async () => {
    const clock = manualClock(1_000_000);
    expect(clock.nowMs()).toBe(1_000_000);
    expect(clock.monotonicMs()).toBe(0);
    await clock.advance(250);
    expect(clock.nowMs()).toBe(1_000_250);
    expect(clock.monotonicMs()).toBe(250);
  });

  test("sleepers wake in deadline order, ties in the order they slept", async () => {
    const clock = manualClock(0);
    const woken: string[] = [];
    const sleep = (label: string, delayMs: number): Promise<void> =>
      clock.sleep(delayMs).then(() => {
        woken.push(`${label}@${clock.monotonicMs()}`);
      });
    const all = [sleep("c", 30), sleep("a", 10), sleep("b", 20), sleep("a2", 10)];
    expect(clock.sleeperCount()).toBe(4);

    await clock.advance(15);
    expect(woken).toEqual(["a@10", "a2@10"]);
    expect(clock.sleeperCount()).toBe(2);

    await clock.advance(100);
    expect(woken).toEqual(["a@10", "a2@10", "b@20", "c@30"]);
    expect(clock.monotonicMs()).toBe(115);
    await Promise.all(all);
  });

  test("a sleeper that sleeps again inside the advanced span is woken in the same advance", async () => {
    const clock = manualClock(0);
    const woken: number[] = [];
    const done = (async () => {
      for (let round = 0; round < 3; round += 1) {
        await clock.sleep(10);
        woken.push(clock.monotonicMs());
      }
    })();
    await clock.advance(25);
    expect(woken).toEqual([10, 20]);
    await clock.advance(5);
    expect(woken).toEqual([10, 20, 30]);
    await done;
  });

  test("an aborted sleep resolves at once and leaves no sleeper", async () => {
    const clock = manualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1_000, controller.signal);
    expect(clock.sleeperCount()).toBe(1);
    controller.abort();
    await sleeping;
    expect(clock.sleeperCount()).toBe(0);
    expect(clock.monotonicMs()).toBe(0);
  });

  test("bad delays and overlapping advances are refused", async () => {
    const clock = manualClock(0);
    expect(() => clock.sleep(-1)).toThrow(AssertionError);
    expect(() => clock.sleep(Number.POSITIVE_INFINITY)).toThrow(AssertionError);
    const sleeping = clock.sleep(1);
    const first = clock.advance(1);
    await expect(clock.advance(1)).rejects.toThrow(AssertionError);
    await first;
    await sleeping;
  });
});

describe("systemClock", () => {
  test("reads real time", () => {
    const clock = systemClock();
    const before = Date.now();
    const now = clock.nowMs();
    const after = Date.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after);
    const first = clock.monotonicMs();
    expect(clock.monotonicMs()).toBeGreaterThanOrEqual(first);
  });

  test("sleep resolves, and an abort ends it early", async () => {
    const clock = systemClock();
    await clock.sleep(1);
    const controller = new AbortController();
    const long = clock.sleep(3_600_000, controller.signal);
    controller.abort();
    await long;
    expect(controller.signal.aborted).toBe(true);
  });
});

describe("sleepUnlessAborted", () => {
  test("works with a clock that knows nothing of abort signals", async () => {
    let release: (() => void) | undefined;
    const foreign: Clock = {
      nowMs: () => 0,
      monotonicMs: () => 0,
      sleep: () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    };
    const controller = new AbortController();
    const sleeping = sleepUnlessAborted(foreign, 50, controller.signal);
    controller.abort();
    await sleeping;
    expect(release).toBeDefined();

    const second = sleepUnlessAborted(foreign, 50, new AbortController().signal);
    release!();
    await second;
  });
});
