import { describe, expect, test } from "bun:test";
import { joinStripe, shardBytesFor, splitStripe } from "./stripe.ts";

function countingBytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 7 + 3) & 0xff);
}

describe("stripe helpers", () => {
  test("shardBytesFor is ceil(stripeBytes / k)", () => {
    expect(shardBytesFor(0, 4)).toBe(0);
    expect(shardBytesFor(1, 4)).toBe(1);
    expect(shardBytesFor(8, 4)).toBe(2);
    expect(shardBytesFor(9, 4)).toBe(3);
    expect(shardBytesFor(4 * 1024 * 1024 + 1, 6)).toBe(699051);
    expect(() => shardBytesFor(-1, 4)).toThrow(RangeError);
    expect(() => shardBytesFor(10, 0)).toThrow(RangeError);
    expect(() => shardBytesFor(1.5, 2)).toThrow(RangeError);
  });

  test("whole shards are views of the stripe; only padded shards are copies, zero-padded", () => {
    const stripe = countingBytes(10);
    const shards = splitStripe(stripe, 4, shardBytesFor(10, 4));
    expect(shards.map((shard) => shard.length)).toEqual([3, 3, 3, 3]);
    expect(shards.slice(0, 3).every((shard) => shard.buffer === stripe.buffer)).toBe(true);
    expect(shards[3]!.buffer).not.toBe(stripe.buffer);
    expect(Array.from(shards[3]!)).toEqual([stripe[9]!, 0, 0]);
    expect(joinStripe(shards, 10)).toEqual(stripe);
  });

  test("a stripe shorter than k shards leaves whole shards of zeros", () => {
    const stripe = countingBytes(1);
    const shards = splitStripe(stripe, 4, 1);
    expect(shards.map((shard) => Array.from(shard))).toEqual([[3], [0], [0], [0]]);
    expect(joinStripe(shards, 1)).toEqual(stripe);
  });

  test("an empty stripe gives empty shards and joins back to nothing", () => {
    const shards = splitStripe(new Uint8Array(0), 3, 0);
    expect(shards.map((shard) => shard.length)).toEqual([0, 0, 0]);
    expect(joinStripe(shards, 0).length).toBe(0);
  });

  test("a larger shard size than needed pads more; a smaller one is refused", () => {
    const stripe = countingBytes(100);
    const shards = splitStripe(stripe, 4, 32);
    expect(shards[3]!.subarray(4).every((byte) => byte === 0)).toBe(true);
    expect(joinStripe(shards, 100)).toEqual(stripe);
    expect(() => splitStripe(stripe, 4, 24)).toThrow(RangeError);
  });

  test("round trip over many lengths and shard counts", () => {
    for (const dataShards of [1, 2, 3, 4, 6, 10, 31]) {
      for (const length of [0, 1, 2, 15, 16, 17, 63, 64, 65, 1000, 4097]) {
        const stripe = countingBytes(length);
        const shards = splitStripe(stripe, dataShards, shardBytesFor(length, dataShards));
        expect(shards.length).toBe(dataShards);
        expect(joinStripe(shards, length)).toEqual(stripe);
      }
    }
  });

  test("joinStripe writes into a given output and refuses short inputs or outputs", () => {
    const stripe = countingBytes(9);
    const shards = splitStripe(stripe, 3, 3);
    const output = new Uint8Array(12).fill(0xee);
    expect(joinStripe(shards, 9, output)).toBe(output);
    expect(Array.from(output.subarray(0, 9))).toEqual(Array.from(stripe));
    expect(output[9]).toBe(0xee);
    expect(() => joinStripe(shards, 10)).toThrow(RangeError);
    expect(() => joinStripe(shards, 9, new Uint8Array(8))).toThrow(RangeError);
  });
});
