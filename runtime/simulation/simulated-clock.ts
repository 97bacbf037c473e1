/**
 * Clocks on simulated time. Time moves only when the world runs its next
 * event; a `sleep` is an event at its deadline. Every node gets its own view
 * of the one world time: its sleeps die with its run (a killed node's timers
 * never fire), and its wall clock may be offset to model clock skew.
 */
import { assert } from "../assert.ts";
import type { AbortableClock } from "../clock.ts";

/** A clock driven by a `SimulatedWorld`. Sleeps accept an `AbortSignal` that cancels their event. */
export interface SimulatedClock extends AbortableClock {
  /** This clock's wall-clock offset from world time, in ms (clock skew). */
  readonly offsetMs: number;
  /** Calls `wake` after `delayMs` unless cancelled first; cheaper than a sleep with an `AbortSignal`. */
  timer(delayMs: number, wake: () => void): TimerHandle;
}

/** A cancellable timer, as the world hands it out. */
export interface TimerHandle {
  cancel(): void;
}

/** What a clock needs from its world. */
export interface ClockServices {
  /** Wall-clock ms at world time 0. */
  readonly startMs: number;
  elapsedMs(): number;
  /** Runs `wake` after `delayMs`; a handle that cancels it. */
  timer(delayMs: number, wake: () => void): TimerHandle;
}

/** A clock over `services` whose wall time reads `offsetMs` ahead of the world's. */
export function simulatedClock(services: ClockServices, offsetMs = 0): SimulatedClock {
  assert(Number.isFinite(offsetMs), `simulatedClock: offsetMs must be finite, got ${offsetMs}`);
  return {
    offsetMs,
    nowMs: () => services.startMs + services.elapsedMs() + offsetMs,
    monotonicMs: () => services.elapsedMs(),
    timer(delayMs: number, wake: () => void): TimerHandle {
      assert(Number.isFinite(delayMs) && delayMs >= 0, `timer: delayMs must be finite and >= 0, got ${delayMs}`);
      return services.timer(delayMs, wake);
    },
    sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
      assert(Number.isFinite(delayMs) && delayMs >= 0, `sleep: delayMs must be finite and >= 0, got ${delayMs}`);
      if (signal?.aborted) return Promise.resolve();
      // Even a zero sleep is an event, so a loop of zero sleeps shows up as a
      // livelock at one instant instead of hanging the process in microtasks.
      return new Promise<void>((resolve) => {
        const onAbort = (): void => {
          handle.cancel();
          resolve();
        };
        const handle = services.timer(delayMs, () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}
