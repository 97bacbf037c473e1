/**
 * ListObjects against a naive model (sort every key, filter, roll up, slice)
 * over seeded random key sets, delimiters, prefixes and markers; and the cost
 * of a delimiter page, counted in pairs read, against the keys it skips.
 * `CAIRN_SEED=<n> bun test cluster/metadata/object-listing.test.ts` replays.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Random } from "../../runtime/index.ts";
import { randomSeed, seededRandom } from "../../runtime/index.ts";
import { objectKey } from "./keyspace.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { openMemoryStore } from "./memory-store.ts";
import type { ObjectRecord } from "./object-catalog.ts";
import { encodeObjectRecord, ObjectCatalog } from "./object-catalog.ts";
import type { ListObjectsRequest } from "./object-listing.ts";
import { listObjects } from "./object-listing.ts";
import type { MetaStore, MetaTransaction } from "./store.ts";

const seed = process.env.CAIRN_SEED === undefined ? randomSeed() : Number(process.env.CAIRN_SEED);
console.log(`object-listing tests: seed ${seed} (replay with CAIRN_SEED=${seed})`);

function record(bucket: string, key: string): ObjectRecord {
  return {
    bucket,
    key,
    sizeBytes: key.length,
    etag: '"0123456789abcdef0123456789abcdef"',
    lastModifiedMs: 1_000,
    storageClass: "STANDARD",
    headers: {},
    userMetadata: {},
    dataId: `data-${key}`,
    versionId: "null",
    layout: { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1_048_576, chunkCount: 1 },
  };
}

async function putMany(store: MetaStore, bucket: string, keys: readonly string[]): Promise<void> {
  for (let offset = 0; offset < keys.length; offset += 5_000) {
    await store.transact(async (tx) => {
      for (const key of keys.slice(offset, offset + 5_000)) tx.set(objectKey(bucket, key), encodeObjectRecord(record(bucket, key)));
    });
  }
}

const utf8Compare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

interface ModelPage {
  keys: string[];
  commonPrefixes: string[];
  isTruncated: boolean;
  lastReturned?: string;
}

/** S3's ListObjects computed the obvious way: every key, in UTF-8 order. */
function model(sortedKeys: readonly string[], input: ListObjectsRequest): ModelPage {
  const entries: Array<{ value: string; common: boolean }> = [];
  for (const key of sortedKeys) {
    if (!key.startsWith(input.prefix)) continue;
    let entry = { value: key, common: false };
    if (input.delimiter !== "") {
      const at = key.indexOf(input.delimiter, input.prefix.length);
      if (at !== -1) entry = { value: key.slice(0, at + input.delimiter.length), common: true };
    }
    if (utf8Compare(entry.value, input.after) <= 0) continue;
    const previous = entries[entries.length - 1];
    if (previous !== undefined && previous.common && entry.common && previous.value === entry.value) continue;
    entries.push(entry);
  }
  const page = entries.slice(0, input.maxKeys);
  const last = page[page.length - 1];
  return {
    keys: page.filter((entry) => !entry.common).map((entry) => entry.value),
    commonPrefixes: page.filter((entry) => entry.common).map((entry) => entry.value),
    isTruncated: entries.length > input.maxKeys,
    ...(last === undefined ? {} : { lastReturned: last.value }),
  };
}

async function page(store: MetaStore, input: ListObjectsRequest): Promise<ModelPage> {
  const result = await listObjects(store, input);
  if (result === "no-such-bucket") throw new Error("no such bucket");
  return {
    keys: result.objects.map((object) => object.key),
    commonPrefixes: result.commonPrefixes,
    isTruncated: result.isTruncated,
    ...(result.lastReturned === undefined ? {} : { lastReturned: result.lastReturned }),
  };
}

/** Keys built from segments, so that prefixes and delimiters recur and common prefixes hold very uneven counts. */
function randomKeys(random: Random, count: number): string[] {
  const segments = ["a", "b", "logs", "x-y", "é", "😀", "\u0000", "z", "a/b", "--", "2026", "日本"];
  const separators = ["/", "/", "-", "", "--", "é", "\u0000", "😀"];
  const keys = new Set<string>();
  // A few hot prefixes hold most keys.
  const hot = Array.from({ length: 4 }, () => `${segments[random.integer(segments.length)]}/${random.integer(10)}/`);
  while (keys.size < count) {
    let key = random.next() < 0.5 ? (hot[random.integer(hot.length)] as string) : "";
    const parts = 1 + random.integer(4);
    for (let part = 0; part < parts; part++) {
      key += segments[random.integer(segments.length)] as string;
      if (part < parts - 1) key += separators[random.integer(separators.length)] as string;
    }
    if (random.next() < 0.3) key += String(random.integer(1_000));
    keys.add(key);
  }
  return [...keys];
}

