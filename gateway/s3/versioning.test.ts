/**
 * S3 versioning through the S3 core: the AWS SDK (and signed raw requests
 * where headers or exact XML matter) against `serveBun` + `createS3Handler`
 * over the test-only memory backend, which implements the whole versioning
 * contract of `ObjectBackend`. The cluster's backend is driven by the same
 * client calls in test/s3-versioning.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
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
  type ListObjectVersionsCommandOutput,
} from "@aws-sdk/client-s3";
import { startTestGateway, type TestGateway } from "../testing/test-gateway.ts";
import { childElement, childElements, parseXml, type XmlElement } from "./xml.ts";
import { errorCodeOf as errorCode, failure } from "../testing/sdk-failure.ts";

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ readChunkBytes: 5 });
});

afterAll(async () => {
  await gateway.stop();
});

async function bucketWith(name: string, status?: "Enabled" | "Suspended"): Promise<void> {
  await gateway.client.send(new CreateBucketCommand({ Bucket: name }));
  if (status !== undefined) await gateway.client.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: status } }));
}

async function put(bucket: string, key: string, body: string): Promise<string | undefined> {
  const reply = await gateway.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return reply.VersionId;
}

async function read(bucket: string, key: string, versionId?: string): Promise<string> {
  const reply = await gateway.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) }));
  return reply.Body!.transformToString();
}

/** Every version and marker of a bucket as "key@versionId" (a "*" suffix marks a delete marker), in listing order. */
async function allVersions(bucket: string): Promise<string[]> {
  return orderedEntries(await rawVersionsXml(bucket, ""));
}

/** Versions and markers from the raw XML, which keeps their interleaving (the SDK splits them in two arrays). */
function orderedEntries(root: XmlElement): string[] {
  return root.children
    .filter((child) => child.name === "Version" || child.name === "DeleteMarker")
    .map((child) => `${childElement(child, "Key")!.text}@${childElement(child, "VersionId")!.text}${child.name === "DeleteMarker" ? "*" : ""}`);
}

async function rawVersionsXml(bucket: string, extraQuery: string): Promise<XmlElement> {
  const response = await gateway.signedFetch({ method: "GET", rawPath: `/${bucket}`, rawQuery: extraQuery === "" ? "versions=" : `versions=&${extraQuery}` });
  expect(response.status).toBe(200);
  return parseXml(await response.text());
}

function md5Base64(data: string): string {
  return createHash("md5").update(data).digest("base64");
}

