/**
 * The subset reader against msgpackr itself: over seeded random values of
 * every MessagePack type msgpackr writes, the reader either gives the value
 * back to msgpackr (`undefined`) or answers exactly what msgpackr answers.
 * `CAIRN_SEED=<n> bun test cluster/metadata/msgpack-reader.test.ts` replays.
 */
import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import type { Random } from "../../runtime/index.ts";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { readMessagePack } from "./msgpack-reader.ts";
import { encodeObjectRecord, decodeObjectRecord } from "./object-catalog.ts";
import type { ObjectRecord } from "./object-catalog.ts";
import { decodeRecord, encodeRecord } from "./record-codec.ts";

const seed = process.env.CAIRN_SEED === undefined ? randomSeed() : Number(process.env.CAIRN_SEED);
console.log(`msgpack-reader tests: seed ${seed} (replay with CAIRN_SEED=${seed})`);

// The same options as record-codec.ts.
const packer = new Packr({ useRecords: false });

const alphabets = [
  "abcdefghijklmnopqrstuvwxyz0123456789/-_.",
  "é日本語ß€",
  "😀𝄞", // astral: surrogate pairs in JS, 4 bytes in UTF-8
  "\u0000\u007f\u0080\u07ff\u0800\uffff",
];

function randomString(random: Random, lengthMax: number): string {
  const alphabet = alphabets[random.integer(random.next() < 0.7 ? 1 : alphabets.length)] as string;
  const characters = [...alphabet];
  let out = "";
  const length = random.integer(lengthMax + 1);
  for (let index = 0; index < length; index++) out += characters[random.integer(characters.length)];
  return out;
}

const numberPicks: ReadonlyArray<(random: Random) => number> = [
  (random) => random.integer(128),
  (random) => random.integer(256),
  (random) => random.integer(65_536),
  (random) => random.integer(2 ** 32),
  (random) => random.integer(2 ** 53 - 1),
  (random) => -1 - random.integer(32),
  (random) => -1 - random.integer(128),
  (random) => -1 - random.integer(32_768),
  (random) => -1 - random.integer(2 ** 31),
  (random) => -random.integer(2 ** 53 - 1),
  (random) => (random.next() - 0.5) * 1e6,
  () => 0.1,
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => -0,
];

