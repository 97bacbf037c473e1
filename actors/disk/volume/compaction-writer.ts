/**
 * The child process of `compaction-crash.test.ts`. Concurrent writers
 * overwrite and delete a few dozen keys while compaction steps run between
 * them; one stdout line per event, written synchronously so that a line is
 * out before the next await:
 *
 *   `put <slot> <op>`        operation <op> is about to append to `key-<slot>`
 *   `ack <slot> <op>`        that append is durable
 *   `try-del <slot> <op>`    operation <op> is about to delete `key-<slot>`
 *   `del <slot> <op>`        that delete is durable
 *   `compacted <volumes> <bytesCopied> <tombstones> <dropped>`   a compaction step finished
 *   `torn <volume> <from> <to>`  copies sit unsynced in [from, to) of that volume (the kill follows)
 *   `kill <point> <n> <k>`   the probe point was reached the n-th time, after <k> volumes were removed in
 *                            this compaction step; the process SIGKILLs itself now
 *
 * A key is touched by one operation at a time, so each key's history is a
 * sequence and the parent knows its possible final values exactly.
 *
 * Usage: bun compaction-writer.ts <directory> <seed>
 */
import { writeSync } from "node:fs";
import { isFault } from "../../../runtime/index.ts";
import {
  compactionColdSlotStart,
  compactionKillPlan,
  compactionOperation,
  compactionOperationCount,
  compactionPayload,
  compactionPreludeCount,
  compactionShardKey,
  compactionVolumeBytesMax,
} from "./compaction-workload.ts";
import { VolumeStore, type CompactionProbe } from "./volume-store.ts";

const writersCount = 12;
// A compaction step is started after this many acknowledgements (if none is running).
const acksPerCompaction = 6;
// Several volumes per step, so that kills land between the removals of one step too.
const compactionBytesMax = 384 * 1024;
const deadFractionMin = 0.25;

const [directory, seedText] = process.argv.slice(2);
if (directory === undefined || seedText === undefined) throw new Error("usage: compaction-writer.ts <directory> <seed>");
const seed = Number(seedText);
const plan = compactionKillPlan(seed);
let probeHits = 0;
let removedThisStep = 0;

function emit(line: string): void {
  writeSync(1, `${line}\n`);
}

function probe(event: CompactionProbe): void {
  if (event.point === "volumeRemoved") removedThisStep += 1;
  if (plan.mode !== "probe" || event.point !== plan.point) return;
  probeHits += 1;
  if (probeHits !== plan.occurrence) return;
  if (event.point === "copyWritten" && plan.tornTail) emit(`torn ${event.volumeNumber} ${event.fromBytes} ${event.toBytes}`);
  emit(`kill ${event.point} ${probeHits} ${event.point === "volumeRemoved" ? removedThisStep - 1 : removedThisStep}`);
  // Synchronous and immediate: nothing after this line runs, so the crash is at exactly this point.
  process.kill(process.pid, "SIGKILL");
}

const store = await VolumeStore.open({
  directory,
  diskId: `compaction-crash-${seed}`,
  volumeBytesMax: compactionVolumeBytesMax,
  compactionProbe: probe,
});

const busySlots = new Set<number>();
let nextOperation = compactionPreludeCount;
let acksSinceCompaction = 0;
let compacting = false;

async function compactOnce(): Promise<void> {
  compacting = true;
  removedThisStep = 0;
  const outcome = await store.compact({ deadFractionMin, bytesMax: compactionBytesMax });
  if (isFault(outcome)) throw new Error(`compact: ${outcome.fault} ${outcome.detail}`);
  emit(`compacted ${outcome.volumesCompacted} ${outcome.bytesCopied} ${outcome.tombstonesCarried} ${outcome.copiesDropped}`);
  compacting = false;
}

const compactions: Promise<void>[] = [];

function acknowledged(): void {
  acksSinceCompaction += 1;
  if (acksSinceCompaction >= acksPerCompaction && !compacting) {
    acksSinceCompaction = 0;
    compactions.push(compactOnce());
  }
}

async function writer(): Promise<void> {
  while (nextOperation < compactionOperationCount) {
    const operation = nextOperation;
    nextOperation += 1;
    const { slot: preferred, isDelete } = compactionOperation(seed, operation);
    // The first free slot from the preferred one: a key has at most one operation in flight.
    let slot = preferred;
    while (busySlots.has(slot)) slot = (slot + 1) % compactionColdSlotStart;
    busySlots.add(slot);
    await perform(operation, slot, isDelete);
    busySlots.delete(slot);
    acknowledged();
  }
}

async function perform(operation: number, slot: number, isDelete: boolean): Promise<void> {
  const shardKey = compactionShardKey(slot);
  if (isDelete) {
    emit(`try-del ${slot} ${operation}`);
    const existed = await store.delete(shardKey);
    if (isFault(existed)) throw new Error(`delete ${shardKey}: ${existed.fault} ${existed.detail}`);
    emit(`del ${slot} ${operation}`);
  } else {
    emit(`put ${slot} ${operation}`);
    const outcome = await store.append(shardKey, compactionPayload(seed, operation));
    if (outcome !== undefined) throw new Error(`append ${shardKey}: ${outcome.fault} ${outcome.detail}`);
    emit(`ack ${slot} ${operation}`);
  }
}

// The prelude, one operation at a time: the cold records and the first records of the mostly-deleted keys.
for (let operation = 0; operation < compactionPreludeCount; operation += 1) {
  const { slot, isDelete } = compactionOperation(seed, operation);
  await perform(operation, slot, isDelete);
}

await Promise.all(Array.from({ length: writersCount }, writer));
await Promise.all(compactions);
await store.close();
emit("done");
