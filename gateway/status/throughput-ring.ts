/**
 * The last few minutes of S3 throughput for the status page: the request
 * observer's totals, read every `intervalMs` into a fixed ring of
 * `capacity + 1` points, so `capacity` rates are kept and memory never
 * grows. Rates are differences of totals over monotonic time, so a wall-clock
 * step does not make a spike; the wall time is kept only to label the points.
 */
import { assert, sleepUnlessAborted, type Clock } from "../../runtime/index.ts";
import type { RequestTotals } from "../metrics/request-observer.ts";
import type { ThroughputSample, ThroughputStatus } from "./status-report.ts";

/** Five seconds a point over five minutes. */
export const throughputIntervalMsDefault = 5_000;
export const throughputCapacityDefault = 60;

export interface ThroughputRingOptions {
  /** The totals since the process started (`CountingRequestObserver.totals`). */
  readonly read: () => RequestTotals;
  readonly clock: Clock;
  readonly intervalMs?: number;
  /** How many intervals are kept. */
  readonly capacity?: number;
}

interface Point {
  readonly atMs: number;
  readonly monotonicMs: number;
  readonly totals: RequestTotals;
}

export class ThroughputRing {
  readonly #read: () => RequestTotals;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  /** `capacity + 1` slots: n points make n - 1 intervals. */
  readonly #points: (Point | undefined)[];
  /** Where the next point goes. */
  #next = 0;
  #stopping: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: ThroughputRingOptions) {
    const capacity = options.capacity ?? throughputCapacityDefault;
    this.#intervalMs = options.intervalMs ?? throughputIntervalMsDefault;
    assert(Number.isSafeInteger(capacity) && capacity >= 1 && capacity <= 10_000, `throughput ring: capacity ${capacity} out of range`);
    assert(Number.isFinite(this.#intervalMs) && this.#intervalMs > 0, `throughput ring: intervalMs ${this.#intervalMs} must be positive`);
    this.#read = options.read;
    this.#clock = options.clock;
    this.#points = new Array<Point | undefined>(capacity + 1).fill(undefined);
    this.sample();
  }

  /** Records the totals now. The sampling loop calls it; tests may too. */
  sample(): void {
    this.#points[this.#next] = this.#pointNow();
    this.#next = (this.#next + 1) % this.#points.length;
  }

  /** Samples every `intervalMs` until `stop`. */
  start(): void {
    if (this.#loop !== undefined) return;
    const stopping = new AbortController();
    this.#stopping = stopping;
    this.#loop = (async () => {
      for (;;) {
        await sleepUnlessAborted(this.#clock, this.#intervalMs, stopping.signal);
        if (stopping.signal.aborted) return;
        this.sample();
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopping?.abort();
    await this.#loop;
  }

  /** The kept intervals oldest first, then the one from the latest point to now. */
  status(): ThroughputStatus {
    const points: Point[] = [];
    for (let offset = 0; offset < this.#points.length; offset += 1) {
      const point = this.#points[(this.#next + offset) % this.#points.length];
      if (point !== undefined) points.push(point);
    }
    const now = this.#pointNow();
    const samples: ThroughputSample[] = [];
    for (let index = 1; index < points.length; index += 1) samples.push(rate(points[index - 1]!, points[index]!));
    const latest = points[points.length - 1]!;
    if (now.monotonicMs > latest.monotonicMs) {
      samples.push(rate(latest, now));
      // The oldest interval makes room for the open one: the answer never holds more than `capacity`.
      if (samples.length > this.#points.length - 1) samples.shift();
    }
    return { intervalMs: this.#intervalMs, windowMs: this.#intervalMs * (this.#points.length - 1), samples, totals: now.totals };
  }

  #pointNow(): Point {
    return { atMs: this.#clock.nowMs(), monotonicMs: this.#clock.monotonicMs(), totals: this.#read() };
  }
}

function rate(from: Point, to: Point): ThroughputSample {
  const intervalMs = to.monotonicMs - from.monotonicMs;
  const perSecond = (before: number, after: number): number => (intervalMs <= 0 ? 0 : ((after - before) * 1000) / intervalMs);
  return {
    atMs: to.atMs,
    intervalMs,
    requestsPerSecond: perSecond(from.totals.requests, to.totals.requests),
    errorsPerSecond: perSecond(from.totals.errors, to.totals.errors),
    bytesInPerSecond: perSecond(from.totals.bytesReceived, to.totals.bytesReceived),
    bytesOutPerSecond: perSecond(from.totals.bytesSent, to.totals.bytesSent),
  };
}
