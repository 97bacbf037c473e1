/**
 * Compaction under real crashes (issue 7). A child process overwrites and
 * deletes a few dozen keys while compaction steps run; it is SIGKILLed at a
 * seeded point: at the n-th time compaction reaches one of its steps (copies
 * written but not synced, optionally with the unsynced tail then cut at a
 * random byte; a chunk of copies durable; a volume fully copied but not
 * unlinked; unlinked before the directory sync; removed, possibly with more
 * volumes of the same step to go), or by the parent after a seeded number of
 * acknowledgements (anywhere). The parent reopens the directory and checks:
 * every key reads its last acknowledged value, or the value of the one
 * operation on it still in flight at the kill; an acknowledged delete stays
 * deleted; no other key appears. Then it compacts everything left and checks
 * again, and again after one more reopen.
 *
 * Replay one run with `CAIRN_SEED=<seed> bun test actors/disk/volume/compaction-crash.test.ts`.
 */
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault, seededRandom } from "../../../runtime/index.ts";
import {
  compactionKeyCount,
  compactionKillPlan,
  compactionPayload,
  compactionShardKey,
  compactionSlotOf,
  compactionVolumeBytesMax,
} from "./compaction-workload.ts";
import { VolumeStore, volumeName } from "./volume-store.ts";

const writerPath = join(import.meta.dir, "compaction-writer.ts");
const seedFirst = 7001;
const runCount = 35;
// Runs go four at a time (each is one child process doing fsyncs): the suite stays well under 30 s.
const runsAtOnce = 4;
// Generous, because a run's clock starts while it waits for a slot; a run alone takes about a second.
const runTimeoutMs = 180_000;
const seeds =
  process.env.CAIRN_SEED === undefined ? Array.from({ length: runCount }, (_, index) => seedFirst + index) : [Number(process.env.CAIRN_SEED)];

/** A key's value: the operation whose payload it holds, or `absent`. */
type Value = number | "absent";

interface SlotHistory {
  /** The value after the last acknowledged operation (keys start absent). */
  acknowledged: Value;
  /** The value the operation in flight at the kill would leave, if one was. */
  inFlight: Value | null;
}

interface WriterRun {
  readonly slots: SlotHistory[];
  readonly killLine: string | null;
  readonly torn: { readonly volumeNumber: number; readonly fromBytes: number; readonly toBytes: number } | null;
  readonly compactedVolumes: number;
  readonly tombstonesCarried: number;
  readonly acks: number;
  readonly signalCode: string | number | null;
  readonly exitCode: number | null;
  readonly stderr: string;
}

async function runWriter(directory: string, seed: number): Promise<WriterRun> {
  const plan = compactionKillPlan(seed);
  const child = Bun.spawn([process.execPath, writerPath, directory, String(seed)], { stdout: "pipe", stderr: "pipe" });
  const slots: SlotHistory[] = Array.from({ length: compactionKeyCount }, () => ({ acknowledged: "absent", inFlight: null }));
  let killLine: string | null = null;
  let torn: WriterRun["torn"] = null;
  let compactedVolumes = 0;
  let tombstonesCarried = 0;
  let acks = 0;
  let killed = false;
  let partial = "";
  const decoder = new TextDecoder();
  // The stream ends when the child dies; the kill condition is read from its output, never from a clock.
  for await (const chunk of child.stdout) {
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const [event, first, second, third] = line.split(" ");
      const slot = slots[Number(first)];
      if (event === "put" || event === "try-del") {
        if (slot === undefined) throw new Error(`seed ${seed}: bad line ${line}`);
        slot.inFlight = event === "put" ? Number(second) : "absent";
      } else if (event === "ack" || event === "del") {
        if (slot === undefined) throw new Error(`seed ${seed}: bad line ${line}`);
        slot.acknowledged = event === "ack" ? Number(second) : "absent";
        slot.inFlight = null;
        acks += 1;
      } else if (event === "compacted") {
        compactedVolumes += Number(first);
        tombstonesCarried += Number(third);
      } else if (event === "torn") {
        torn = { volumeNumber: Number(first), fromBytes: Number(second), toBytes: Number(third) };
      } else if (event === "kill") {
        killLine = line;
      } else if (event !== "done") {
        throw new Error(`seed ${seed}: unexpected writer line ${JSON.stringify(line)}`);
      }
    }
    if (plan.mode === "acks" && !killed && acks >= plan.acks) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  await child.exited;
  const stderr = await new Response(child.stderr).text();
  return { slots, killLine, torn, compactedVolumes, tombstonesCarried, acks, signalCode: child.signalCode, exitCode: child.exitCode, stderr };
}

function describeValue(value: Value): string {
  return value === "absent" ? "absent" : `op ${value}`;
}

