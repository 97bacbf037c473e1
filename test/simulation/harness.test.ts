import { describe, expect, test } from "bun:test";
import { replayCommand, seedsToRun } from "./harness.ts";

describe("simulation harness", () => {
  test("seeds come from CAIRN_SEED, else CAIRN_SIM_SEEDS from CAIRN_SEED_FIRST, else the test's count from 1", () => {
    expect(seedsToRun(3, {})).toEqual([1, 2, 3]);
    expect(seedsToRun(3, { CAIRN_SIM_SEEDS: "5" })).toEqual([1, 2, 3, 4, 5]);
    expect(seedsToRun(3, { CAIRN_SIM_SEEDS: "2", CAIRN_SEED_FIRST: "1000" })).toEqual([1000, 1001]);
    expect(seedsToRun(3, { CAIRN_SEED: "4242", CAIRN_SIM_SEEDS: "9" })).toEqual([4242]);
    expect(seedsToRun(3, { CAIRN_SEED: "" })).toEqual([1, 2, 3]);
    for (const bad of [{ CAIRN_SEED: "-1" }, { CAIRN_SEED: "1.5" }, { CAIRN_SEED: "4294967296" }, { CAIRN_SIM_SEEDS: "0" }, { CAIRN_SIM_SEEDS: "many" }]) {
      expect(() => seedsToRun(3, bad)).toThrow();
    }
  });

  test("the replay command names the file from the repository root and matches the test name literally", () => {
    const command = replayCommand(`${import.meta.dir}/network.test.ts`, "fleet (5+ nodes): it's fine", 77);
    expect(command).toBe("CAIRN_SEED=77 bun test test/simulation/network.test.ts -t 'fleet \\(5\\+ nodes\\): it'\\''s fine'");
  });
});
