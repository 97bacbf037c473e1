/**
 * `npm run chaos -- --seed S --duration D`: one chaos run (test/chaos-suite/chaos.ts) on a fresh 5-node fleet, or
 * `--seeds N` runs from S on one fleet. Prints each run's report; a failing run prints its seed, the command that
 * replays it, and where its history was saved. Exit code 1 when any run failed.
 *
 *   npm run chaos -- --seed 7 --duration 60 [--clients 6] [--keys max(24, D/5)] [--size-max-mib 50] [--faults-per-minute 12] [--seeds 1] [--disk-mib 1024] [--kinds kill,pause,…]
 *
 * `--kinds` limits the schedule to some fault kinds (default: all of `allFaultKinds`), to chase one.
 *
 * As root, each disk directory is a tmpfs of `--disk-mib` of its own (so the fill-disk fault fills one disk for
 * real; its contents live in memory), unmounted at the end, also after a failure or Ctrl-C.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomSeed } from "../../runtime/index.ts";
import { encodeHistory } from "../chaos/history.ts";
import { startFleet } from "../support/fleet.ts";
import { allFaultKinds, runChaos, shortRunDefaults, type FaultKind } from "./chaos.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string", default: "1" },
    duration: { type: "string", default: "60" },
    clients: { type: "string", default: "6" },
    keys: { type: "string" },
    "size-max-mib": { type: "string", default: "50" },
    "faults-per-minute": { type: "string", default: "12" },
    "disk-mib": { type: "string", default: "1024" },
    kinds: { type: "string", default: allFaultKinds.join(",") },
  },
});
const faultKinds = values.kinds.split(",").map((kind) => kind.trim());
const unknownKinds = faultKinds.filter((kind) => !(allFaultKinds as readonly string[]).includes(kind));
if (unknownKinds.length > 0 || faultKinds.length === 0) {
  console.error(`--kinds: unknown fault kind ${unknownKinds.join(", ") || "(none given)"}; the kinds are ${allFaultKinds.join(", ")}`);
  process.exit(2);
}
const firstSeed = values.seed === undefined ? randomSeed() : Number(values.seed);
const seeds = Number(values.seeds);
const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
const fleet = await startFleet({
  nodeIds,
  disksPerNode: 2,
  placementGroupCount: 16,
  storageClasses: "STANDARD=3+2",
  repair: { healIntervalMs: 500, scrubIntervalMs: shortRunDefaults.scrubIntervalMs, orphanSweepIntervalMs: 2_000 },
  diskFilesystemBytes: Number(values["disk-mib"]) * 1024 * 1024,
});
if (!fleet.diskFilesystems.mounted) console.log(`disks share one filesystem (${fleet.diskFilesystems.why}): fill-disk faults are skipped`);
// Interrupted: the fleet goes down and the disks' tmpfs mounts are unmounted before exiting.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void fleet.dispose().finally(() => process.exit(130));
  });
}
/** What the nodes' orphan sweeps deleted over the run, from their `orphans-deleted` log lines. */
function orphanSweepSummary(runDirectory: string): string {
  let deleted = 0;
  let recorded = 0;
  let sweeps = 0;
  for (const name of readdirSync(runDirectory).filter((file) => file.endsWith(".log"))) {
    for (const line of readFileSync(join(runDirectory, name), "utf8").split("\n")) {
      if (!line.includes('"orphans-deleted"')) continue;
      try {
        const entry = JSON.parse(line) as { deleted?: number; recorded?: number };
        deleted += entry.deleted ?? 0;
        recorded += entry.recorded ?? 0;
        sweeps += 1;
      } catch {
        // A line cut by a SIGKILL.
      }
    }
  }
  return `orphan sweeps: ${deleted} orphaned shards deleted in ${sweeps} sweeps that found some, ${recorded} recorded as missing after a move back`;
}

// About 250 operations per key at most: past ~450 the linearizability checker reaches its search
// budget and answers "unknown" (a 240 s run over 24 keys did). 24 keys up to 2 minutes, one more per 5 s after.
const keys = values.keys === undefined ? Math.max(24, Math.ceil(Number(values.duration) / 5)) : Number(values.keys);
let failed = 0;
try {
  for (let seed = firstSeed; seed < firstSeed + seeds; seed += 1) {
    const report = await runChaos(fleet, {
      ...shortRunDefaults,
      seed,
      durationMs: Number(values.duration) * 1000,
      clients: Number(values.clients),
      keys,
      sizeBytesMax: Number(values["size-max-mib"]) * 1024 * 1024,
      faultsPerMinute: Number(values["faults-per-minute"]),
      faultKinds: faultKinds as FaultKind[],
      log: (line) => console.log(line),
    });
    console.log(
      `seed ${seed}: ${report.operations} operations, ${report.acknowledgedWrites} acknowledged writes, faults [${report.faults.join("; ")}], full redundancy ${Math.round(report.recoveryMs)} ms after the faults; ${report.audit}`,
    );
    if (report.problems.length > 0) {
      failed += 1;
      const path = join(mkdtempSync(join(tmpdir(), "cairn-chaos-")), `history-${seed}.jsonl`);
      writeFileSync(path, encodeHistory(report.history));
      console.log(`seed ${seed} FAILED:\n${report.problems.join("\n")}\nhistory: ${path}\nreplay: npm run chaos -- --seed ${seed} --duration ${values.duration}`);
    }
  }
} finally {
  console.log(orphanSweepSummary(join(fleet.directory, "state", "run")));
  await fleet.dispose();
}
console.log(`${seeds - failed} of ${seeds} seeds passed`);
process.exit(failed > 0 ? 1 : 0);