/** Prefixes, markers and delimiters drawn from the keys themselves and from outside them. */
function randomRequest(random: Random, keys: readonly string[], bucket: string): ListObjectsRequest {
  const pick = <T>(items: readonly T[]): T => items[random.integer(items.length)] as T;
  const someKey = (): string => pick(keys);
  const cut = (text: string): string => [...text].slice(0, random.integer([...text].length + 1)).join("");
  const delimiter = pick(["", "", "/", "/", "-", "--", "é", "\u0000", "😀", "a/", "/b"]);
  const prefix = pick(["", "", () => cut(someKey()), "a", "a/", "logs/", "é", "zz", "\u0000"].map((item) => (typeof item === "function" ? item() : item)));
  let after = "";
  switch (random.integer(6)) {
    case 0:
      after = "";
      break;
    case 1:
      after = someKey();
      break;
    case 2:
      after = cut(someKey());
      break;
    case 3: {
      // A common prefix, as a previous page would have returned it.
      const key = someKey();
      const at = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
      after = at === -1 ? key : key.slice(0, at + delimiter.length);
      break;
    }
    case 4:
      after = `${someKey()}\u0000`;
      break;
    default:
      after = pick(["a", "b", "é", "😀", "\uffff", "z/"]);
  }
  const maxKeys = pick([1, 2, 3, 5, 8, 13, 100, 1_000]);
  return { bucket, prefix, delimiter, after, maxKeys };
}

describe("listing against the model (memory backend)", () => {
  test("single pages and whole paginations agree with the model over random key sets", async () => {
    const random = seededRandom(seed).fork("memory");
    for (let set = 0; set < 6; set++) {
      const store = openMemoryStore();
      const catalog = new ObjectCatalog(store);
      await catalog.createBucket("b", 1);
      // A neighbouring bucket whose name extends this one's must never leak into its listing.
      await catalog.createBucket("b\u0000", 1);
      const keys = randomKeys(random, 150 + random.integer(600));
      await putMany(store, "b", keys);
      await putMany(store, "b\u0000", ["a", "a/b", "é"]);
      const sorted = [...keys].sort(utf8Compare);
      for (let round = 0; round < 80; round++) {
        const input = randomRequest(random, keys, "b");
        const context = { seed, set, round, input };
        expect({ ...context, page: await page(store, input) }).toEqual({ ...context, page: model(sorted, input) });
        if (round % 8 !== 0) continue;
        // Following lastReturned page after page yields the model's whole listing exactly once.
        const all = model(sorted, { ...input, maxKeys: Number.MAX_SAFE_INTEGER });
        const keysSeen: string[] = [];
        const prefixesSeen: string[] = [];
        let after = input.after;
        for (let pages = 0; ; pages++) {
          expect(pages).toBeLessThan(2_000);
          const next = await page(store, { ...input, after });
          keysSeen.push(...next.keys);
          prefixesSeen.push(...next.commonPrefixes);
          if (!next.isTruncated) break;
          after = next.lastReturned as string;
        }
        expect({ ...context, keysSeen, prefixesSeen }).toEqual({ ...context, keysSeen: all.keys, prefixesSeen: all.commonPrefixes });
      }
      await store.close();
    }
  });

  test("keys whose bytes follow a common prefix's end byte are listed (the seek past a prefix lands exactly)", async () => {
    // Over an alphabet of delimiters and their byte successors ("/" then "0",
    // "é" then "ê", 0x00 then 0x01), the first key after a skipped common
    // prefix starts with the byte the seek computes: one byte too far skips it.
    const random = seededRandom(seed).fork("seek-edges");
    const alphabet = ["/", "0", ".", "a", "b", "é", "ê", "\u0000", "\u0001", "😀"];
    for (let set = 0; set < 4; set++) {
      const store = openMemoryStore();
      await new ObjectCatalog(store).createBucket("b", 1);
      const keys = new Set<string>();
      while (keys.size < 300) {
        let key = "";
        for (let length = 1 + random.integer(5); length > 0; length--) key += alphabet[random.integer(alphabet.length)];
        keys.add(key);
      }
      await putMany(store, "b", [...keys]);
      const sorted = [...keys].sort(utf8Compare);
      for (let round = 0; round < 40; round++) {
        const delimiter = ["/", "/", "a", "é", "\u0000", "0/", "😀"][random.integer(7)] as string;
        const prefix = ["", "", "a", "/", "é", "\u0000"][random.integer(6)] as string;
        const input = { bucket: "b", prefix, delimiter, after: "", maxKeys: 1 + random.integer(7) };
        const all = model(sorted, { ...input, maxKeys: Number.MAX_SAFE_INTEGER });
        const keysSeen: string[] = [];
        const prefixesSeen: string[] = [];
        for (let pages = 0; ; pages++) {
          expect(pages).toBeLessThan(1_000);
          const next = await page(store, input);
          keysSeen.push(...next.keys);
          prefixesSeen.push(...next.commonPrefixes);
          if (!next.isTruncated) break;
          input.after = next.lastReturned as string;
        }
        const context = { seed, set, round, prefix, delimiter };
        expect({ ...context, keysSeen, prefixesSeen }).toEqual({ ...context, keysSeen: all.keys, prefixesSeen: all.commonPrefixes });
      }
      await store.close();
    }
  });

  test("a missing bucket answers no-such-bucket; maxKeys 0 is an empty, untruncated page", async () => {
    const store = openMemoryStore();
    expect(await listObjects(store, { bucket: "none", prefix: "", delimiter: "", after: "", maxKeys: 10 })).toBe("no-such-bucket");
    await new ObjectCatalog(store).createBucket("b", 1);
    await putMany(store, "b", ["a", "b"]);
    expect(await listObjects(store, { bucket: "b", prefix: "", delimiter: "/", after: "", maxKeys: 0 })).toEqual({
      objects: [],
      commonPrefixes: [],
      isTruncated: false,
    });
  });
});