function randomValue(random: Random, depth: number): unknown {
  const pick = random.integer(depth >= 4 ? 6 : 9);
  switch (pick) {
    case 0:
      return (numberPicks[random.integer(numberPicks.length)] as (random: Random) => number)(random);
    case 1:
      // Up to 300 characters: fixstr, str 8 and str 16, and msgpackr's TextDecoder path past 64 bytes.
      return randomString(random, random.next() < 0.9 ? 40 : 300);
    case 2:
      return random.next() < 0.5;
    case 3:
      return null;
    case 4:
      return random.next() < 0.5 ? undefined : new Uint8Array([1, 2, 3]);
    case 5:
      return randomString(random, 12);
    case 6:
    case 7: {
      const out: Record<string, unknown> = {};
      const count = random.integer(random.next() < 0.95 ? 8 : 40);
      for (let index = 0; index < count; index++) {
        const key = random.next() < 0.02 ? "__proto__" : randomString(random, random.next() < 0.9 ? 10 : 40);
        // Defined as an own property even for "__proto__", as a decoded map would have it.
        Object.defineProperty(out, key, { value: randomValue(random, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default: {
      const count = random.integer(random.next() < 0.95 ? 6 : 20);
      return Array.from({ length: count }, () => randomValue(random, depth + 1));
    }
  }
}

function objectRecord(random: Random): ObjectRecord {
  return {
    bucket: randomString(random, 20) || "b",
    key: randomString(random, 200),
    sizeBytes: random.integer(2 ** 53 - 1),
    etag: `"${randomString(random, 32)}"`,
    lastModifiedMs: 1_795_000_000_000 + random.integer(1e9),
    storageClass: "STANDARD",
    headers: random.next() < 0.5 ? { contentType: randomString(random, 30) } : {},
    userMetadata: random.next() < 0.5 ? { [randomString(random, 10) || "k"]: randomString(random, 30) } : {},
    dataId: randomString(random, 40),
    versionId: random.next() < 0.5 ? "null" : `v${randomString(random, 32)}`,
    layout: { kind: "erasure", placementGroupId: random.integer(256), dataShards: 4, parityShards: 2, shardBytes: 262_144, stripeCount: random.integer(1_000) },
    ...(random.next() < 0.3 ? { checksum: { algorithm: "CRC32" as const, value: randomString(random, 12), type: "FULL_OBJECT" as const } } : {}),
  };
}

describe("msgpack subset reader", () => {
  test("answers what msgpackr answers, or leaves the value to it, over random values", () => {
    const random = seededRandom(seed);
    let read = 0;
    for (let round = 0; round < 3_000; round++) {
      const value = randomValue(random, 0);
      const bytes = packer.pack(value);
      const fast = readMessagePack(bytes, 0);
      if (fast === undefined) continue;
      read++;
      // toStrictEqual: the same types, the same own keys, -0 apart from 0.
      expect(fast).toStrictEqual(packer.unpack(bytes));
      // From an offset, as record-codec reads it (after kind and version).
      const shifted = new Uint8Array(bytes.length + 2);
      shifted.set(bytes, 2);
      expect(readMessagePack(shifted, 2)).toStrictEqual(fast);
    }
    // The subset is most values: a reader that gave everything back would pass the check above.
    expect(read).toBeGreaterThan(1_000);
    // str 32 and map 16 / array 16, too large for the random values above.
    const large = { text: "é".repeat(40_000), map: Object.fromEntries(Array.from({ length: 70 }, (_, index) => [`k${index}`, index])), list: Array.from({ length: 70 }, (_, index) => index) };
    const largeBytes = packer.pack(large);
    expect(readMessagePack(largeBytes, 0)).toStrictEqual(packer.unpack(largeBytes));
  });

  test("reads every object record itself, from a Buffer as lmdb-js returns it and from a plain array", () => {
    const random = seededRandom(seed);
    for (let round = 0; round < 500; round++) {
      const record = objectRecord(random);
      const bytes = encodeObjectRecord(record);
      const expected = packer.unpack(bytes.subarray(2));
      expect(readMessagePack(bytes, 2)).toStrictEqual(expected);
      expect(readMessagePack(Buffer.from(bytes), 2)).toStrictEqual(expected);
      expect(decodeObjectRecord(Buffer.from(bytes))).toStrictEqual(decodeObjectRecord(bytes));
    }
  });

  test("short strings that differ in one byte and share cache slots each read as themselves", () => {
    // 20,000 near-identical strings over 1,024 cache slots: every slot is hit by many of them.
    for (let index = 0; index < 20_000; index++) {
      const value = { id: `d${String(index).padStart(8, "0")}`, tail: `${String(index % 977).padStart(5, "0")}x` };
      const bytes = packer.pack(value);
      expect(readMessagePack(bytes, 0)).toStrictEqual(value);
    }
  });

  test("truncated, trailing and out-of-subset bytes go to msgpackr, which decides", () => {
    const random = seededRandom(seed);
    for (let round = 0; round < 300; round++) {
      const bytes = encodeRecord("object", 3, objectRecord(random));
      const cut = bytes.subarray(0, 3 + random.integer(bytes.length - 3));
      expect(readMessagePack(cut, 2)).toBeUndefined();
      expect(() => decodeRecord(cut)).toThrow();
      const trailing = new Uint8Array(bytes.length + 1);
      trailing.set(bytes);
      expect(readMessagePack(trailing, 2)).toBeUndefined();
    }
    // undefined (fixext), binary, a float 32 written by hand, a 64-bit integer, a "__proto__" key.
    for (const bytes of [
      packer.pack({ a: undefined }),
      packer.pack({ a: new Uint8Array([1]) }),
      new Uint8Array([0xca, 0x3f, 0x80, 0x00, 0x00]),
      new Uint8Array([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
      new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x01]),
    ]) {
      expect(readMessagePack(bytes, 0)).toBeUndefined();
    }
  });
});
