/**
 * Clocks. `systemClock` is the only code in Cairn that reads real time or
 * arms real timers; `manualClock` is a clock that moves only when a test says
 * so, which makes timeouts and backoffs testable without waiting.
 *
 * Both clocks accept an optional `AbortSignal` in `sleep`, so a host can
 * release the timer behind an ask whose reply came early instead of leaving
 * thousands of dead timers armed under load.
 */
import { assert } from "./assert.ts";
import type { Clock } from "./behavior.ts";

/** A clock whose sleeps can be cut short. An aborted sleep resolves (it does not reject): callers check `signal.aborted`. */
export interface AbortableClock extends Clock {
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}

/** A clock for tests: time stands still until `advance` moves it. */
export interface ManualClock extends AbortableClock {
  /**
   * Moves time forward by `deltaMs`, waking due sleepers one deadline at a
   * time in deadline order (ties in the order they went to sleep). After each
   * wake it yields one turn of the event loop so the woken code can run and
   * go back to sleep; a new deadline that falls inside the advanced span is
   * woken in the same call.
   */
  advance(deltaMs: number): Promise<void>;
  /** Sleepers not yet woken; lets a test wait until something is asleep before advancing. */
  sleeperCount(): number;
}

// setTimeout fires at once for delays beyond a signed 32-bit millisecond
// count, so longer sleeps are taken in chunks of at most this length.
const timerDelayMsMax = 2_147_483_647;

const abortableClocks = new WeakSet<Clock>();

/** The real clock: `Date.now`, `performance.now` and `setTimeout`. */
export function systemClock(): AbortableClock {
  const clock: AbortableClock = {
    nowMs: () => Date.now(),
    monotonicMs: () => performance.now(),
    sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
      checkDelay(delayMs);
      if (signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let remainingMs = delayMs;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const finish = (): void => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", finish);
          resolve();
        };
        const arm = (): void => {
          const chunkMs = Math.min(remainingMs, timerDelayMsMax);
          remainingMs -= chunkMs;
          timer = setTimeout(() => (remainingMs > 0 ? arm() : finish()), chunkMs);
        };
        signal?.addEventListener("abort", finish, { once: true });
        arm();
      });
    },
  };
  abortableClocks.add(clock);
  return clock;
}

interface Sleeper {
  readonly deadlineMs: number;
  readonly sequence: number;
  readonly wake: () => void;
}

/** A clock that starts at wall time `startMs` (monotonic time 0) and moves only on `advance`. */
export function manualClock(startMs: number): ManualClock {
  assert(Number.isFinite(startMs), `manualClock: startMs must be finite, got ${startMs}`);
  let elapsedMs = 0;
  let sequence = 0;
  let advancing = false;
  const sleepers: Sleeper[] = [];

  const takeNextDue = (untilMs: number): Sleeper | undefined => {
    let best = -1;
    for (let index = 0; index < sleepers.length; index += 1) {
      const sleeper = sleepers[index]!;
      if (sleeper.deadlineMs > untilMs) continue;
      const current = best < 0 ? undefined : sleepers[best]!;
      if (
        current === undefined ||
        sleeper.deadlineMs < current.deadlineMs ||
        (sleeper.deadlineMs === current.deadlineMs && sleeper.sequence < current.sequence)
      ) {
        best = index;
      }
    }
    return best < 0 ? undefined : sleepers.splice(best, 1)[0];
  };

  const clock: ManualClock = {
    nowMs: () => startMs + elapsedMs,
    monotonicMs: () => elapsedMs,
    sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
      checkDelay(delayMs);
      if (delayMs === 0 || signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const sleeper: Sleeper = {
          deadlineMs: elapsedMs + delayMs,
          sequence: sequence++,
          wake: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = (): void => {
          const index = sleepers.indexOf(sleeper);
          if (index >= 0) sleepers.splice(index, 1);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        sleepers.push(sleeper);
      });
    },
    async advance(deltaMs: number): Promise<void> {
      assert(Number.isFinite(deltaMs) && deltaMs >= 0, `advance: deltaMs must be finite and >= 0, got ${deltaMs}`);
      // Two overlapping advances would interleave their wakes out of deadline order.
      assert(!advancing, "advance: already advancing; await the previous call");
      advancing = true;
      try {
        const targetMs = elapsedMs + deltaMs;
        for (let sleeper = takeNextDue(targetMs); sleeper !== undefined; sleeper = takeNextDue(targetMs)) {
          elapsedMs = Math.max(elapsedMs, sleeper.deadlineMs);
          sleeper.wake();
          await yieldToEventLoop();
        }
        elapsedMs = targetMs;
      } finally {
        advancing = false;
      }
    },
    sleeperCount: () => sleepers.length,
  };
  abortableClocks.add(clock);
  return clock;
}

/**
 * Sleeps on `clock` for `delayMs`, resolving early when `signal` aborts. With a
 * clock from this file the timer is released on abort; any other clock's
 * sleep is raced (its timer then runs out on its own).
 */
export function sleepUnlessAborted(clock: Clock, delayMs: number, signal: AbortSignal): Promise<void> {
  if (abortableClocks.has(clock)) return (clock as AbortableClock).sleep(delayMs, signal);
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      signal.removeEventListener("abort", finish);
      resolve();
    };
    signal.addEventListener("abort", finish, { once: true });
    clock.sleep(delayMs).then(finish, finish);
  });
}

function checkDelay(delayMs: number): void {
  assert(Number.isFinite(delayMs) && delayMs >= 0, `sleep: delayMs must be finite and >= 0, got ${delayMs}`);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
