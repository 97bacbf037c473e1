/**
 * A real crash: a child process appends and deletes shards through a
 * VolumeStore and prints each acknowledgement; the parent SIGKILLs it in the
 * middle of its work, reopens the directory and checks that every
 * acknowledged write survived and that nothing half-written is visible.
 *
 * Replay one seed with `CAIRN_SEED=<seed> bun test actors/disk/volume/crash.test.ts`.
 */
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault, seededRandom } from "../../../runtime/index.ts";
import { crashIndexOf, crashPayload, crashShardKey } from "./crash-workload.ts";
import { VolumeStore } from "./volume-store.ts";

const writerPath = join(import.meta.dir, "crash-writer.ts");
// Small volumes so that a run rolls through several of them before the kill.
const volumeBytesMax = 2 * 1024 * 1024;
// Far more than a run reaches before it is killed; it bounds the writer if the kill never comes.
const operationCount = 20_000;
const seeds = process.env.CAIRN_SEED === undefined ? [11, 23, 37, 41, 59] : [Number(process.env.CAIRN_SEED)];

interface WriterLog {
  readonly acknowledged: Set<number>;
  readonly deleteAttempted: Set<number>;
  readonly deleteAcknowledged: Set<number>;
  readonly finished: boolean;
  readonly exitCode: number | null;
  readonly signalCode: string | number | null;
  readonly stderr: string;
}

/** Runs the writer until it has acknowledged `killAfterAcks` appends, then SIGKILLs it and collects every line it printed. */
async function runWriterAndKill(directory: string, seed: number, killAfterAcks: number): Promise<WriterLog> {
  const child = Bun.spawn([process.execPath, writerPath, directory, String(seed), String(volumeBytesMax), String(operationCount)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const acknowledged = new Set<number>();
  const deleteAttempted = new Set<number>();
  const deleteAcknowledged = new Set<number>();
  let finished = false;
  let killed = false;
  let partial = "";
  const decoder = new TextDecoder();
  // The condition (enough acknowledgements) is read from the child's output; the stream ends when the child dies.
  for await (const chunk of child.stdout) {
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const [event, indexText] = line.split(" ");
      const index = Number(indexText);
      if (event === "ack") acknowledged.add(index);
      else if (event === "try-del") deleteAttempted.add(index);
      else if (event === "del") deleteAcknowledged.add(index);
      else if (event === "done") finished = true;
      else throw new Error(`seed ${seed}: unexpected writer line ${JSON.stringify(line)}`);
    }
    if (!killed && acknowledged.size >= killAfterAcks) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  await child.exited;
  const stderr = await new Response(child.stderr).text();
  return { acknowledged, deleteAttempted, deleteAcknowledged, finished, exitCode: child.exitCode, signalCode: child.signalCode, stderr };
}

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(Buffer.from(right.buffer, right.byteOffset, right.byteLength));
}

describe("VolumeStore survives SIGKILL", () => {
  for (const seed of seeds) {
    test(`seed ${seed}`, async () => {
      const directory = await mkdtemp(join(tmpdir(), `cairn-crash-${seed}-`));
      const replay = `replay: CAIRN_SEED=${seed} bun test actors/disk/volume/crash.test.ts`;
      try {
        const killAfterAcks = 40 + seededRandom(seed).fork("kill").integer(200);
        const log = await runWriterAndKill(directory, seed, killAfterAcks);
        if (log.signalCode !== "SIGKILL") {
          throw new Error(`seed ${seed}: writer was not killed (exit ${log.exitCode}, finished ${log.finished}): ${log.stderr}\n${replay}`);
        }
        expect(log.acknowledged.size).toBeGreaterThanOrEqual(killAfterAcks);

        const store = await VolumeStore.open({ directory, diskId: `crash-${seed}`, volumeBytesMax });
        const problems: string[] = [];
        try {
          // A kill loses the process, not the page cache: nothing in the middle of a volume can be damaged.
          const recovery = store.recoveryReport();
          if (recovery.damagedSpans !== 0) problems.push(`damaged spans after a kill: ${JSON.stringify(recovery)}`);

          for (const index of log.acknowledged) {
            const read = await store.read(crashShardKey(index));
            if (log.deleteAcknowledged.has(index)) {
              if (!isFault(read) || read.fault !== "NotFound") problems.push(`shard ${index}: acknowledged delete, still readable`);
            } else if (isFault(read)) {
              const deleteMayHaveLanded = log.deleteAttempted.has(index) && read.fault === "NotFound";
              if (!deleteMayHaveLanded) problems.push(`shard ${index}: acknowledged, read gives ${read.fault}: ${read.detail}`);
            } else if (!sameBytes(read, crashPayload(seed, index))) {
              problems.push(`shard ${index}: acknowledged, bytes differ`);
            }
          }

          // Every visible shard is whole and is one the writer attempted, acknowledged or not.
          for (const shardKey of store.shardKeys()) {
            const index = crashIndexOf(shardKey);
            if (index === null || index >= operationCount) {
              problems.push(`unexpected key ${shardKey}`);
              continue;
            }
            const read = await store.read(shardKey);
            if (isFault(read)) problems.push(`${shardKey}: indexed but reads as ${read.fault}: ${read.detail}`);
            else if (!sameBytes(read, crashPayload(seed, index))) problems.push(`${shardKey}: indexed with wrong bytes`);
          }

          // The store is usable after recovery.
          const after = crashPayload(seed, operationCount);
          const appended = await store.append("after-crash", after);
          if (appended !== undefined) problems.push(`append after recovery: ${appended.fault}`);
          const readBack = await store.read("after-crash");
          if (isFault(readBack) || !sameBytes(readBack, after)) problems.push("append after recovery does not read back");
        } finally {
          await store.close();
        }
        if (problems.length > 0) {
          throw new Error(`seed ${seed}: ${problems.length} problems after SIGKILL:\n${problems.slice(0, 20).join("\n")}\n${replay}`);
        }
        expect(problems).toEqual([]);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  }
});
