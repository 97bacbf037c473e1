/**
 * The chaos suite inside the test command: 20 short runs (seeds 1 to 20, so CI
 * is repeatable; `npm run chaos` draws new seeds) on one 5-node fleet, each
 * with its own bucket and its own fault schedule: nodes SIGKILLed and
 * restarted, paused past their lease, bytes flipped in volume files, PG,
 * partition and disk actors stopped through the operator interface, a disk
 * filled to its last bytes and freed. Every run
 * must keep each key linearizable, read back every acknowledged write, and
 * bring the fleet back to full redundancy within the bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startFleet, type TestFleet } from "../support/fleet.ts";
import { allFaultKinds, runChaos, shortRunDefaults } from "./chaos.ts";

const seeds = Array.from({ length: 20 }, (_, index) => index + 1);
const scrubIntervalMs = 1_000;
/**
 * Every fault kind `npm run chaos` draws, disk stops, fills and outs included, each in at least two of the
 * 20 seeds: seed S draws its faults from kind (S - 1) mod 7 only (its time and node still come from the
 * seed), so no kind can go untested by the luck of the draw. Each disk sits on a tmpfs of its own so that
 * filling it fills only it (root only; otherwise startFleet says so and the fill fault is skipped with a
 * printed line).
 */
const faultKindOf = (seed: number): (typeof allFaultKinds)[number] => allFaultKinds[(seed - 1) % allFaultKinds.length]!;
const diskFilesystemBytes = 256 * 1024 * 1024;
let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startFleet({
    nodeIds: ["c1", "c2", "c3", "c4", "c5"],
    disksPerNode: 2,
    placementGroupCount: 16,
    storageClasses: "STANDARD=3+2",
    repair: { healIntervalMs: 300, scrubIntervalMs, orphanSweepIntervalMs: 1_000 },
    diskFilesystemBytes,
  });
});
afterAll(async () => {
  await fleet?.dispose();
});

describe("chaos: 20 seeds, short runs", () => {
  const recoveries: number[] = [];
  for (const seed of seeds) {
    test(`seed ${seed}`, async () => {
      const report = await runChaos(fleet, { ...shortRunDefaults, seed, durationMs: 2_500, scrubIntervalMs, faultKinds: [faultKindOf(seed)], log: () => undefined });
      recoveries.push(report.recoveryMs);
      console.log(
        `chaos seed ${seed}: ${report.operations} operations, ${report.acknowledgedWrites} acknowledged writes; faults: ${report.faults.join("; ") || "none"}; ` +
          `full redundancy ${Math.round(report.recoveryMs)} ms after the faults; ${report.audit}`,
      );
      if (report.problems.length > 0) console.log(`seed ${seed} failed; replay: npm run chaos -- --seed ${seed} --duration 3\n${report.problems.join("\n")}`);
      expect(report.problems).toEqual([]);
      expect(report.acknowledgedWrites).toBeGreaterThan(0);
    });
  }
  test("recovery bound over the runs", () => {
    console.log(`chaos: full redundancy after the faults in at most ${Math.round(Math.max(...recoveries))} ms over ${recoveries.length} runs (bound ${shortRunDefaults.recoveryMsMax} ms)`);
    expect(recoveries.length).toBe(seeds.length);
    expect(Math.max(...recoveries)).toBeLessThanOrEqual(shortRunDefaults.recoveryMsMax);
  });
});
