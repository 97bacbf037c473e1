/**
 * Runs a simulation scenario over many seeds inside one bun test, and on the
 * first failure prints the seed and the one command that replays it.
 *
 * Seeds: `CAIRN_SEED=S` runs seed S only; otherwise `CAIRN_SIM_SEEDS=N` seeds
 * (default: the count the test file gives, kept small enough for CI), starting
 * at `CAIRN_SEED_FIRST` (default 1). Consecutive seeds are as good as random
 * ones: `seededRandom` spreads them over its whole state.
 */
import { test } from "bun:test";
import { relative, resolve } from "node:path";
import type { SimulatedWorld } from "../../runtime/index.ts";

const repositoryRoot = resolve(import.meta.dir, "../..");

export interface SimulationSeedsOptions {
  /** The bun test name (also the `-t` filter in the replay command). */
  readonly name: string;
  /** The test file, `import.meta.path`, for the replay command. */
  readonly file: string;
  /** Seeds to run when `CAIRN_SIM_SEEDS` is not set. */
  readonly seedCount: number;
  /** bun's per-test bound (wall time) for the whole sweep; only a hung run hits it. Default 120 s. */
  readonly testTimeoutMs?: number;
}

/** What a scenario gets besides its seed. */
export interface SimulationRun {
  readonly seed: number;
  /** Registers a world so a failure prints the tail of its log. */
  track(world: SimulatedWorld): SimulatedWorld;
}

/** Log lines of each tracked world printed on failure. */
const logTailLinesOnFailure = 40;

/** The seeds this process should run, from the environment. */
export function seedsToRun(defaultCount: number, environment: Record<string, string | undefined> = process.env): number[] {
  const single = environment["CAIRN_SEED"];
  if (single !== undefined && single !== "") return [parseSeed("CAIRN_SEED", single)];
  const countText = environment["CAIRN_SIM_SEEDS"];
  const count = countText === undefined || countText === "" ? defaultCount : Number(countText);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`CAIRN_SIM_SEEDS must be a positive integer, got ${countText}`);
  const firstText = environment["CAIRN_SEED_FIRST"];
  const first = firstText === undefined || firstText === "" ? 1 : parseSeed("CAIRN_SEED_FIRST", firstText);
  if (first + count - 1 >= 2 ** 32) throw new Error("CAIRN_SEED_FIRST + CAIRN_SIM_SEEDS runs past 2^32");
  return Array.from({ length: count }, (_, index) => first + index);
}

/** The shell command that replays one seed of one simulation test. */
export function replayCommand(file: string, name: string, seed: number): string {
  const path = relative(repositoryRoot, file);
  // bun's -t takes a regular expression: escape the name so it matches literally.
  const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/'/g, "'\\''");
  return `CAIRN_SEED=${seed} bun test ${path} -t '${pattern}'`;
}

/** Registers a bun test that runs `scenario` once per seed, stopping at the first failure. */
export function simulationSeeds(options: SimulationSeedsOptions, scenario: (run: SimulationRun) => Promise<void>): void {
  test(
    options.name,
    async () => {
      const seeds = seedsToRun(options.seedCount);
      for (const [index, seed] of seeds.entries()) {
        const worlds: SimulatedWorld[] = [];
        const run: SimulationRun = {
          seed,
          track: (world) => {
            worlds.push(world);
            return world;
          },
        };
        try {
          await scenario(run);
        } catch (error) {
          const command = replayCommand(options.file, options.name, seed);
          const lines = [
            `simulation "${options.name}" failed on seed ${seed} (${index + 1} of ${seeds.length})`,
            `replay: ${command}`,
            `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          ];
          for (const world of worlds) {
            lines.push(`last log lines of world seed ${world.seed} at t=${world.elapsedMs()} ms:`);
            for (const line of world.logTail(logTailLinesOnFailure)) lines.push(`  ${JSON.stringify(line)}`);
          }
          console.error(lines.join("\n"));
          throw new Error(`seed ${seed} failed; replay: ${command}`, { cause: error });
        }
      }
    },
    options.testTimeoutMs ?? 120_000,
  );
}

function parseSeed(name: string, text: string): number {
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`${name} must be an integer in [0, 2^32), got ${text}`);
  return seed;
}
