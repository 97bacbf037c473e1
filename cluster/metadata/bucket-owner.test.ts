import { describe, expect, test } from "bun:test";
import { encodeRecord } from "./record-codec.ts";
import { bucketKey } from "./keyspace.ts";
import { openMemoryStore } from "./memory-store.ts";
import { ObjectCatalog } from "./object-catalog.ts";

describe("bucket owner (optional field of bucket record version 3)", () => {
  test("recorded at creation, kept by later writes, absent for buckets created without one", async () => {
    const store = openMemoryStore();
    const catalog = new ObjectCatalog(store);
    expect(await catalog.createBucket("owned", 1, undefined, "alice")).toBe("created");
    expect(await catalog.createBucket("owned", 2, undefined, "bob")).toBe("exists");
    expect((await catalog.getBucket("owned"))?.owner).toBe("alice");
    await catalog.putBucketVersioning("owned", "Enabled");
    expect((await catalog.getBucket("owned"))?.owner).toBe("alice");
    expect(await catalog.createBucket("unowned", 3)).toBe("created");
    expect((await catalog.getBucket("unowned"))?.owner).toBeUndefined();
    expect((await catalog.listBuckets()).map((bucket) => [bucket.name, bucket.owner])).toEqual([
      ["owned", "alice"],
      ["unowned", undefined],
    ]);
    await store.close();
  });

  test("records written before the field (version 3 without owner, version 1) read as ownerless", async () => {
    const store = openMemoryStore();
    await store.transact(async (tx) => {
      tx.set(bucketKey("v1"), encodeRecord("bucket", 1, { name: "v1", createdMs: 1 }));
      tx.set(bucketKey("v3"), encodeRecord("bucket", 3, { name: "v3", createdMs: 1, versioning: "Unversioned", partitionCount: 4 }));
    });
    const catalog = new ObjectCatalog(store);
    expect((await catalog.getBucket("v1"))?.owner).toBeUndefined();
    expect((await catalog.getBucket("v3"))?.owner).toBeUndefined();
    await store.close();
  });
});
