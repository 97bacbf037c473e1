/**
 * Key → bucket partition: a stable hash of the key alone (the bucket is
 * fixed by the actor), so every gateway routes a key to the same partition.
 *
 * Format fact (changing it moves every key of every bucket to another
 * writer while old owners may still run; never change it for existing
 * buckets):
 *
 * | step | definition |
 * |---|---|
 * | input bytes | UTF-8(key) |
 * | hash | XXH32 of the input bytes, seed `0x43424b50` (`bucketPartitionHashSeed`, ASCII "CBKP") |
 * | partition | ⌊hash × partitionCount / 2^32⌋ (multiply-shift) |
 *
 * The seed differs from the placement-group hash's (0), so which partition a
 * key falls in says nothing about its placement group. `partitionCount` is
 * the bucket record's (version 3), fixed at bucket creation.
 */
import { assert } from "../../runtime/index.ts";
import { bucketPartitionCountMax } from "../../cluster/metadata/index.ts";
import { xxHash32 } from "../../cluster/placement/index.ts";

/** XXH32 seed of the key → partition hash: ASCII "CBKP" big-endian. */
export const bucketPartitionHashSeed = 0x43424b50;

const twoPow32 = 0x1_0000_0000;
const encoder = new TextEncoder();

/** The partition, in [0, partitionCount), whose actor is the single writer of `key`. */
export function bucketPartitionOf(key: string, partitionCount: number): number {
  assert(
    Number.isInteger(partitionCount) && partitionCount >= 1 && partitionCount <= bucketPartitionCountMax,
    `bucketPartitionOf: partition count ${partitionCount} outside [1, ${bucketPartitionCountMax}]`,
  );
  return Math.floor((xxHash32(encoder.encode(key), bucketPartitionHashSeed) * partitionCount) / twoPow32);
}
