/**
 * `work` over `items` with at most `inFlightMax` calls running at once,
 * results in the order of `items`: fan-out that overlaps round trips without
 * flooding what it calls (DeleteObjects, the Healer, the REPL's views).
 */
import { assert } from "./assert.ts";

export async function mapBounded<T, R>(items: readonly T[], inFlightMax: number, work: (item: T) => Promise<R>): Promise<R[]> {
  assert(Number.isInteger(inFlightMax) && inFlightMax >= 1, `mapBounded: inFlightMax ${inFlightMax} must be a positive integer`);
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, items.length) }, worker));
  return results;
}
