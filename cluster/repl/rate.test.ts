import { describe, expect, test } from "bun:test";
import { manualClock } from "../../runtime/index.ts";
import { sessionRate } from "./rate.ts";
import type { ReplSession } from "./session.ts";

describe("sessionRate", () => {
  test("growth or shrinkage per second over the last 15 s of calls; undefined until there is progress", async () => {
    const clock = manualClock(0);
    const session = { clock, memory: new Map<string, unknown>() } as unknown as ReplSession;
    expect(sessionRate(session, "up", 10, "up")).toBeUndefined();
    await clock.advance(1_000);
    expect(sessionRate(session, "up", 10, "up")).toBeUndefined(); // no progress yet
    await clock.advance(1_000);
    expect(sessionRate(session, "up", 30, "up")).toBe(10); // 20 more over 2 s
    // A counter going down (shards left) is read the other way; keys do not mix.
    expect(sessionRate(session, "down", 100, "down")).toBeUndefined();
    await clock.advance(4_000);
    expect(sessionRate(session, "down", 80, "down")).toBe(5);
    // Samples older than the window are forgotten: the rate follows the recent pace.
    await clock.advance(20_000);
    expect(sessionRate(session, "down", 79, "down")).toBeUndefined(); // only this sample is in the window
    await clock.advance(1_000);
    expect(sessionRate(session, "down", 76, "down")).toBe(3);
  });
});
