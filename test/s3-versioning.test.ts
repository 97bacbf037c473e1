/**
 * S3 versioning on the real server process (the cluster's ObjectBackend over
 * the embedded metadata store and real disks), driven by the AWS SDK for
 * JavaScript v3: enabling versioning, several PUTs of one key, GET by
 * version, delete markers, ListObjectVersions with prefix, delimiter, markers
 * and paging, deleting a version, suspending and the null version.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { errorCode, signedFetch } from "./support/signer.ts";
import { failure } from "../gateway/testing/sdk-failure.ts";

let server: ServerProcess;
let s3: S3Client;

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
});
afterAll(async () => {
  s3?.destroy();
  await server?.dispose();
});

async function put(bucket: string, key: string, body: string): Promise<string | undefined> {
  return (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))).VersionId;
}

async function read(bucket: string, key: string, versionId?: string): Promise<string> {
  const reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) }));
  return reply.Body!.transformToString();
}

/**
 * Every version and marker as "key@id" ("*" marks a delete marker), page by
 * page. The SDK splits versions and markers into two arrays, so callers
 * compare these as sets.
 */
async function versionsOf(bucket: string, pageSize = 1000): Promise<string[]> {
  const entries: string[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (let pages = 0; pages < 100; pages += 1) {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: pageSize, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
    for (const version of page.Versions ?? []) entries.push(`${version.Key}@${version.VersionId}`);
    for (const marker of page.DeleteMarkers ?? []) entries.push(`${marker.Key}@${marker.VersionId}*`);
    if (page.IsTruncated !== true) return entries;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
  throw new Error(`listing ${bucket} did not end within 100 pages`);
}

describe("versioning on the real server (AWS SDK v3)", () => {
  test("a new bucket is unversioned; Enabled; several PUTs; GET and HEAD by version", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "ver-basic" }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: "ver-basic" }))).Status).toBeUndefined();
    expect(await put("ver-basic", "plain", "unversioned")).toBeUndefined();

    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-basic", VersioningConfiguration: { Status: "Enabled" } }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: "ver-basic" }))).Status).toBe("Enabled");
    const ids = [await put("ver-basic", "doc", "one"), await put("ver-basic", "doc", "two"), await put("ver-basic", "doc", "three")];
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._~+/=-]+$/);
    expect(new Set(ids).size).toBe(3);
    expect(await read("ver-basic", "doc")).toBe("three");
    expect(await read("ver-basic", "doc", ids[0])).toBe("one");
    expect(await read("ver-basic", "doc", ids[1])).toBe("two");
    const head = await s3.send(new HeadObjectCommand({ Bucket: "ver-basic", Key: "doc", VersionId: ids[1] }));
    expect([head.VersionId, head.ContentLength]).toEqual([ids[1], 3]);
    const current = await s3.send(new GetObjectCommand({ Bucket: "ver-basic", Key: "doc" }));
    expect(current.VersionId).toBe(ids[2]);
    await current.Body!.transformToString();

    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-basic", Prefix: "doc" }));
    expect(listed.Versions?.map((version) => [version.Key, version.VersionId, version.IsLatest, version.Size])).toEqual([
      ["doc", ids[2], true, 5],
      ["doc", ids[1], false, 3],
      ["doc", ids[0], false, 3],
    ]);
    // The object written before versioning was enabled is the null version.
    expect(await read("ver-basic", "plain", "null")).toBe("unversioned");
    const plain = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-basic", Prefix: "plain" }));
    expect(plain.Versions?.map((version) => [version.VersionId, version.IsLatest])).toEqual([["null", true]]);

    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "ver-basic", Key: "doc", VersionId: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })))).toEqual([
      "NoSuchVersion",
      404,
    ]);
    const malformed = await signedFetch(server, { method: "GET", path: "/ver-basic/doc?versionId=bad%20id%21" });
    expect([malformed.status, await errorCode(malformed)]).toEqual([400, "InvalidArgument"]);
  });

  test("delete markers: the key reads as missing, listings skip it, the old versions stay, removing the marker restores it", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "ver-markers" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-markers", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await put("ver-markers", "k", "one");
    const v2 = await put("ver-markers", "k", "two");
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: "ver-markers", Key: "k" }));
    expect(deleted.DeleteMarker).toBe(true);
    const markerId = deleted.VersionId!;
    expect(markerId).not.toBe(v2);

    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "ver-markers", Key: "k" })))).toEqual(["NoSuchKey", 404]);
    const get = await signedFetch(server, { method: "GET", path: "/ver-markers/k" });
    expect([get.status, get.headers.get("x-amz-delete-marker"), get.headers.get("x-amz-version-id")]).toEqual([404, "true", markerId]);
    await get.arrayBuffer();
    const head = await signedFetch(server, { method: "HEAD", path: "/ver-markers/k" });
    expect([head.status, head.headers.get("x-amz-delete-marker")]).toEqual([404, "true"]);
    const byMarkerId = await signedFetch(server, { method: "GET", path: `/ver-markers/k?versionId=${encodeURIComponent(markerId)}` });
    expect([byMarkerId.status, byMarkerId.headers.get("x-amz-delete-marker"), await errorCode(byMarkerId)]).toEqual([405, "true", "MethodNotAllowed"]);

    expect((await s3.send(new ListObjectsV2Command({ Bucket: "ver-markers" }))).KeyCount).toBe(0);
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-markers" }));
    expect(listed.DeleteMarkers?.map((marker) => [marker.Key, marker.VersionId, marker.IsLatest])).toEqual([["k", markerId, true]]);
    expect(listed.Versions?.map((version) => [version.VersionId, version.IsLatest])).toEqual([
      [v2, false],
      [v1, false],
    ]);
    expect(await read("ver-markers", "k", v1)).toBe("one");
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: "ver-markers" })))).toEqual(["BucketNotEmpty", 409]);

    const unmark = await s3.send(new DeleteObjectCommand({ Bucket: "ver-markers", Key: "k", VersionId: markerId }));
    expect([unmark.DeleteMarker, unmark.VersionId]).toEqual([true, markerId]);
    expect(await read("ver-markers", "k")).toBe("two");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: "ver-markers" }))).Contents?.map((object) => object.Key)).toEqual(["k"]);

    // Deleting a version permanently: the one before becomes current.
    const removed = await s3.send(new DeleteObjectCommand({ Bucket: "ver-markers", Key: "k", VersionId: v2 }));
    expect(removed.VersionId).toBe(v2);
    expect(await read("ver-markers", "k")).toBe("one");
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "ver-markers", Key: "k", VersionId: v2 })))).toEqual(["NoSuchVersion", 404]);
    await s3.send(new DeleteObjectCommand({ Bucket: "ver-markers", Key: "k", VersionId: v1 }));
    expect(await versionsOf("ver-markers")).toEqual([]);
    await s3.send(new DeleteBucketCommand({ Bucket: "ver-markers" }));
  });

  test("ListObjectVersions: prefix, delimiter, key and version markers, paging", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "ver-list" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-list", VersioningConfiguration: { Status: "Enabled" } }));
    const keys = ["a", "b/1", "b/2", "c", "d/x/1"];
    const written = new Map<string, string[]>();
    for (const key of keys) {
      const ids: string[] = [];
      for (let round = 0; round < 3; round += 1) ids.unshift((await put("ver-list", key, `${key}-${round}`))!);
      written.set(key, ids);
    }
    await s3.send(new DeleteObjectCommand({ Bucket: "ver-list", Key: "c" }));

    // One page holds everything: versions newest first within a key.
    const whole = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list" }));
    expect(whole.IsTruncated).toBe(false);
    for (const key of keys) expect(whole.Versions?.filter((version) => version.Key === key).map((version) => version.VersionId)).toEqual(written.get(key));
    expect(whole.DeleteMarkers?.map((marker) => marker.Key)).toEqual(["c"]);
    expect(whole.Versions?.find((version) => version.Key === "c" && version.IsLatest)).toBeUndefined();

    // Pages of 2 via NextKeyMarker / NextVersionIdMarker cover the same entries once each.
    const seen: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let pages = 0; pages < 20; pages += 1) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", MaxKeys: 2, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      const count = (page.Versions?.length ?? 0) + (page.DeleteMarkers?.length ?? 0);
      expect(count).toBeLessThanOrEqual(2);
      for (const version of page.Versions ?? []) seen.push(`${version.Key}@${version.VersionId}`);
      for (const marker of page.DeleteMarkers ?? []) seen.push(`${marker.Key}@${marker.VersionId}*`);
      if (page.IsTruncated !== true) break;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
      expect(keyMarker).toBeDefined();
    }
    const expected = [
      ...(whole.Versions ?? []).map((version) => `${version.Key}@${version.VersionId}`),
      ...(whole.DeleteMarkers ?? []).map((marker) => `${marker.Key}@${marker.VersionId}*`),
    ];
    expect([...seen].sort()).toEqual([...expected].sort());
    expect(seen.length).toBe(16);

    // Pages of 3 walk the same set.
    expect((await versionsOf("ver-list", 3)).sort()).toEqual([...expected].sort());

    // Prefix and delimiter: a common prefix counts once.
    const top = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", Delimiter: "/" }));
    expect(top.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["b/", "d/"]);
    expect([...new Set(top.Versions?.map((version) => version.Key))]).toEqual(["a", "c"]);
    const inB = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", Prefix: "b/", Delimiter: "/" }));
    expect(inB.Versions?.map((version) => version.Key)).toEqual(["b/1", "b/1", "b/1", "b/2", "b/2", "b/2"]);
    const inD = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", Prefix: "d/", Delimiter: "/" }));
    expect(inD.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["d/x/"]);
    expect(inD.Versions ?? []).toEqual([]);

    // A key marker alone starts after the key; with a version id, after that version.
    const afterA = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", KeyMarker: "a", MaxKeys: 1 }));
    expect(afterA.Versions?.map((version) => [version.Key, version.VersionId])).toEqual([["b/1", written.get("b/1")![0]]]);
    const b1 = written.get("b/1")!;
    const afterB1First = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-list", KeyMarker: "b/1", VersionIdMarker: b1[0], MaxKeys: 2 }));
    expect(afterB1First.Versions?.map((version) => version.VersionId)).toEqual([b1[1], b1[2]]);
    expect([afterB1First.IsTruncated, afterB1First.NextKeyMarker, afterB1First.NextVersionIdMarker]).toEqual([true, "b/1", b1[2]]);
  });

  test("Suspended: PUT writes the null version, replacing only it; DELETE writes a null marker", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "ver-suspend" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-suspend", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await put("ver-suspend", "k", "versioned");
    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-suspend", VersioningConfiguration: { Status: "Suspended" } }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: "ver-suspend" }))).Status).toBe("Suspended");

    expect(await put("ver-suspend", "k", "null-one")).toBe("null");
    expect(await put("ver-suspend", "k", "null-two")).toBe("null");
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-suspend" }));
    expect(listed.Versions?.map((version) => [version.VersionId, version.IsLatest])).toEqual([
      ["null", true],
      [v1, false],
    ]);
    expect(await read("ver-suspend", "k")).toBe("null-two");
    expect(await read("ver-suspend", "k", v1)).toBe("versioned");

    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: "ver-suspend", Key: "k" }));
    expect([deleted.DeleteMarker, deleted.VersionId]).toEqual([true, "null"]);
    const afterDelete = await s3.send(new ListObjectVersionsCommand({ Bucket: "ver-suspend" }));
    expect(afterDelete.DeleteMarkers?.map((marker) => [marker.VersionId, marker.IsLatest])).toEqual([["null", true]]);
    expect(afterDelete.Versions?.map((version) => [version.VersionId, version.IsLatest])).toEqual([[v1, false]]);
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "ver-suspend", Key: "k" })))).toEqual(["NoSuchKey", 404]);
  });

  test("DeleteObjects with VersionId", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "ver-multi" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: "ver-multi", VersioningConfiguration: { Status: "Enabled" } }));
    const a1 = await put("ver-multi", "a", "1");
    const a2 = await put("ver-multi", "a", "2");
    const reply = await s3.send(new DeleteObjectsCommand({ Bucket: "ver-multi", Delete: { Objects: [{ Key: "a", VersionId: a2 }, { Key: "b" }] } }));
    expect(reply.Errors ?? []).toEqual([]);
    expect(reply.Deleted?.find((entry) => entry.Key === "a")).toEqual({ Key: "a", VersionId: a2 });
    expect(reply.Deleted?.find((entry) => entry.Key === "b")?.DeleteMarker).toBe(true);
    expect(await read("ver-multi", "a")).toBe("1");
    expect((await versionsOf("ver-multi")).sort()).toEqual([`a@${a1}`, `b@${reply.Deleted?.find((entry) => entry.Key === "b")?.DeleteMarkerVersionId}*`].sort());
  });
});