describe("GetBucketVersioning and PutBucketVersioning", () => {
  test("a new bucket is unversioned (empty document); Enabled and Suspended round-trip", async () => {
    await bucketWith("v-state");
    const raw = await gateway.signedFetch({ method: "GET", rawPath: "/v-state", rawQuery: "versioning=" });
    expect(raw.status).toBe(200);
    const text = await raw.text();
    expect(text).toContain('<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">');
    expect(parseXml(text).children).toEqual([]);
    expect((await gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-state" }))).Status).toBeUndefined();

    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-state", VersioningConfiguration: { Status: "Enabled" } }));
    expect((await gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-state" }))).Status).toBe("Enabled");
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-state", VersioningConfiguration: { Status: "Suspended", MFADelete: "Disabled" } }));
    expect((await gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-state" }))).Status).toBe("Suspended");
  });

  test("NoSuchBucket, MalformedXML for bad documents, NotImplemented for MFA Delete", async () => {
    expect(await failure(gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-missing" })))).toEqual(["NoSuchBucket", 404]);
    expect(
      await failure(gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-missing", VersioningConfiguration: { Status: "Enabled" } }))),
    ).toEqual(["NoSuchBucket", 404]);
    await bucketWith("v-bad");
    const documents = [
      "",
      "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>",
      "<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
      "<VersioningConfiguration></VersioningConfiguration>",
      "<Versioning><Status>Enabled</Status></Versioning>",
      "<VersioningConfiguration><Status>Enabled</Status><Colour>red</Colour></VersioningConfiguration>",
      "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Maybe</MfaDelete></VersioningConfiguration>",
      "<VersioningConfiguration><Status>Enabled",
    ];
    for (const document of documents) {
      const response = await gateway.signedFetch({ method: "PUT", rawPath: "/v-bad", rawQuery: "versioning=", body: document });
      expect([response.status, await errorCode(response), document]).toEqual([400, "MalformedXML", document]);
    }
    const mfa = await gateway.signedFetch({
      method: "PUT",
      rawPath: "/v-bad",
      rawQuery: "versioning=",
      body: "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>",
    });
    expect([mfa.status, await errorCode(mfa)]).toEqual([501, "NotImplemented"]);
    // Nothing above changed the state.
    expect((await gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-bad" }))).Status).toBeUndefined();

    const document = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>';
    const withMd5 = await gateway.signedFetch({ method: "PUT", rawPath: "/v-bad", rawQuery: "versioning=", body: document, headers: { "content-md5": md5Base64("other") } });
    expect([withMd5.status, await errorCode(withMd5)]).toEqual([400, "BadDigest"]);
    const good = await gateway.signedFetch({ method: "PUT", rawPath: "/v-bad", rawQuery: "versioning=", body: document, headers: { "content-md5": md5Base64(document) } });
    expect(good.status).toBe(200);
    expect((await gateway.client.send(new GetBucketVersioningCommand({ Bucket: "v-bad" }))).Status).toBe("Enabled");
  });
});

describe("an unversioned bucket", () => {
  test("PUT overwrites the null version; no x-amz-version-id header anywhere; DELETE removes", async () => {
    await bucketWith("v-plain");
    const first = await gateway.signedFetch({ method: "PUT", rawPath: "/v-plain/k", body: "one" });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-amz-version-id")).toBeNull();
    await put("v-plain", "k", "two");
    const get = await gateway.signedFetch({ method: "GET", rawPath: "/v-plain/k" });
    expect(await get.text()).toBe("two");
    expect(get.headers.get("x-amz-version-id")).toBeNull();
    expect(await allVersions("v-plain")).toEqual(["k@null"]);
    expect(await read("v-plain", "k", "null")).toBe("two");

    const deleted = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-plain/k" });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("x-amz-version-id")).toBeNull();
    expect(deleted.headers.get("x-amz-delete-marker")).toBeNull();
    expect(await allVersions("v-plain")).toEqual([]);
    const missing = await gateway.signedFetch({ method: "GET", rawPath: "/v-plain/k" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-amz-delete-marker")).toBeNull();
    expect(await errorCode(missing)).toBe("NoSuchKey");
    await gateway.client.send(new DeleteBucketCommand({ Bucket: "v-plain" }));
  });
});

describe("an Enabled bucket", () => {
  test("every PUT is a new version; GET and HEAD by version; the newest is current", async () => {
    await bucketWith("v-on", "Enabled");
    const ids = [await put("v-on", "k", "one"), await put("v-on", "k", "two"), await put("v-on", "k", "three")];
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(new Set(ids).size).toBe(3);
    expect(await read("v-on", "k")).toBe("three");
    expect(await read("v-on", "k", ids[0])).toBe("one");
    expect(await read("v-on", "k", ids[1])).toBe("two");
    const head = await gateway.client.send(new HeadObjectCommand({ Bucket: "v-on", Key: "k", VersionId: ids[0] }));
    expect([head.VersionId, head.ContentLength]).toEqual([ids[0], 3]);
    const current = await gateway.signedFetch({ method: "GET", rawPath: "/v-on/k" });
    expect(current.headers.get("x-amz-version-id")).toBe(ids[2]!);
    expect(await current.text()).toBe("three");
    const range = await gateway.signedFetch({ method: "GET", rawPath: "/v-on/k", rawQuery: `versionId=${ids[1]}`, headers: { range: "bytes=1-" } });
    expect([range.status, await range.text(), range.headers.get("x-amz-version-id")]).toEqual([206, "wo", ids[1]!]);
    expect(await allVersions("v-on")).toEqual([`k@${ids[2]}`, `k@${ids[1]}`, `k@${ids[0]}`]);
    const listed = await gateway.client.send(new ListObjectVersionsCommand({ Bucket: "v-on" }));
    expect(listed.Versions?.map((version) => [version.VersionId, version.IsLatest, version.Size])).toEqual([
      [ids[2], true, 5],
      [ids[1], false, 3],
      [ids[0], false, 3],
    ]);
    expect(listed.Versions?.[0]?.ETag).toBe(`"${createHash("md5").update("three").digest("hex")}"`);
    expect(listed.Versions?.[0]?.Owner?.ID).toBeString();
  });

  test("DELETE adds a delete marker: the key reads as missing, with the marker's headers", async () => {
    await bucketWith("v-marker", "Enabled");
    const v1 = await put("v-marker", "k", "one");
    const deleted = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-marker/k" });
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("x-amz-delete-marker")).toBe("true");
    const markerId = deleted.headers.get("x-amz-version-id") ?? "";
    expect(markerId).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const get = await gateway.signedFetch({ method: "GET", rawPath: "/v-marker/k" });
    expect(get.status).toBe(404);
    expect(get.headers.get("x-amz-delete-marker")).toBe("true");
    expect(get.headers.get("x-amz-version-id")).toBe(markerId);
    expect(await errorCode(get)).toBe("NoSuchKey");
    const head = await gateway.signedFetch({ method: "HEAD", rawPath: "/v-marker/k" });
    expect([head.status, head.headers.get("x-amz-delete-marker")]).toEqual([404, "true"]);

    // Naming the marker's id is a method a marker does not support.
    const byId = await gateway.signedFetch({ method: "GET", rawPath: "/v-marker/k", rawQuery: `versionId=${markerId}` });
    expect(byId.status).toBe(405);
    expect(byId.headers.get("x-amz-delete-marker")).toBe("true");
    expect(byId.headers.get("allow")).toBe("DELETE");
    const error = parseXml(await byId.text());
    expect([childElement(error, "Code")?.text, childElement(error, "Method")?.text, childElement(error, "ResourceType")?.text]).toEqual([
      "MethodNotAllowed",
      "GET",
      "DeleteMarker",
    ]);
    const headById = await gateway.signedFetch({ method: "HEAD", rawPath: "/v-marker/k", rawQuery: `versionId=${markerId}` });
    expect([headById.status, headById.headers.get("x-amz-delete-marker")]).toEqual([405, "true"]);

    // The old version is still there, by id; listings of current objects skip the key.
    expect(await read("v-marker", "k", v1)).toBe("one");
    const current = await gateway.client.send(new ListObjectsV2Command({ Bucket: "v-marker" }));
    expect(current.KeyCount).toBe(0);
    expect(await allVersions("v-marker")).toEqual([`k@${markerId}*`, `k@${v1}`]);
    const listed = await gateway.client.send(new ListObjectVersionsCommand({ Bucket: "v-marker" }));
    expect(listed.DeleteMarkers?.map((marker) => [marker.Key, marker.VersionId, marker.IsLatest])).toEqual([["k", markerId, true]]);
    expect(listed.Versions?.map((version) => [version.VersionId, version.IsLatest])).toEqual([[v1, false]]);

    // A bucket holding only a marker and an old version is not empty.
    expect(await failure(gateway.client.send(new DeleteBucketCommand({ Bucket: "v-marker" })))).toEqual(["BucketNotEmpty", 409]);

    // Removing the marker by id brings the object back.
    const unmark = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-marker/k", rawQuery: `versionId=${markerId}` });
    expect([unmark.status, unmark.headers.get("x-amz-delete-marker"), unmark.headers.get("x-amz-version-id")]).toEqual([204, "true", markerId]);
    expect(await read("v-marker", "k")).toBe("one");
  });

  test("DELETE of a version removes exactly it and the previous one becomes current", async () => {
    await bucketWith("v-remove", "Enabled");
    const v1 = await put("v-remove", "k", "one");
    const v2 = await put("v-remove", "k", "two");
    const removed = await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-remove", Key: "k", VersionId: v2 }));
    expect([removed.VersionId, removed.DeleteMarker]).toEqual([v2, undefined]);
    expect(await read("v-remove", "k")).toBe("one");
    expect(await allVersions("v-remove")).toEqual([`k@${v1}`]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket: "v-remove", Key: "k", VersionId: v2 })))).toEqual(["NoSuchVersion", 404]);
    // Deleting a version that does not exist succeeds, as S3 does.
    const again = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-remove/k", rawQuery: `versionId=${v2}` });
    expect([again.status, again.headers.get("x-amz-version-id")]).toEqual([204, v2!]);
    await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-remove", Key: "k", VersionId: v1 }));
    expect(await allVersions("v-remove")).toEqual([]);
    await gateway.client.send(new DeleteBucketCommand({ Bucket: "v-remove" }));
  });

  test("unknown, malformed and empty version ids", async () => {
    await bucketWith("v-ids", "Enabled");
    await put("v-ids", "k", "x");
    const unknown = await gateway.signedFetch({ method: "GET", rawPath: "/v-ids/k", rawQuery: "versionId=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    const unknownText = await unknown.text();
    // S3 error bodies carry no namespace; botocore does not recognise `<Error xmlns=…>` as an S3 error.
    expect(unknownText).toContain("\n<Error><Code>NoSuchVersion</Code>");
    const unknownError = parseXml(unknownText);
    expect([unknown.status, childElement(unknownError, "Code")?.text, childElement(unknownError, "VersionId")?.text]).toEqual([
      404,
      "NoSuchVersion",
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ]);
    expect((await gateway.signedFetch({ method: "HEAD", rawPath: "/v-ids/k", rawQuery: "versionId=AAAA" })).status).toBe(404);
    const malformed = await gateway.signedFetch({ method: "GET", rawPath: "/v-ids/k", rawQuery: "versionId=bad%20id%21" });
    const malformedError = parseXml(await malformed.text());
    expect([malformed.status, childElement(malformedError, "Code")?.text, childElement(malformedError, "Message")?.text]).toEqual([
      400,
      "InvalidArgument",
      "Invalid version id specified",
    ]);
    const empty = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-ids/k", rawQuery: "versionId=" });
    expect([empty.status, await errorCode(empty)]).toEqual([400, "InvalidArgument"]);
    const tooLong = await gateway.signedFetch({ method: "DELETE", rawPath: "/v-ids/k", rawQuery: `versionId=${"a".repeat(1025)}` });
    expect([tooLong.status, await errorCode(tooLong)]).toEqual([400, "InvalidArgument"]);
    // Nothing was deleted by the refused requests.
    expect(await read("v-ids", "k")).toBe("x");
    // The null version of a key that never had one is unknown too.
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket: "v-ids", Key: "k", VersionId: "null" })))).toEqual(["NoSuchVersion", 404]);
    // A missing key without a version id is still NoSuchKey.
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket: "v-ids", Key: "nothing" })))).toEqual(["NoSuchKey", 404]);
  });

  test("the null version written before versioning was enabled stays, with id null", async () => {
    await bucketWith("v-before");
    await put("v-before", "k", "old");
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-before", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await put("v-before", "k", "new");
    expect(v1).not.toBe("null");
    const old = await gateway.signedFetch({ method: "GET", rawPath: "/v-before/k", rawQuery: "versionId=null" });
    expect([await old.text(), old.headers.get("x-amz-version-id")]).toEqual(["old", "null"]);
    expect(await allVersions("v-before")).toEqual([`k@${v1}`, "k@null"]);
  });
});

