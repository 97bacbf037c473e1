/**
 * The workload shared by the compaction crash writer (a child process) and
 * `compaction-crash.test.ts` (its parent): a few dozen keys overwritten and
 * deleted over and over, so sealed volumes fill with dead records and
 * compaction has work, beside a few cold keys that keep the oldest volume. Payloads and kill plans derive from the seed, so the
 * parent recomputes exactly what the child attempted.
 */
import { seededRandom } from "../../../runtime/index.ts";

/** Keys the writer uses; few, so every key is overwritten many times. */
export const compactionKeyCount = 48;
/**
 * Slots [0, churn) are overwritten and sometimes deleted; slots [churn, cold) are mostly deleted; slots
 * [cold, keyCount) are written once, first, with large payloads and never touched again. The cold records
 * keep the first volume under the dead threshold, so it stays while later volumes holding the tombstones of
 * the mostly-deleted keys (whose first records sit beside the cold ones) are compacted: those tombstones must
 * be carried over, or the deleted keys come back.
 */
export const compactionChurnSlotEnd = 32;
export const compactionColdSlotStart = 40;
/** The first operations (the prelude, run before the concurrent writers start): cold and mostly-deleted slots, alternating. */
export const compactionPreludeCount = 2 * (compactionKeyCount - compactionColdSlotStart);
/** Small volumes, so a run seals and compacts many of them before the kill. */
export const compactionVolumeBytesMax = 128 * 1024;
/** Far more than a run reaches before its kill; it bounds the writer if the kill never comes. */
export const compactionOperationCount = 50_000;

/** The shard key of key slot `slot`. */
export function compactionShardKey(slot: number): string {
  return `key-${slot}`;
}

/** The slot of a shard key the writer makes, or null. */
export function compactionSlotOf(shardKey: string): number | null {
  const match = /^key-(\d+)$/.exec(shardKey);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/**
 * The payload written by operation `operation`: cold prelude records of about 14 KiB, then mostly small
 * records and some tens of KiB (a kill in the middle of a write needs large ones).
 */
export function compactionPayload(seed: number, operation: number): Uint8Array {
  const random = seededRandom(seed).fork(`payload-${operation}`);
  if (operation < compactionPreludeCount && operation % 2 === 0) return random.bytes(14 * 1024 + random.integer(512));
  const size = random.integer(10);
  const lengthBytes = size === 0 ? random.integer(64 * 1024) : size < 4 ? random.integer(8 * 1024) : random.integer(512);
  return random.bytes(lengthBytes);
}

/**
 * Operation `operation`: which slot it prefers and whether it deletes. Prelude operations alternate between a
 * cold slot and a mostly-deleted slot (both appends); later ones pick among the non-cold slots.
 */
export function compactionOperation(seed: number, operation: number): { readonly slot: number; readonly isDelete: boolean } {
  if (operation < compactionPreludeCount) {
    const pair = Math.floor(operation / 2);
    return { slot: operation % 2 === 0 ? compactionColdSlotStart + pair : compactionChurnSlotEnd + pair, isDelete: false };
  }
  const random = seededRandom(seed).fork(`operation-${operation}`);
  const slot = random.integer(compactionColdSlotStart);
  const isDelete = slot >= compactionChurnSlotEnd ? random.integer(3) !== 0 : random.integer(6) === 0;
  return { slot, isDelete };
}

/** Compaction probe points the writer can be killed at (see `CompactionProbe` in volume-store.ts). */
export const compactionKillPoints = ["copyWritten", "copiesDurable", "volumeCopied", "volumeUnlinked", "volumeRemoved"] as const;
export type CompactionKillPoint = (typeof compactionKillPoints)[number];

/**
 * Where run `seed` is killed: at the `occurrence`-th time a probe point is
 * reached (the child kills itself there), or by the parent after `acks`
 * acknowledged writes (anywhere, including in the middle of a write).
 * `tornTail` asks the parent to cut the unsynced copies at a random byte.
 */
export type CompactionKillPlan =
  | { readonly mode: "probe"; readonly point: CompactionKillPoint; readonly occurrence: number; readonly tornTail: boolean }
  | { readonly mode: "acks"; readonly acks: number };

export function compactionKillPlan(seed: number): CompactionKillPlan {
  const random = seededRandom(seed).fork("kill-plan");
  // The kind of kill cycles with the seed, so that any 7 consecutive seeds cover every kind; the rest is random.
  const kind = seed % 7;
  if (kind === 6) return { mode: "acks", acks: 100 + random.integer(500) };
  const point = kind <= 1 ? "copyWritten" : compactionKillPoints[kind - 1];
  if (point === undefined) throw new Error(`no kill point for kind ${kind}`);
  const occurrence = 1 + random.integer(point === "copyWritten" || point === "copiesDurable" ? 12 : 8);
  return { mode: "probe", point, occurrence, tornTail: kind === 0 };
}
