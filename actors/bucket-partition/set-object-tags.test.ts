/**
 * SetObjectTags on the BucketPartitionActor: the cached current record
 * follows every tag change (a HEAD answered from the cache right after shows
 * the new tags), a noncurrent version's tags leave the cached record alone,
 * and the message schema bounds the tag list.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { ObjectCatalog, openLmdbStore, type DataLayout, type MetaStore } from "../../cluster/metadata/index.ts";
import { createNactHost, isFault, seededRandom, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { bucketPartitionActorPath, bucketPartitionBehavior } from "./behavior.ts";
import {
  BucketPartitionMessage,
  type CommitPutReply,
  type HeadObjectReply,
  type PreparePutReply,
  type SetObjectTagsReply,
} from "./protocol.ts";

const askTimeoutMs = 10_000;
const bucket = "tagged";
const epoch = 1;
const layout: DataLayout = { kind: "replicated", placementGroupId: 0, copies: 1, chunkBytes: 1024, chunkCount: 1 };
const seed = 0x7a65;

let directory = "";
let store: MetaStore;
let host: Host;
let partition: ActorRef<BucketPartitionMessage>;
let suffixCounter = 0;

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), "cairn-bp-tags-"));
  store = await openLmdbStore({ path: directory });
  const catalog = new ObjectCatalog(store);
  await catalog.createBucket(bucket, 1);
  await catalog.putBucketVersioning(bucket, "Enabled");
  host = createNactHost({ nodeId: "node-test", random: seededRandom(seed), log: () => undefined });
  partition = await host.spawn(bucketPartitionActorPath(bucket, 0), bucketPartitionBehavior({ bucket, partition: 0, store, epoch }));
});

afterEach(async () => {
  await host.shutdown();
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

async function ask<R>(build: (replyTo: ActorRef<R | Fault>) => BucketPartitionMessage): Promise<R> {
  const reply = await host.ask<BucketPartitionMessage, R | Fault>(partition, build, askTimeoutMs);
  if (isFault(reply)) throw new Error(`fault ${reply.fault}: ${reply.detail}`);
  return reply;
}

async function put(key: string, tags?: { key: string; value: string }[]): Promise<string> {
  suffixCounter += 1;
  const dataId = `data-${suffixCounter}`;
  const prepared = await ask<PreparePutReply>((replyTo) => ({ kind: "PreparePut", epoch, bucket, key, pending: { dataId, layout, createdMs: 1 }, nowMs: 1, replyTo }));
  expect(prepared.outcome).toBe("prepared");
  const committed = await ask<CommitPutReply>((replyTo) => ({
    kind: "CommitPut",
    epoch,
    record: {
      bucket,
      key,
      sizeBytes: 1,
      etag: dataId,
      lastModifiedMs: 2,
      storageClass: "STANDARD",
      headers: {},
      userMetadata: {},
      dataId,
      layout,
      ...(tags === undefined ? {} : { tags }),
    },
    versionSuffix: `${"a".repeat(20)}${String.fromCharCode(97 + suffixCounter)}`,
    tokenLifetimeMs: 60_000,
    nowMs: 2,
    replyTo,
  }));
  if (committed.outcome !== "committed") throw new Error(committed.outcome);
  return committed.record.versionId;
}

function head(key: string, versionId?: string): Promise<HeadObjectReply> {
  return ask<HeadObjectReply>((replyTo) => ({ kind: "HeadObject", epoch, bucket, key, ...(versionId === undefined ? {} : { versionId }), replyTo }));
}

function setTags(key: string, versionId: string | undefined, tags: { key: string; value: string }[]): Promise<SetObjectTagsReply> {
  return ask<SetObjectTagsReply>((replyTo) => ({ kind: "SetObjectTags", epoch, bucket, key, ...(versionId === undefined ? {} : { versionId }), tags, replyTo }));
}

function tagsOf(reply: HeadObjectReply): unknown {
  return reply.outcome === "object" ? (reply.record.tags ?? []) : reply.outcome;
}

describe("BucketPartitionActor: SetObjectTags", () => {
  test("a cached current record shows every tag change at once", async () => {
    await put("k", [{ key: "a", value: "1" }]);
    const warm = await head("k");
    expect(tagsOf(warm)).toEqual([{ key: "a", value: "1" }]);
    expect((await head("k")).cached).toBe(true);

    const replaced = await setTags("k", undefined, [{ key: "b", value: "2" }]);
    expect(replaced.outcome).toBe("object");
    const after = await head("k");
    expect(after.cached).toBe(true);
    expect(tagsOf(after)).toEqual([{ key: "b", value: "2" }]);

    await setTags("k", undefined, []);
    expect(tagsOf(await head("k"))).toEqual([]);
  });

  test("tagging a noncurrent version leaves the current one (and its cache entry) as it was", async () => {
    const older = await put("k");
    await put("k", [{ key: "current", value: "yes" }]);
    expect(tagsOf(await head("k"))).toEqual([{ key: "current", value: "yes" }]);
    const reply = await setTags("k", older, [{ key: "old", value: "1" }]);
    expect(reply.outcome === "object" ? reply.record.versionId : reply.outcome).toBe(older);
    expect(tagsOf(await head("k"))).toEqual([{ key: "current", value: "yes" }]);
    expect(tagsOf(await head("k", older))).toEqual([{ key: "old", value: "1" }]);
  });

  test("a delete marker and missing keys are answered without a write", async () => {
    expect((await setTags("absent", undefined, [])).outcome).toBe("no-such-key");
    await put("k");
    await ask((replyTo) => ({ kind: "DeleteObject", epoch, bucket, key: "k", versionSuffix: "b".repeat(21), nowMs: 3, replyTo }));
    expect((await setTags("k", undefined, [{ key: "a", value: "b" }])).outcome).toBe("deleteMarker");
    expect((await head("k")).outcome).toBe("deleteMarker");
  });

  test("the schema bounds the tag list: at most 10, keys not empty", () => {
    const message = (tags: unknown) => ({
      kind: "SetObjectTags",
      epoch,
      bucket,
      key: "k",
      tags,
      replyTo: { nodeId: "n", incarnation: 1, path: "p" },
    });
    const ten = Array.from({ length: 10 }, (_, index) => ({ key: `k${index}`, value: "v" }));
    expect(Value.Check(BucketPartitionMessage, message(ten))).toBe(true);
    expect(Value.Check(BucketPartitionMessage, message([...ten, { key: "k10", value: "v" }]))).toBe(false);
    expect(Value.Check(BucketPartitionMessage, message([{ key: "", value: "v" }]))).toBe(false);
  });
});