describe("a Suspended bucket", () => {
  test("PUT writes the null version, replacing only the earlier null version; DELETE writes a null marker", async () => {
    await bucketWith("v-susp");
    await put("v-susp", "k", "null-one");
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-susp", VersioningConfiguration: { Status: "Enabled" } }));
    const v1 = await put("v-susp", "k", "versioned");
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-susp", VersioningConfiguration: { Status: "Suspended" } }));

    const putReply = await gateway.signedFetch({ method: "PUT", rawPath: "/v-susp/k", body: "null-two" });
    expect(putReply.headers.get("x-amz-version-id")).toBe("null");
    expect(await allVersions("v-susp")).toEqual(["k@null", `k@${v1}`]);
    const get = await gateway.signedFetch({ method: "GET", rawPath: "/v-susp/k" });
    expect([await get.text(), get.headers.get("x-amz-version-id")]).toEqual(["null-two", "null"]);
    expect(await read("v-susp", "k", v1)).toBe("versioned");

    const deleted = await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-susp", Key: "k" }));
    expect([deleted.DeleteMarker, deleted.VersionId]).toEqual([true, "null"]);
    expect(await allVersions("v-susp")).toEqual(["k@null*", `k@${v1}`]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket: "v-susp", Key: "k" })))).toEqual(["NoSuchKey", 404]);

    // A new PUT replaces the null marker.
    await put("v-susp", "k", "null-three");
    expect(await allVersions("v-susp")).toEqual(["k@null", `k@${v1}`]);
    expect(await read("v-susp", "k")).toBe("null-three");
    // Enabled again: new ids, the null version kept as an older one.
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "v-susp", VersioningConfiguration: { Status: "Enabled" } }));
    const v2 = await put("v-susp", "k", "versioned-two");
    expect(await allVersions("v-susp")).toEqual([`k@${v2}`, "k@null", `k@${v1}`]);
  });
});

