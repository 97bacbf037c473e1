import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bucketConfigurationKey, bucketConfigurationRange, bucketKey, bucketRange } from "./keyspace.ts";
import { openLmdbStore } from "./lmdb-store.ts";
import { openMemoryStore } from "./memory-store.ts";
import { bucketConfigurationBytesMax, ObjectCatalog } from "./object-catalog.ts";
import { decodeRecord } from "./record-codec.ts";
import type { MetaStore } from "./store.ts";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const backends: { readonly name: string; readonly open: () => Promise<MetaStore> }[] = [
  {
    name: "lmdb",
    open: async () => {
      const directory = mkdtempSync(join(tmpdir(), "cairn-bucket-config-"));
      const store = await openLmdbStore({ path: directory });
      cleanups.push(async () => {
        await store.close();
        rmSync(directory, { recursive: true, force: true });
      });
      return store;
    },
  },
  {
    name: "memory",
    open: async () => {
      const store = openMemoryStore();
      cleanups.push(() => store.close());
      return store;
    },
  },
];

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined | string): string | undefined =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : value;

const within = (key: Uint8Array, range: { begin: Uint8Array; end: Uint8Array }): boolean =>
  Buffer.compare(Buffer.from(range.begin), Buffer.from(key)) <= 0 && Buffer.compare(Buffer.from(key), Buffer.from(range.end)) < 0;

describe("bucket configuration keys", () => {
  test("a bucket's documents are its own range, apart from bucket records and other buckets", () => {
    expect(within(bucketConfigurationKey("b1", "cors"), bucketConfigurationRange("b1"))).toBe(true);
    expect(within(bucketConfigurationKey("b10", "cors"), bucketConfigurationRange("b1"))).toBe(false);
    expect(within(bucketConfigurationKey("b1\u0000", "cors"), bucketConfigurationRange("b1"))).toBe(false);
    expect(within(bucketConfigurationKey("b1", "cors"), bucketRange())).toBe(false);
    expect(within(bucketKey("b1"), bucketConfigurationRange("b1"))).toBe(false);
  });
});

for (const backend of backends) {
  describe(`bucket configuration documents (${backend.name})`, () => {
    test("put, get, replace and delete each name independently; the bucket must exist", async () => {
      const store = await backend.open();
      const catalog = new ObjectCatalog(store);
      expect(await catalog.getBucketConfiguration("b", "cors")).toBe("no-such-bucket");
      expect(await catalog.putBucketConfiguration("b", "cors", bytes("<x/>"))).toBe("no-such-bucket");
      expect(await catalog.deleteBucketConfiguration("b", "cors")).toBe("no-such-bucket");

      await catalog.createBucket("b", 1);
      expect(await catalog.getBucketConfiguration("b", "cors")).toBeUndefined();
      expect(await catalog.putBucketConfiguration("b", "cors", bytes("<CORSConfiguration/>"))).toBe("ok");
      expect(await catalog.putBucketConfiguration("b", "tagging", bytes("<Tagging>ü</Tagging>"))).toBe("ok");
      expect(text(await catalog.getBucketConfiguration("b", "cors"))).toBe("<CORSConfiguration/>");
      expect(text(await catalog.getBucketConfiguration("b", "tagging"))).toBe("<Tagging>ü</Tagging>");
      expect(await catalog.getBucketConfiguration("b", "policy")).toBeUndefined();
      const returned = await catalog.getBucketConfiguration("b", "cors");
      expect(returned).toBeInstanceOf(Uint8Array);

      expect(await catalog.putBucketConfiguration("b", "cors", bytes("second"))).toBe("ok");
      expect(text(await catalog.getBucketConfiguration("b", "cors"))).toBe("second");
      expect(await catalog.deleteBucketConfiguration("b", "cors")).toBe("ok");
      expect(await catalog.getBucketConfiguration("b", "cors")).toBeUndefined();
      expect(await catalog.deleteBucketConfiguration("b", "cors")).toBe("ok");
      expect(text(await catalog.getBucketConfiguration("b", "tagging"))).toBe("<Tagging>ü</Tagging>");
    });

    test("the record carries its kind and version", async () => {
      const store = await backend.open();
      const catalog = new ObjectCatalog(store);
      await catalog.createBucket("b", 1);
      await catalog.putBucketConfiguration("b", "policy", bytes("{}"));
      const stored = await store.transact((tx) => tx.get(bucketConfigurationKey("b", "policy")));
      expect(stored).toBeDefined();
      const record = decodeRecord(stored!);
      expect(record.kind).toBe("bucketConfiguration");
      expect(record.version).toBe(1);
    });

    test("a document at its bound is kept; one byte more is a caller bug", async () => {
      const store = await backend.open();
      const catalog = new ObjectCatalog(store);
      await catalog.createBucket("b", 1);
      for (const name of ["tagging", "cors", "policy"] as const) {
        const largest = new Uint8Array(bucketConfigurationBytesMax[name]).fill(0x61);
        expect(await catalog.putBucketConfiguration("b", name, largest)).toBe("ok");
        expect((await catalog.getBucketConfiguration("b", name) as Uint8Array).byteLength).toBe(largest.byteLength);
        await expect(catalog.putBucketConfiguration("b", name, new Uint8Array(largest.byteLength + 1))).rejects.toThrow();
      }
    });

    test("deleting a bucket clears its documents: a bucket created again under the name starts bare", async () => {
      const store = await backend.open();
      const catalog = new ObjectCatalog(store);
      await catalog.createBucket("b", 1);
      await catalog.createBucket("b-other", 1);
      await catalog.putBucketConfiguration("b", "cors", bytes("cors"));
      await catalog.putBucketConfiguration("b", "policy", bytes("policy"));
      await catalog.putBucketConfiguration("b-other", "cors", bytes("other"));
      expect(await catalog.deleteBucket("b")).toBe("deleted");
      const left = await store.transact((tx) => tx.getRange(bucketConfigurationRange("b").begin, bucketConfigurationRange("b").end, { limit: 10 }));
      expect(left).toEqual([]);
      await catalog.createBucket("b", 2);
      expect(await catalog.getBucketConfiguration("b", "cors")).toBeUndefined();
      expect(await catalog.getBucketConfiguration("b", "policy")).toBeUndefined();
      expect(text(await catalog.getBucketConfiguration("b-other", "cors"))).toBe("other");
    });
  });
}