/** Problems with the store's content against what the writer's log allows. */
async function checkContent(store: VolumeStore, seed: number, slots: readonly SlotHistory[], found: (Value | null)[]): Promise<string[]> {
  const problems: string[] = [];
  for (const [index, slot] of slots.entries()) {
    const allowed: Value[] = slot.inFlight === null ? [slot.acknowledged] : [slot.acknowledged, slot.inFlight];
    const read = await store.read(compactionShardKey(index));
    let value: Value | null = null;
    if (isFault(read)) {
      if (read.fault === "NotFound") value = "absent";
      else problems.push(`key-${index}: reads ${read.fault}: ${read.detail}`);
    } else {
      const bytes = Buffer.from(read);
      for (const candidate of allowed) {
        if (candidate !== "absent" && bytes.equals(Buffer.from(compactionPayload(seed, candidate)))) value = candidate;
      }
      if (value === null) problems.push(`key-${index}: bytes match none of ${allowed.map(describeValue).join(", ")}`);
    }
    if (value !== null && !allowed.includes(value)) {
      problems.push(`key-${index}: is ${describeValue(value)}, allowed ${allowed.map(describeValue).join(", ")}`);
    }
    // Once recovered, the value must not change through compaction or another reopen.
    const before = found[index];
    if (before !== undefined && before !== null && value !== null && before !== value) {
      problems.push(`key-${index}: was ${describeValue(before)} after reopen, now ${describeValue(value)}`);
    }
    found[index] = value;
  }
  for (const shardKey of store.shardKeys()) {
    const slot = compactionSlotOf(shardKey);
    if (slot === null || slot >= compactionKeyCount) problems.push(`unexpected key ${shardKey}`);
  }
  return problems;
}

/** A counting semaphore: `run` waits (on promises, not time) until fewer than `slots` runs are active. */
function limiter(slots: number): <T>(run: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(run: () => Promise<T>): Promise<T> => {
    while (active >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await run();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

const inSlot = limiter(runsAtOnce);

describe("compaction survives SIGKILL at any of its steps", () => {
  for (const seed of seeds) {
    const plan = compactionKillPlan(seed);
    const planText = plan.mode === "acks" ? `after ${plan.acks} acks` : `${plan.point} #${plan.occurrence}${plan.tornTail ? " + torn tail" : ""}`;
    test.concurrent(`seed ${seed}: kill ${planText}`, () => inSlot(async () => {
      const directory = await mkdtemp(join(tmpdir(), `cairn-compaction-crash-${seed}-`));
      const replay = `replay: CAIRN_SEED=${seed} bun test actors/disk/volume/compaction-crash.test.ts`;
      try {
        const run = await runWriter(directory, seed);
        if (run.signalCode !== "SIGKILL") {
          throw new Error(`seed ${seed}: writer was not killed (exit ${run.exitCode}): ${run.stderr}\n${replay}`);
        }
        if (plan.mode === "probe" && run.killLine === null) throw new Error(`seed ${seed}: killed before reaching ${planText}\n${replay}`);
        if (run.torn !== null) {
          // Power loss may persist any prefix of what was written but not synced: keep a random prefix of the copies.
          const { volumeNumber, fromBytes, toBytes } = run.torn;
          const cutAt = fromBytes + seededRandom(seed).fork("torn").integer(Math.max(1, toBytes - fromBytes));
          await truncate(join(directory, volumeName(volumeNumber)), cutAt);
        }

        const problems: string[] = [];
        const found: (Value | null)[] = [];
        let store = await VolumeStore.open({ directory, diskId: `compaction-crash-${seed}`, volumeBytesMax: compactionVolumeBytesMax });
        try {
          const recovery = store.recoveryReport();
          if (recovery.damagedSpans !== 0) problems.push(`damaged spans after a kill: ${JSON.stringify(recovery)}`);
          problems.push(...(await checkContent(store, seed, run.slots, found)));
          // Finish every compaction the crash interrupted (and more): the recovered content must not move.
          for (let step = 0; step < 200; step += 1) {
            const outcome = await store.compact({ deadFractionMin: 0.01, bytesMax: 1024 * 1024 });
            if (isFault(outcome)) {
              problems.push(`compaction after reopen: ${outcome.fault}: ${outcome.detail}`);
              break;
            }
            if (!outcome.more) break;
          }
          problems.push(...(await checkContent(store, seed, run.slots, found)));
          await store.close();
          store = await VolumeStore.open({ directory, diskId: `compaction-crash-${seed}`, volumeBytesMax: compactionVolumeBytesMax });
          problems.push(...(await checkContent(store, seed, run.slots, found)));
        } finally {
          await store.close();
        }
        console.log(
          `seed ${seed}: ${run.killLine ?? `kill ${planText}`} after ${run.acks} acks, ${run.compactedVolumes} volumes compacted and ` +
            `${run.tombstonesCarried} tombstones carried before the kill` +
            `${run.torn === null ? "" : `, torn tail in ${volumeName(run.torn.volumeNumber)}`}`,
        );
        if (problems.length > 0) {
          throw new Error(`seed ${seed}: ${problems.length} problems after SIGKILL:\n${problems.slice(0, 20).join("\n")}\n${replay}`);
        }
        expect(problems).toEqual([]);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    }), runTimeoutMs);
  }
});