describe("listing on lmdb", () => {
  let directory: string;
  let store: MetaStore;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "cairn-listing-"));
    store = await openLmdbStore({ path: directory });
  });

  afterAll(async () => {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  test("agrees with the model over a random key set", async () => {
    const random = seededRandom(seed).fork("lmdb");
    await new ObjectCatalog(store).createBucket("r", 1);
    const keys = randomKeys(random, 800);
    await putMany(store, "r", keys);
    const sorted = [...keys].sort(utf8Compare);
    for (let round = 0; round < 150; round++) {
      const input = randomRequest(random, keys, "r");
      const context = { seed, round, input };
      expect({ ...context, page: await page(store, input) }).toEqual({ ...context, page: model(sorted, input) });
    }
  });

  test("a delimiter page reads the same pairs whether each skipped prefix holds 10 or 1,000 keys", async () => {
    const catalog = new ObjectCatalog(store);
    await catalog.createBucket("small", 1);
    await catalog.createBucket("large", 1);
    const prefixes = 60;
    const keysUnder = (perPrefix: number): string[] =>
      Array.from({ length: prefixes * perPrefix }, (_, index) => `p-${String(Math.floor(index / perPrefix)).padStart(3, "0")}/${index % perPrefix}`);
    await putMany(store, "small", [...keysUnder(10), "top-1", "top-2"]);
    await putMany(store, "large", [...keysUnder(1_000), "top-1", "top-2"]);
    const costs: Array<{ pairsRead: number; keysRead: number; rangeReads: number; entries: number }> = [];
    for (const bucket of ["small", "large"]) {
      const counts = { pairsRead: 0, keysRead: 0, rangeReads: 0, transactions: 0, readsPerTransactionMax: 0 };
      const result = await listObjects(countingStore(store, counts), { bucket, prefix: "", delimiter: "/", after: "", maxKeys: 1_000 });
      expect(result !== "no-such-bucket" && result.commonPrefixes.length).toBe(prefixes);
      expect(result !== "no-such-bucket" && result.objects.map((object) => object.key)).toEqual(["top-1", "top-2"]);
      costs.push({ pairsRead: counts.pairsRead, keysRead: counts.keysRead, rangeReads: counts.rangeReads, entries: prefixes + 2 });
      // One key per common prefix and a few pairs around the plain keys: never the keys beneath.
      expect(counts.pairsRead + counts.keysRead).toBeLessThanOrEqual(prefixes + 10);
      // The seeks past common prefixes read keys only.
      expect(counts.keysRead).toBeGreaterThanOrEqual(prefixes - 1);
    }
    expect(costs[1]).toEqual(costs[0] as (typeof costs)[number]);
  });

  test("a page of 1,000 common prefixes spreads its seeks over several bounded transactions", async () => {
    await new ObjectCatalog(store).createBucket("wide", 1);
    const keys = Array.from({ length: 3_000 }, (_, index) => `d-${String(Math.floor(index / 3)).padStart(4, "0")}/${index % 3}`);
    await putMany(store, "wide", keys);
    const counts = { pairsRead: 0, keysRead: 0, rangeReads: 0, transactions: 0, readsPerTransactionMax: 0 };
    const result = await listObjects(countingStore(store, counts), { bucket: "wide", prefix: "", delimiter: "/", after: "", maxKeys: 1_000 });
    expect(result !== "no-such-bucket" && result.commonPrefixes.length).toBe(1_000);
    expect(result !== "no-such-bucket" && result.isTruncated).toBe(false);
    expect(counts.transactions).toBeGreaterThan(1);
    expect(counts.readsPerTransactionMax).toBeLessThanOrEqual(256);
    expect(counts.pairsRead + counts.keysRead).toBeLessThanOrEqual(1_010);
    // Values only for the first batch: every common prefix after it was found by a keys-only seek.
    expect(counts.pairsRead).toBeLessThanOrEqual(2);
    expect(counts.keysRead).toBe(999);
  });

  test("seeks that land on plain keys list them, with values, at every page size", async () => {
    await new ObjectCatalog(store).createBucket("mixed", 1);
    // Common prefixes and plain keys alternate, runs of each of one to three.
    const keys: string[] = [];
    for (let group = 0; group < 40; group++) {
      const name = `g-${String(group).padStart(2, "0")}`;
      for (let plain = 0; plain < 1 + (group % 3); plain++) keys.push(`${name}-plain-${plain}`);
      for (let common = 0; common < 1 + ((group + 1) % 3); common++) keys.push(`${name}-tree-${common}/a`, `${name}-tree-${common}/b`);
    }
    await putMany(store, "mixed", keys);
    const sorted = [...keys].sort(utf8Compare);
    for (const maxKeys of [1, 2, 3, 5, 8, 1_000]) {
      let after = "";
      for (let pages = 0; pages < 200; pages++) {
        const input = { bucket: "mixed", prefix: "", delimiter: "/", after, maxKeys };
        const got = await page(store, input);
        expect({ maxKeys, after, got }).toEqual({ maxKeys, after, got: model(sorted, input) });
        if (!got.isTruncated || got.lastReturned === undefined) break;
        after = got.lastReturned;
      }
    }
  });
});

