/**
 * The rate of a progress counter over a REPL session's recent calls: what
 * turns `watch heal.status` or `watch backfill.status` into an ETA. Kept in
 * the session's memory, per command, over the last `rateWindowMs` only, so
 * it follows the work as it is now rather than the session's average.
 */
import type { ReplSession } from "./session.ts";

interface Sample {
  readonly atMs: number;
  readonly value: number;
}

/** How far back the rate looks. */
export const rateWindowMs = 15_000;
/** Samples kept per counter: a `watch` samples once a second, so this covers the window. */
const samplesMax = 64;

/**
 * Records `value` of the counter `key` now and returns its rate per second
 * over the window: growth for `"up"` (shards healed), shrinkage for
 * `"down"` (shards left). Undefined until two samples show progress.
 */
export function sessionRate(session: ReplSession, key: string, value: number, direction: "up" | "down"): number | undefined {
  const nowMs = session.clock.monotonicMs();
  const samples = ((session.memory.get(key) as Sample[] | undefined) ?? []).filter((sample) => nowMs - sample.atMs <= rateWindowMs);
  samples.push({ atMs: nowMs, value });
  session.memory.set(key, samples.slice(-samplesMax));
  const oldest = samples[0]!;
  const progress = direction === "up" ? value - oldest.value : oldest.value - value;
  return nowMs > oldest.atMs && progress > 0 ? (progress * 1000) / (nowMs - oldest.atMs) : undefined;
}