describe("ListObjectVersions", () => {
  const keys = ["a", "b/1", "b/2", "c", "d/x/1"];

  test("pages of every size walk the same sequence as one listing, via NextKeyMarker and NextVersionIdMarker", async () => {
    await bucketWith("v-list", "Enabled");
    for (const key of keys) {
      await put("v-list", key, `${key}-1`);
      await put("v-list", key, `${key}-2`);
    }
    await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-list", Key: "c" }));
    const whole = await allVersions("v-list");
    expect(whole.length).toBe(11);
    expect(whole.map((entry) => entry.split("@")[0])).toEqual(["a", "a", "b/1", "b/1", "b/2", "b/2", "c", "c", "c", "d/x/1", "d/x/1"]);
    expect(whole[6]).toEndWith("*");

    for (const pageSize of [1, 2, 3, 5, 11]) {
      const walked: string[] = [];
      let keyMarker = "";
      let versionIdMarker = "";
      for (let pages = 0; pages < 20; pages += 1) {
        const query = [`max-keys=${pageSize}`, ...(keyMarker === "" ? [] : [`key-marker=${encodeURIComponent(keyMarker)}`]), ...(versionIdMarker === "" ? [] : [`version-id-marker=${versionIdMarker}`])];
        const root = await rawVersionsXml("v-list", query.join("&"));
        walked.push(...orderedEntries(root));
        if (childElement(root, "IsTruncated")?.text !== "true") break;
        keyMarker = childElement(root, "NextKeyMarker")!.text;
        versionIdMarker = childElement(root, "NextVersionIdMarker")!.text;
        expect(walked.at(-1) ?? "").toStartWith(`${keyMarker}@${versionIdMarker}`);
      }
      expect([pageSize, walked]).toEqual([pageSize, whole]);
    }

    // The SDK reads the same markers.
    const first: ListObjectVersionsCommandOutput = await gateway.client.send(new ListObjectVersionsCommand({ Bucket: "v-list", MaxKeys: 3 }));
    expect([first.IsTruncated, first.NextKeyMarker, first.MaxKeys]).toEqual([true, "b/1", 3]);
    const second = await gateway.client.send(
      new ListObjectVersionsCommand({ Bucket: "v-list", MaxKeys: 3, KeyMarker: first.NextKeyMarker, VersionIdMarker: first.NextVersionIdMarker }),
    );
    expect([second.KeyMarker, second.VersionIdMarker, second.Versions?.map((version) => version.Key)]).toEqual([
      "b/1",
      first.NextVersionIdMarker,
      ["b/1", "b/2", "b/2"],
    ]);
    // A key marker alone starts after that key.
    const afterB1 = await rawVersionsXml("v-list", "key-marker=b%2F1");
    expect(orderedEntries(afterB1)[0]).toStartWith("b/2@");
  });

  test("prefix, delimiter (a common prefix counts once), encoding-type=url", async () => {
    await bucketWith("v-tree", "Enabled");
    for (const key of ["dir/a", "dir/b", "dir/sub/c", "top", "x y+z"]) {
      await put("v-tree", key, "1");
      await put("v-tree", key, "2");
    }
    const root = await rawVersionsXml("v-tree", "delimiter=%2F");
    expect(orderedEntries(root).map((entry) => entry.split("@")[0])).toEqual(["top", "top", "x y+z", "x y+z"]);
    expect(childElements(root, "CommonPrefixes").map((prefix) => childElement(prefix, "Prefix")!.text)).toEqual(["dir/"]);
    expect(childElement(root, "Delimiter")?.text).toBe("/");

    const inDir = await gateway.client.send(new ListObjectVersionsCommand({ Bucket: "v-tree", Prefix: "dir/", Delimiter: "/" }));
    expect(inDir.Versions?.map((version) => version.Key)).toEqual(["dir/a", "dir/a", "dir/b", "dir/b"]);
    expect(inDir.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["dir/sub/"]);
    expect(inDir.Prefix).toBe("dir/");

    // A page that ends on a common prefix continues after the whole prefix.
    const pageOne = await rawVersionsXml("v-tree", "delimiter=%2F&max-keys=1");
    expect(childElement(pageOne, "NextKeyMarker")?.text).toBe("dir/");
    expect(childElement(pageOne, "NextVersionIdMarker")).toBeUndefined();
    const pageTwo = await rawVersionsXml("v-tree", "delimiter=%2F&max-keys=1&key-marker=dir%2F");
    expect(orderedEntries(pageTwo).map((entry) => entry.split("@")[0])).toEqual(["top"]);

    const encoded = await rawVersionsXml("v-tree", "prefix=x%20&encoding-type=url");
    expect(childElement(encoded, "EncodingType")?.text).toBe("url");
    expect(childElement(encoded, "Prefix")?.text).toBe("x%20");
    expect(orderedEntries(encoded).map((entry) => entry.split("@")[0])).toEqual(["x%20y%2Bz", "x%20y%2Bz"]);
  });

  test("element order and namespace of the reply", async () => {
    await bucketWith("v-xml", "Enabled");
    await put("v-xml", "k", "1");
    await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-xml", Key: "k" }));
    const response = await gateway.signedFetch({ method: "GET", rawPath: "/v-xml", rawQuery: "versions=&max-keys=1" });
    const text = await response.text();
    expect(text).toContain('<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">');
    const root = parseXml(text);
    expect(root.children.map((child) => child.name)).toEqual([
      "Name",
      "Prefix",
      "KeyMarker",
      "VersionIdMarker",
      "NextKeyMarker",
      "NextVersionIdMarker",
      "MaxKeys",
      "IsTruncated",
      "DeleteMarker",
    ]);
    expect(childElement(root, "DeleteMarker")!.children.map((child) => child.name)).toEqual(["Key", "VersionId", "IsLatest", "LastModified", "Owner"]);
    const all = parseXml(await (await gateway.signedFetch({ method: "GET", rawPath: "/v-xml", rawQuery: "versions=" })).text());
    expect(childElement(all, "Version")!.children.map((child) => child.name)).toEqual([
      "Key",
      "VersionId",
      "IsLatest",
      "LastModified",
      "ETag",
      "Size",
      "Owner",
      "StorageClass",
    ]);
    expect(childElement(childElement(all, "Version")!, "IsLatest")?.text).toBe("false");
  });

  test("argument errors and NoSuchBucket", async () => {
    await bucketWith("v-args", "Enabled");
    const noKeyMarker = await gateway.signedFetch({ method: "GET", rawPath: "/v-args", rawQuery: "versions=&version-id-marker=abc" });
    expect([noKeyMarker.status, await errorCode(noKeyMarker)]).toEqual([400, "InvalidArgument"]);
    const badMarker = await gateway.signedFetch({ method: "GET", rawPath: "/v-args", rawQuery: "versions=&key-marker=a&version-id-marker=%3C%3E" });
    expect([badMarker.status, await errorCode(badMarker)]).toEqual([400, "InvalidArgument"]);
    const badMax = await gateway.signedFetch({ method: "GET", rawPath: "/v-args", rawQuery: "versions=&max-keys=-1" });
    expect([badMax.status, await errorCode(badMax)]).toEqual([400, "InvalidArgument"]);
    const unknown = await gateway.signedFetch({ method: "GET", rawPath: "/v-args", rawQuery: "versions=&marker=a" });
    expect([unknown.status, await errorCode(unknown)]).toEqual([501, "NotImplemented"]);
    expect(await failure(gateway.client.send(new ListObjectVersionsCommand({ Bucket: "v-nobucket" })))).toEqual(["NoSuchBucket", 404]);
  });
});

