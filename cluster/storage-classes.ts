/**
 * Storage classes: which erasure scheme a PUT's `x-amz-storage-class` selects.
 * Configured as `NAME=K+M,NAME=K+M` (`CAIRN_STORAGE_CLASSES`); STANDARD must
 * be present. Every scheme must fit the disks: k + m of them, distinct.
 */
import type { ErasureScheme } from "./erasure/index.ts";

/** The one-node default: 4+2 for STANDARD, 4+1 for REDUCED_REDUNDANCY. */
export const defaultStorageClasses = "STANDARD=4+2,REDUCED_REDUNDANCY=4+1";

/** Parses a storage class list; throws an Error whose message says what is wrong. */
export function parseStorageClasses(text: string, diskCount: number): Map<string, ErasureScheme> {
  const classes = new Map<string, ErasureScheme>();
  for (const entry of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const match = /^([A-Z][A-Z0-9_]*)=(\d+)\+(\d+)$/.exec(entry);
    if (match === null) throw new Error(`storage class "${entry}" is not NAME=K+M (e.g. STANDARD=4+2)`);
    const [, name, dataText, parityText] = match;
    const scheme = { dataShards: Number(dataText), parityShards: Number(parityText) };
    if (scheme.dataShards < 1 || scheme.dataShards + scheme.parityShards > 32) {
      throw new Error(`storage class ${name}: ${scheme.dataShards}+${scheme.parityShards} needs k >= 1 and k + m <= 32`);
    }
    if (scheme.dataShards + scheme.parityShards > diskCount) {
      throw new Error(`storage class ${name}: ${scheme.dataShards}+${scheme.parityShards} needs ${scheme.dataShards + scheme.parityShards} disks, there are ${diskCount}`);
    }
    if (classes.has(name!)) throw new Error(`storage class ${name} is configured twice`);
    classes.set(name!, scheme);
  }
  if (!classes.has("STANDARD")) throw new Error("the STANDARD storage class must be configured");
  return classes;
}

/** The default write quorum: k + 1 shards of every stripe durable. */
export const defaultWriteQuorum = "k+1";

/**
 * Parses a write quorum `k+N` (or `k`): a stripe counts once k + N of its
 * k + m shards are durable, at most all of them. Throws an Error whose
 * message says what is wrong.
 */
export function parseWriteQuorum(text: string): (scheme: ErasureScheme) => number {
  const match = /^k(?:\+(\d+))?$/.exec(text.trim());
  if (match === null) throw new Error(`write quorum "${text}" is not k or k+N (e.g. k+1)`);
  const extra = Number(match[1] ?? "0");
  if (extra > 31) throw new Error(`write quorum "${text}": N must be at most 31`);
  return (scheme) => Math.min(scheme.dataShards + extra, scheme.dataShards + scheme.parityShards);
}
