/**
 * The workload shared by the crash writer (a child process) and the crash
 * test (its parent): both derive every shard key and payload from the seed,
 * so the parent can recompute exactly what the child attempted.
 */
import { seededRandom } from "../../../runtime/index.ts";

/** The shard key of operation `index`. */
export function crashShardKey(index: number): string {
  return `shard-${index}`;
}

/** The operation index encoded in a shard key, or null if the key is not one the writer makes. */
export function crashIndexOf(shardKey: string): number | null {
  const match = /^shard-(\d+)$/.exec(shardKey);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/**
 * The payload appended by operation `index` of the run with `seed`: a mix of
 * tiny, multi-KiB and a few large records. The large ones make a kill in the
 * middle of a write (a torn record) likely, since the kernel stops a write
 * between pages once a fatal signal is pending.
 */
export function crashPayload(seed: number, index: number): Uint8Array {
  const random = seededRandom(seed).fork(`payload-${index}`);
  const size = random.integer(8);
  const lengthBytes = size === 0 ? random.integer(64) : size === 1 ? random.integer(1024 * 1024) : random.integer(16 * 1024);
  return random.bytes(lengthBytes);
}

/** Whether operation `index` deletes an earlier acknowledged shard instead of appending one. */
export function crashOperationIsDelete(seed: number, index: number): boolean {
  return seededRandom(seed).fork(`operation-${index}`).integer(10) === 0;
}