interface Counts {
  /** Pairs read with their values. */
  pairsRead: number;
  /** Keys found by keys-only seeks (`firstKey`). */
  keysRead: number;
  /** Range reads and seeks. */
  rangeReads: number;
  transactions: number;
  readsPerTransactionMax: number;
}

/** A MetaStore that counts range reads, the pairs they return, and reads per transaction. */
function countingStore(inner: MetaStore, counts: Counts): MetaStore {
  return {
    transact: (body, options) =>
      inner.transact((tx) => {
        counts.transactions++;
        let reads = 0;
        const counting: MetaTransaction = {
          get: (key) => tx.get(key),
          getRange: async (begin, end, rangeOptions) => {
            const pairs = await tx.getRange(begin, end, rangeOptions);
            counts.rangeReads++;
            counts.pairsRead += pairs.length;
            reads++;
            counts.readsPerTransactionMax = Math.max(counts.readsPerTransactionMax, reads);
            return pairs;
          },
          firstKey: async (begin, end) => {
            const key = await tx.firstKey(begin, end);
            counts.rangeReads++;
            counts.keysRead += key === undefined ? 0 : 1;
            reads++;
            counts.readsPerTransactionMax = Math.max(counts.readsPerTransactionMax, reads);
            return key;
          },
          set: (key, value) => tx.set(key, value),
          clear: (key) => tx.clear(key),
          clearRange: (begin, end) => tx.clearRange(begin, end),
          add: (key, delta) => tx.add(key, delta),
        };
        return body(counting);
      }, options),
    close: () => inner.close(),
  };
}
