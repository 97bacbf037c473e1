/**
 * The throughput ring: rates are differences of the totals over monotonic
 * time, the ring keeps exactly `capacity` intervals however long it runs,
 * the open interval up to now is the last sample, and the sampling loop
 * stops when told.
 */
import { describe, expect, test } from "bun:test";
import { manualClock, randomSeed, seededRandom } from "../../runtime/index.ts";
import type { RequestTotals } from "../metrics/request-observer.ts";
import { ThroughputRing } from "./throughput-ring.ts";

const seed = Number(process.env.CAIRN_SEED ?? randomSeed());
console.log(`throughput-ring.test.ts seed ${seed} (replay: CAIRN_SEED=${seed} bun test gateway/status/throughput-ring.test.ts)`);

function counters(): { totals: RequestTotals; add(requests: number, errors: number, bytesIn: number, bytesOut: number): void } {
  const state = { requests: 0, errors: 0, bytesReceived: 0, bytesSent: 0 };
  return {
    get totals() {
      return { ...state };
    },
    add(requests, errors, bytesIn, bytesOut) {
      state.requests += requests;
      state.errors += errors;
      state.bytesReceived += bytesIn;
      state.bytesSent += bytesOut;
    },
  };
}

describe("ThroughputRing", () => {
  test("rates per interval, the open interval last, totals as read", async () => {
    const clock = manualClock(1_000_000);
    const source = counters();
    const ring = new ThroughputRing({ read: () => source.totals, clock, intervalMs: 5_000, capacity: 4 });
    source.add(10, 1, 5_000, 20_000);
    await clock.advance(5_000);
    ring.sample();
    source.add(3, 0, 0, 1_500);
    await clock.advance(1_500);
    const status = ring.status();
    expect(status.intervalMs).toBe(5_000);
    expect(status.windowMs).toBe(20_000);
    expect(status.totals).toEqual({ requests: 13, errors: 1, bytesReceived: 5_000, bytesSent: 21_500 });
    expect(status.samples).toEqual([
      { atMs: 1_005_000, intervalMs: 5_000, requestsPerSecond: 2, errorsPerSecond: 0.2, bytesInPerSecond: 1_000, bytesOutPerSecond: 4_000 },
      { atMs: 1_006_500, intervalMs: 1_500, requestsPerSecond: 2, errorsPerSecond: 0, bytesInPerSecond: 0, bytesOutPerSecond: 1_000 },
    ]);
  });

  test("bounded: after many samples exactly `capacity` intervals remain, the newest ones, each with its own rate", async () => {
    const random = seededRandom(seed);
    const clock = manualClock(0);
    const source = counters();
    const capacity = 5 + random.integer(10);
    const ring = new ThroughputRing({ read: () => source.totals, clock, intervalMs: 1_000, capacity });
    const perInterval: number[] = [];
    const sampleCount = capacity * 3 + random.integer(20);
    for (let index = 0; index < sampleCount; index += 1) {
      const requests = random.integer(100);
      perInterval.push(requests);
      source.add(requests, 0, 0, 0);
      await clock.advance(1_000);
      ring.sample();
    }
    // The open interval is empty: zero time has passed since the last sample.
    const status = ring.status();
    expect(status.samples.length).toBe(capacity);
    expect(status.samples.map((sample) => sample.requestsPerSecond)).toEqual(perInterval.slice(-capacity));
    await clock.advance(400);
    source.add(2, 0, 0, 0);
    const withOpen = ring.status();
    expect(withOpen.samples.length).toBe(capacity);
    expect(withOpen.samples.at(-1)).toMatchObject({ intervalMs: 400, requestsPerSecond: 5 });
    expect(withOpen.samples.slice(0, -1).map((sample) => sample.requestsPerSecond)).toEqual(perInterval.slice(-(capacity - 1)));
  });

  test("the loop samples every interval and stops", async () => {
    const clock = manualClock(0);
    const source = counters();
    const ring = new ThroughputRing({ read: () => source.totals, clock, intervalMs: 2_000, capacity: 10 });
    ring.start();
    for (let index = 0; index < 3; index += 1) {
      source.add(4, 0, 0, 0);
      await clock.advance(2_000);
    }
    expect(ring.status().samples.map((sample) => sample.requestsPerSecond)).toEqual([2, 2, 2]);
    await ring.stop();
    expect(clock.sleeperCount()).toBe(0);
    await clock.advance(10_000);
    // Stopped: no more samples, so the open interval spans all 10 s.
    expect(ring.status().samples.length).toBe(4);
    expect(ring.status().samples.at(-1)!.intervalMs).toBe(10_000);
  });
});
