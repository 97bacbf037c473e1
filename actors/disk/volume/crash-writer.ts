/**
 * The child process of `crash.test.ts`. It appends (and sometimes deletes)
 * shards concurrently and prints one stdout line per event, written
 * synchronously so a line is out before the next await:
 *
 *   `ack <index>`      the append of `shard-<index>` is durable
 *   `try-del <index>`  a delete of `shard-<index>` is about to be queued
 *   `del <index>`      that delete is durable
 *
 * The parent SIGKILLs it at a moment of its choosing, so it never ends on its own
 * unless it runs out of operations.
 *
 * Usage: bun crash-writer.ts <directory> <seed> <volumeBytesMax> <operationCount>
 */
import { writeSync } from "node:fs";
import { isFault } from "../../../runtime/index.ts";
import { crashOperationIsDelete, crashPayload, crashShardKey } from "./crash-workload.ts";
import { VolumeStore } from "./volume-store.ts";

// Enough concurrent writers that group commit batches several records per fdatasync.
const writersCount = 24;

const [directory, seedText, volumeBytesMaxText, operationCountText] = process.argv.slice(2);
if (directory === undefined || seedText === undefined || volumeBytesMaxText === undefined || operationCountText === undefined) {
  throw new Error("usage: crash-writer.ts <directory> <seed> <volumeBytesMax> <operationCount>");
}
const seed = Number(seedText);
const operationCount = Number(operationCountText);
const store = await VolumeStore.open({ directory, diskId: `crash-${seed}`, volumeBytesMax: Number(volumeBytesMaxText) });

const acknowledgedLive: number[] = [];
let nextOperation = 0;

function emit(line: string): void {
  writeSync(1, `${line}\n`);
}

async function writer(): Promise<void> {
  while (nextOperation < operationCount) {
    const index = nextOperation;
    nextOperation += 1;
    if (crashOperationIsDelete(seed, index) && acknowledgedLive.length > 0) {
      // Which earlier shard is deleted depends on timing; the parent learns it from `try-del`.
      const victim = acknowledgedLive.splice(index % acknowledgedLive.length, 1)[0];
      if (victim === undefined) continue;
      emit(`try-del ${victim}`);
      const existed = await store.delete(crashShardKey(victim));
      if (isFault(existed)) throw new Error(`delete ${victim}: ${existed.fault} ${existed.detail}`);
      emit(`del ${victim}`);
      continue;
    }
    const outcome = await store.append(crashShardKey(index), crashPayload(seed, index));
    if (isFault(outcome)) throw new Error(`append ${index}: ${outcome.fault} ${outcome.detail}`);
    acknowledgedLive.push(index);
    emit(`ack ${index}`);
  }
}

await Promise.all(Array.from({ length: writersCount }, writer));
await store.close();
emit("done");