describe("DeleteObjects with versions", () => {
  test("deletes versions and markers by id, adds markers without one, reports each as S3 does", async () => {
    await bucketWith("v-multi", "Enabled");
    const a1 = await put("v-multi", "a", "1");
    const a2 = await put("v-multi", "a", "2");
    await put("v-multi", "b", "1");
    const markerReply = await gateway.client.send(new DeleteObjectCommand({ Bucket: "v-multi", Key: "b" }));
    const reply = await gateway.client.send(
      new DeleteObjectsCommand({
        Bucket: "v-multi",
        Delete: {
          Objects: [{ Key: "a", VersionId: a2 }, { Key: "b", VersionId: markerReply.VersionId }, { Key: "c" }, { Key: "a", VersionId: "bad id" }],
        },
      }),
    );
    const byKey = (key: string, versionId?: string) => reply.Deleted?.find((entry) => entry.Key === key && entry.VersionId === versionId);
    expect(byKey("a", a2)).toEqual({ Key: "a", VersionId: a2 });
    expect(byKey("b", markerReply.VersionId)).toEqual({ Key: "b", VersionId: markerReply.VersionId, DeleteMarker: true, DeleteMarkerVersionId: markerReply.VersionId });
    const cEntry = byKey("c");
    expect(cEntry?.DeleteMarker).toBe(true);
    expect(cEntry?.DeleteMarkerVersionId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(reply.Errors?.map((error) => [error.Key, error.VersionId, error.Code])).toEqual([["a", "bad id", "InvalidArgument"]]);
    expect(await read("v-multi", "a")).toBe("1");
    expect(await read("v-multi", "b")).toBe("1");
    expect(await allVersions("v-multi")).toEqual([`a@${a1}`, expect.stringMatching(/^b@/), `c@${cEntry?.DeleteMarkerVersionId}*`]);
  });

  test("in an unversioned bucket a plain multi-delete reports no marker", async () => {
    await bucketWith("v-multi-plain");
    await put("v-multi-plain", "a", "1");
    const reply = await gateway.client.send(new DeleteObjectsCommand({ Bucket: "v-multi-plain", Delete: { Objects: [{ Key: "a" }] } }));
    expect(reply.Deleted).toEqual([{ Key: "a" }]);
    expect(await allVersions("v-multi-plain")).toEqual([]);
  });
});

describe("idempotency tokens", () => {
  test("a PUT repeated with the same token lands once; another token writes again", async () => {
    await bucketWith("v-token", "Enabled");
    const send = (token: string, body: string) =>
      gateway.signedFetch({ method: "PUT", rawPath: "/v-token/k", body, headers: { "x-cairn-idempotency-token": token } });
    const first = await send("token-1", "body");
    const retry = await send("token-1", "body");
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("x-amz-version-id")).toBe(first.headers.get("x-amz-version-id")!);
    expect(retry.headers.get("etag")).toBe(first.headers.get("etag")!);
    expect((await allVersions("v-token")).length).toBe(1);
    await send("token-2", "body");
    expect((await allVersions("v-token")).length).toBe(2);
  });

  test("a retry after its write was replaced is still answered with its own write and changes nothing", async () => {
    await bucketWith("v-token-null");
    const send = (token: string, body: string) =>
      gateway.signedFetch({ method: "PUT", rawPath: "/v-token-null/k", body, headers: { "x-cairn-idempotency-token": token } });
    const first = await send("token-a", "first");
    const retry = await send("token-a", "first");
    expect(retry.headers.get("etag")).toBe(first.headers.get("etag")!);
    expect(retry.headers.get("x-amz-version-id")).toBeNull();
    await send("token-b", "second");
    // token-a's request already happened; a late retry must not overwrite the later write.
    const late = await send("token-a", "first");
    expect(late.headers.get("etag")).toBe(first.headers.get("etag")!);
    expect(await read("v-token-null", "k")).toBe("second");
    expect(await allVersions("v-token-null")).toEqual(["k@null"]);
  });

  test("the SDK's amz-sdk-invocation-id is the token when no explicit one is given", async () => {
    await bucketWith("v-invocation", "Enabled");
    const send = (headers: Record<string, string>) => gateway.signedFetch({ method: "PUT", rawPath: "/v-invocation/k", body: "x", headers });
    const first = await send({ "amz-sdk-invocation-id": "3f0e2b7a-0000-4000-8000-000000000001", "amz-sdk-request": "attempt=1; max=3" });
    const retry = await send({ "amz-sdk-invocation-id": "3f0e2b7a-0000-4000-8000-000000000001", "amz-sdk-request": "attempt=2; max=3" });
    expect(retry.headers.get("x-amz-version-id")).toBe(first.headers.get("x-amz-version-id")!);
    expect((await allVersions("v-invocation")).length).toBe(1);
    // Separate SDK calls carry separate invocation ids, so each writes a version.
    await put("v-invocation", "k", "y");
    await put("v-invocation", "k", "z");
    expect((await allVersions("v-invocation")).length).toBe(3);
  });

  test("an empty or oversized explicit token is InvalidArgument and nothing is stored", async () => {
    await bucketWith("v-badtoken", "Enabled");
    for (const token of ["", "t".repeat(257)]) {
      const response = await gateway.signedFetch({ method: "PUT", rawPath: "/v-badtoken/k", body: "x", headers: { "x-cairn-idempotency-token": token } });
      expect([response.status, await errorCode(response)]).toEqual([400, "InvalidArgument"]);
    }
    expect(await allVersions("v-badtoken")).toEqual([]);
  });
});
