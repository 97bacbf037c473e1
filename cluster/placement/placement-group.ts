/**
 * Object → placement group: a stable hash of (bucket, key).
 *
 * Format fact (changing it moves every stored object):
 *
 * | step | definition |
 * |---|---|
 * | input bytes | UTF-8(bucket) ‖ 0x00 ‖ UTF-8(key) |
 * | hash | XXH32 of the input bytes, seed 0 (`placementGroupHashSeed`) |
 * | placement group | ⌊hash × placementGroupCount / 2^32⌋ (multiply-shift) |
 *
 * The 0x00 separator keeps ("ab", "c") and ("a", "bc") apart; S3 bucket names
 * never contain it, so the first 0x00 always ends the bucket even when a key
 * contains U+0000.
 */
import { assert } from "../../runtime/index.ts";
import { xxHash32 } from "./xxhash32.ts";

/** XXH32 seed of the object → placement group hash (seed 0: any XXH32 tool reproduces it). */
export const placementGroupHashSeed = 0;

/**
 * The largest placement group count: hash × count must stay below 2^53 for the
 * multiply-shift to be exact in a double, so count ≤ 2^21.
 */
export const placementGroupCountMax = 2 ** 21;

const twoPow32 = 0x1_0000_0000;
const encoder = new TextEncoder();

/**
 * The placement group, in [0, placementGroupCount), that stores the object
 * `key` of `bucket`. Pure and stable across versions and platforms (see the
 * table at the top of this file). A count that is not an integer in
 * [1, placementGroupCountMax] is a bug (`assert`): pools validate it when
 * they are created.
 */
export function placementGroupOf(bucket: string, key: string, placementGroupCount: number): number {
  assert(
    Number.isInteger(placementGroupCount) && placementGroupCount >= 1 && placementGroupCount <= placementGroupCountMax,
    `placementGroupOf: placementGroupCount must be an integer in [1, ${placementGroupCountMax}], got ${placementGroupCount}`,
  );
  // Multiply-shift instead of a remainder: both are fixed at pool creation, so
  // neither needs to be consistent under a changing count; multiply-shift uses
  // the hash's high bits and its bias (at most count / 2^32 between groups)
  // is far below anything measurable.
  return Math.floor((objectHash(bucket, key) * placementGroupCount) / twoPow32);
}

/** The uint32 XXH32 of UTF-8(bucket) ‖ 0x00 ‖ UTF-8(key): the first step of `placementGroupOf`. */
export function objectHash(bucket: string, key: string): number {
  const bucketBytes = encoder.encode(bucket);
  const keyBytes = encoder.encode(key);
  const input = new Uint8Array(bucketBytes.length + 1 + keyBytes.length);
  input.set(bucketBytes, 0);
  // input[bucketBytes.length] stays 0: the separator.
  input.set(keyBytes, bucketBytes.length + 1);
  return xxHash32(input, placementGroupHashSeed);
}
