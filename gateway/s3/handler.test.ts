/**
 * The S3 core end to end: the real AWS SDK (and signed raw requests for what
 * the SDK will not send) against `serveBun` + `createS3Handler` over the
 * test-only memory backend.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketWebsiteCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { fault, systemClock } from "../../runtime/index.ts";
import { FaultError } from "../backend.ts";
import { encodeAwsChunked, emptySha256Hex, signRequest } from "../sigv4/index.ts";
import { startTestGateway, testCredentials, testRegion, type TestGateway } from "../testing/test-gateway.ts";
import { childElement, parseXml } from "./xml.ts";
import { errorCodeOf as errorCode, failure } from "../testing/sdk-failure.ts";

let gateway: TestGateway;
const clock = systemClock();

beforeAll(async () => {
  gateway = await startTestGateway({ readChunkBytes: 7 });
});

afterAll(async () => {
  await gateway.stop();
});

function md5Base64(data: string | Uint8Array): string {
  return createHash("md5").update(data).digest("base64");
}

function md5Hex(data: string | Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

describe("buckets", () => {
  test("create, list, head, location, delete", async () => {
    const { client } = gateway;
    await client.send(new CreateBucketCommand({ Bucket: "bucket-life" }));
    const listed = await client.send(new ListBucketsCommand({}));
    const entry = listed.Buckets?.find((bucket) => bucket.Name === "bucket-life");
    expect(entry).toBeDefined();
    expect(entry?.CreationDate).toBeInstanceOf(Date);
    expect(listed.Owner?.DisplayName).toBe(testCredentials.accessKeyId);

    const head = await client.send(new HeadBucketCommand({ Bucket: "bucket-life" }));
    expect(head.$metadata.httpStatusCode).toBe(200);
    const location = await client.send(new GetBucketLocationCommand({ Bucket: "bucket-life" }));
    expect(location.LocationConstraint ?? "").toBe("");

    expect(await failure(client.send(new CreateBucketCommand({ Bucket: "bucket-life" })))).toEqual(["BucketAlreadyOwnedByYou", 409]);
    await client.send(new DeleteBucketCommand({ Bucket: "bucket-life" }));
    expect(await failure(client.send(new HeadBucketCommand({ Bucket: "bucket-life" })))).toEqual(["NotFound", 404]);
    expect(await failure(client.send(new DeleteBucketCommand({ Bucket: "bucket-life" })))).toEqual(["NoSuchBucket", 404]);
  });

  test("CreateBucket with a configuration body: this region is accepted, another refused, bad XML is MalformedXML", async () => {
    const { client } = gateway;
    const ok = `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${testRegion}</LocationConstraint></CreateBucketConfiguration>`;
    const created = await gateway.signedFetch({ method: "PUT", rawPath: "/bucket-configured", body: ok });
    expect(created.status).toBe(200);
    expect(created.headers.get("location")).toBe("/bucket-configured");
    expect(await failure(client.send(new CreateBucketCommand({ Bucket: "bucket-elsewhere", CreateBucketConfiguration: { LocationConstraint: "eu-west-1" } })))).toEqual([
      "InvalidLocationConstraint",
      400,
    ]);
    const bad = await gateway.signedFetch({ method: "PUT", rawPath: "/bucket-badxml", body: "<CreateBucketConfiguration><Loc" });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe("MalformedXML");
    const doctype = await gateway.signedFetch({ method: "PUT", rawPath: "/bucket-badxml", body: '<!DOCTYPE x [<!ENTITY a "b">]><CreateBucketConfiguration/>' });
    expect(await errorCode(doctype)).toBe("MalformedXML");
    expect(await gateway.backend.headBucket("bucket-badxml")).toBeUndefined();
  });

  test("invalid bucket names are InvalidBucketName", async () => {
    const response = await gateway.signedFetch({ method: "PUT", rawPath: "/Bad_Bucket" });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("InvalidBucketName");
    expect(await failure(gateway.client.send(new CreateBucketCommand({ Bucket: "ab" })))).toEqual(["InvalidBucketName", 400]);
    expect(await failure(gateway.client.send(new CreateBucketCommand({ Bucket: "192.168.1.1" })))).toEqual(["InvalidBucketName", 400]);
  });

  test("a bucket with objects is BucketNotEmpty", async () => {
    const { client } = gateway;
    await client.send(new CreateBucketCommand({ Bucket: "bucket-full" }));
    await client.send(new PutObjectCommand({ Bucket: "bucket-full", Key: "k", Body: "x" }));
    expect(await failure(client.send(new DeleteBucketCommand({ Bucket: "bucket-full" })))).toEqual(["BucketNotEmpty", 409]);
    await client.send(new DeleteObjectCommand({ Bucket: "bucket-full", Key: "k" }));
    await client.send(new DeleteBucketCommand({ Bucket: "bucket-full" }));
  });
});

describe("objects", () => {
  beforeAll(async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "objects" }));
  });

  test("put, get, head, delete with headers and user metadata", async () => {
    const { client } = gateway;
    const body = "hello, cairn! ".repeat(10);
    const put = await client.send(
      new PutObjectCommand({
        Bucket: "objects",
        Key: "dir/hello.txt",
        Body: body,
        ContentType: "text/plain",
        CacheControl: "max-age=60",
        ContentDisposition: 'attachment; filename="h.txt"',
        ContentLanguage: "en",
        Metadata: { Color: "blue", "multi-word": "a b c" },
        StorageClass: "STANDARD_IA",
      }),
    );
    expect(put.ETag).toBe(`"${md5Hex(body)}"`);

    const got = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" }));
    expect(await got.Body?.transformToString()).toBe(body);
    expect(got.ETag).toBe(`"${md5Hex(body)}"`);
    expect(got.ContentType).toBe("text/plain");
    expect(got.ContentLength).toBe(body.length);
    expect(got.CacheControl).toBe("max-age=60");
    expect(got.ContentDisposition).toBe('attachment; filename="h.txt"');
    expect(got.ContentLanguage).toBe("en");
    expect(got.Metadata).toEqual({ color: "blue", "multi-word": "a b c" });
    expect(got.StorageClass).toBe("STANDARD_IA");
    expect(got.AcceptRanges).toBe("bytes");
    expect(got.LastModified).toBeInstanceOf(Date);

    const head = await client.send(new HeadObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata).toEqual({ color: "blue", "multi-word": "a b c" });

    const deleted = await client.send(new DeleteObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" }));
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    expect(await failure(client.send(new GetObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(client.send(new HeadObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" })))).toEqual(["NotFound", 404]);
    // Deleting a missing key succeeds.
    expect((await client.send(new DeleteObjectCommand({ Bucket: "objects", Key: "dir/hello.txt" }))).$metadata.httpStatusCode).toBe(204);
  });

  test("defaults: binary/octet-stream and no storage-class header for STANDARD; empty objects", async () => {
    const { client } = gateway;
    // A raw request: the SDK fills in a Content-Type of its own.
    const put = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/empty", body: new Uint8Array(0) });
    expect(put.status).toBe(200);
    const got = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "empty" }));
    expect(got.ContentType).toBe("binary/octet-stream");
    expect(got.ContentLength).toBe(0);
    expect(got.StorageClass).toBeUndefined();
    expect(got.ETag).toBe(`"${md5Hex("")}"`);
    expect(await got.Body?.transformToString()).toBe("");
  });

  test("keys keep odd characters, slashes and empty segments", async () => {
    const { client } = gateway;
    for (const key of ["a b+c", "x//y/", "ünïcødé/€", "q?x=1&y#z", "percent%2F"]) {
      await client.send(new PutObjectCommand({ Bucket: "objects", Key: key, Body: key }));
      const got = await client.send(new GetObjectCommand({ Bucket: "objects", Key: key }));
      expect(await got.Body?.transformToString()).toBe(key);
      expect(gateway.backend.storedBytes("objects", key)).toBeDefined();
    }
  });

  test("keys over 1024 bytes are KeyTooLongError", async () => {
    const key = "k".repeat(1025);
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket: "objects", Key: key, Body: "x" })))).toEqual(["KeyTooLongError", 400]);
  });

  test("a missing bucket is NoSuchBucket", async () => {
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket: "no-such", Key: "k", Body: "x" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(gateway.client.send(new GetObjectCommand({ Bucket: "no-such", Key: "k" })))).toEqual(["NoSuchBucket", 404]);
  });

  test("invalid storage class and oversized metadata are refused", async () => {
    const bad = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/sc", body: "x", headers: { "x-amz-storage-class": "CHEAP" } });
    expect(await errorCode(bad)).toBe("InvalidStorageClass");
    const big = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/md", body: "x", headers: { "x-amz-meta-big": "v".repeat(2100) } });
    expect(await errorCode(big)).toBe("MetadataTooLarge");
    expect(gateway.backend.storedBytes("objects", "sc")).toBeUndefined();
    expect(gateway.backend.storedBytes("objects", "md")).toBeUndefined();
  });

  test("ranges: 206 with Content-Range, suffix ranges, 416 with bytes */size, bad syntax ignored", async () => {
    const { client } = gateway;
    const body = "0123456789abcdefghij";
    await client.send(new PutObjectCommand({ Bucket: "objects", Key: "range", Body: body }));
    const middle = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "range", Range: "bytes=2-5" }));
    expect(middle.$metadata.httpStatusCode).toBe(206);
    expect(middle.ContentRange).toBe("bytes 2-5/20");
    expect(middle.ContentLength).toBe(4);
    expect(await middle.Body?.transformToString()).toBe("2345");
    const suffix = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "range", Range: "bytes=-3" }));
    expect(await suffix.Body?.transformToString()).toBe("hij");
    const open = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "range", Range: "bytes=15-" }));
    expect(await open.Body?.transformToString()).toBe("fghij");
    const clamped = await client.send(new GetObjectCommand({ Bucket: "objects", Key: "range", Range: "bytes=18-100" }));
    expect(clamped.ContentRange).toBe("bytes 18-19/20");
    expect(await failure(client.send(new GetObjectCommand({ Bucket: "objects", Key: "range", Range: "bytes=20-" })))).toEqual(["InvalidRange", 416]);

    const raw = await gateway.signedFetch({ method: "GET", rawPath: "/objects/range", headers: { range: "bytes=30-40" } });
    expect(raw.status).toBe(416);
    expect(raw.headers.get("content-range")).toBe("bytes */20");
    expect(await errorCode(raw)).toBe("InvalidRange");
    const multi = await gateway.signedFetch({ method: "GET", rawPath: "/objects/range", headers: { range: "bytes=0-1,3-4" } });
    expect(multi.status).toBe(200);
    expect(await multi.text()).toBe(body);
    const headRange = await gateway.signedFetch({ method: "HEAD", rawPath: "/objects/range", headers: { range: "bytes=0-9" } });
    expect(headRange.status).toBe(206);
    expect(headRange.headers.get("content-length")).toBe("10");

    await client.send(new PutObjectCommand({ Bucket: "objects", Key: "range-empty", Body: "" }));
    const emptyRange = await gateway.signedFetch({ method: "GET", rawPath: "/objects/range-empty", headers: { range: "bytes=0-" } });
    expect(emptyRange.status).toBe(416);
    expect(emptyRange.headers.get("content-range")).toBe("bytes */0");
  });

  test("response-* overrides and conditional requests", async () => {
    const { client } = gateway;
    await client.send(new PutObjectCommand({ Bucket: "objects", Key: "cond", Body: "conditional", ContentType: "text/plain" }));
    const overridden = await client.send(
      new GetObjectCommand({ Bucket: "objects", Key: "cond", ResponseContentType: "application/json", ResponseContentDisposition: "inline", ResponseCacheControl: "no-cache" }),
    );
    expect(overridden.ContentType).toBe("application/json");
    expect(overridden.ContentDisposition).toBe("inline");
    expect(overridden.CacheControl).toBe("no-cache");
    await overridden.Body?.transformToString();

    const etag = `"${md5Hex("conditional")}"`;
    const notModified = await gateway.signedFetch({ method: "GET", rawPath: "/objects/cond", headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe(etag);
    const failed = await gateway.signedFetch({ method: "GET", rawPath: "/objects/cond", headers: { "if-match": '"0000"' } });
    expect(failed.status).toBe(412);
    expect(await errorCode(failed)).toBe("PreconditionFailed");
    const matched = await gateway.signedFetch({ method: "GET", rawPath: "/objects/cond", headers: { "if-match": etag } });
    expect(await matched.text()).toBe("conditional");
  });

  test("Content-MD5: a mismatch is BadDigest, a malformed one InvalidDigest; nothing is stored", async () => {
    const wrong = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/md5", body: "payload", headers: { "content-md5": md5Base64("other") } });
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe("BadDigest");
    const malformed = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/md5", body: "payload", headers: { "content-md5": "nope" } });
    expect(await errorCode(malformed)).toBe("InvalidDigest");
    expect(gateway.backend.storedBytes("objects", "md5")).toBeUndefined();
    const right = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/md5", body: "payload", headers: { "content-md5": md5Base64("payload") } });
    expect(right.status).toBe(200);
    expect(right.headers.get("etag")).toBe(`"${md5Hex("payload")}"`);
  });

  test("a signed payload hash that does not match is refused and not stored", async () => {
    const response = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/sha", body: "payload", payloadHash: createHash("sha256").update("other").digest("hex") });
    expect(await errorCode(response)).toBe("XAmzContentSHA256Mismatch");
    expect(gateway.backend.storedBytes("objects", "sha")).toBeUndefined();
    const good = await gateway.signedFetch({ method: "PUT", rawPath: "/objects/sha", body: "payload", payloadHash: createHash("sha256").update("payload").digest("hex") });
    expect(good.status).toBe(200);
  });

  test("signed aws-chunked uploads are decoded; aws-chunked is not stored as the content encoding", async () => {
    const data = new TextEncoder().encode("streamed ".repeat(2000));
    const chunks = [data.slice(0, 8192), data.slice(8192, 16384), data.slice(16384)];
    const host = `127.0.0.1:${gateway.port}`;
    const headers: Record<string, string> = {
      host,
      "content-encoding": "aws-chunked,gzip",
      "x-amz-decoded-content-length": String(data.byteLength),
    };
    // The body length depends on the chunk signatures, whose length is fixed, so sign with a placeholder first.
    const probe = signRequest({ method: "PUT", rawPath: "/objects/chunked", headers, credentials: testCredentials, region: testRegion, nowMs: clock.nowMs(), payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" });
    const bodyLength = encodeAwsChunked(chunks, { chain: probe.chain }).byteLength;
    const signed = signRequest({
      method: "PUT",
      rawPath: "/objects/chunked",
      headers: { ...headers, "content-length": String(bodyLength) },
      credentials: testCredentials,
      region: testRegion,
      nowMs: clock.nowMs(),
      payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    });
    const body = encodeAwsChunked(chunks, { chain: signed.chain });
    expect(body.byteLength).toBe(bodyLength);
    const response = await fetch(`${gateway.endpoint}/objects/chunked`, { method: "PUT", headers: Object.fromEntries(signed.headers), body });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${md5Hex(data)}"`);
    expect(gateway.backend.storedBytes("objects", "chunked")).toEqual(data);
    const info = await gateway.backend.headObject("objects", "chunked");
    expect(typeof info === "object" && "headers" in info && info.headers.contentEncoding).toBe("gzip");
  });

  test("length checks: MissingContentLength, EntityTooLarge", async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(4));
        controller.close();
      },
    });
    const host = `127.0.0.1:${gateway.port}`;
    const signed = signRequest({ method: "PUT", rawPath: "/objects/nolength", headers: { host }, credentials: testCredentials, region: testRegion, nowMs: clock.nowMs() });
    const missing = await fetch(`${gateway.endpoint}/objects/nolength`, { method: "PUT", headers: Object.fromEntries(signed.headers), body: stream });
    expect(missing.status).toBe(411);
    expect(await errorCode(missing)).toBe("MissingContentLength");

    const huge = await gateway.signedFetch({
      method: "PUT",
      rawPath: "/objects/huge",
      body: "0\r\n\r\n",
      payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      headers: { "x-amz-decoded-content-length": String(6 * 1024 ** 3), "content-encoding": "aws-chunked" },
    });
    expect(await errorCode(huge)).toBe("EntityTooLarge");
  });

  test("SDK streaming uploads (aws-chunked with a trailing checksum) are decoded", async () => {
    const { Readable } = await import("node:stream");
    const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(50_000, 2)];
    const put = await gateway.client.send(new PutObjectCommand({ Bucket: "objects", Key: "sdk-stream", Body: Readable.from(parts), ContentLength: 120_000 }));
    const whole = Buffer.concat(parts);
    expect(put.ETag).toBe(`"${md5Hex(whole)}"`);
    expect(Buffer.from(gateway.backend.storedBytes("objects", "sdk-stream")!).equals(whole)).toBe(true);
    const info = await gateway.backend.headObject("objects", "sdk-stream");
    expect(typeof info === "object" && "headers" in info && info.headers.contentEncoding).toBeUndefined();
  });

  test("user metadata and headers survive a large streamed object", async () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, index) => (index * 31) % 251);
    await gateway.client.send(new PutObjectCommand({ Bucket: "objects", Key: "large", Body: data, Metadata: { big: "yes" } }));
    const got = await gateway.client.send(new GetObjectCommand({ Bucket: "objects", Key: "large" }));
    const bytes = await got.Body?.transformToByteArray();
    expect(bytes?.byteLength).toBe(data.byteLength);
    expect(md5Hex(bytes!)).toBe(md5Hex(data));
    expect(got.Metadata).toEqual({ big: "yes" });
  });
});

describe("listing", () => {
  const keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d e+f", "é/x"];

  beforeAll(async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "listing" }));
    for (const key of keys) await gateway.client.send(new PutObjectCommand({ Bucket: "listing", Key: key, Body: key }));
  });

  test("v2: everything, then prefix and delimiter", async () => {
    const { client } = gateway;
    const all = await client.send(new ListObjectsV2Command({ Bucket: "listing" }));
    expect(all.Contents?.map((object) => object.Key)).toEqual(keys);
    expect(all.KeyCount).toBe(keys.length);
    expect(all.IsTruncated).toBe(false);
    expect(all.Contents?.[0]?.ETag).toBe(`"${md5Hex("a/1")}"`);
    expect(all.Contents?.[0]?.Size).toBe(3);
    expect(all.Contents?.[0]?.StorageClass).toBe("STANDARD");
    expect(all.Contents?.[0]?.Owner).toBeUndefined();

    const grouped = await client.send(new ListObjectsV2Command({ Bucket: "listing", Delimiter: "/" }));
    expect(grouped.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["a/", "b/", "é/"]);
    expect(grouped.Contents?.map((object) => object.Key)).toEqual(["c", "d e+f"]);

    const underA = await client.send(new ListObjectsV2Command({ Bucket: "listing", Prefix: "a/", Delimiter: "/", FetchOwner: true }));
    expect(underA.Contents?.map((object) => object.Key)).toEqual(["a/1", "a/2"]);
    expect(underA.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["a/b/"]);
    expect(underA.Contents?.[0]?.Owner?.DisplayName).toBe(testCredentials.accessKeyId);
  });

  test("v2: pagination with continuation tokens, start-after", async () => {
    const { client } = gateway;
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: "listing", Delimiter: "/", MaxKeys: 2, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      seen.push(...(page.Contents ?? []).map((object) => object.Key!), ...(page.CommonPrefixes ?? []).map((prefix) => prefix.Prefix!));
      expect(page.KeyCount).toBeLessThanOrEqual(2);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) expect(token).toBeString();
      pages += 1;
    } while (token !== undefined && pages < 10);
    expect(seen.sort()).toEqual(["a/", "b/", "c", "d e+f", "é/"].sort());
    expect(pages).toBe(3);

    const after = await client.send(new ListObjectsV2Command({ Bucket: "listing", StartAfter: "b/1" }));
    expect(after.Contents?.map((object) => object.Key)).toEqual(["c", "d e+f", "é/x"]);
    expect(after.StartAfter).toBe("b/1");
  });

  test("v2: encoding-type=url encodes keys and prefixes", async () => {
    const response = await gateway.client.send(new ListObjectsV2Command({ Bucket: "listing", EncodingType: "url", Delimiter: "/", Prefix: "d e" }));
    expect(response.EncodingType).toBe("url");
    expect(response.Contents?.map((object) => object.Key)).toEqual(["d%20e%2Bf"]);
    expect(response.Prefix).toBe("d%20e");
    const prefixes = await gateway.client.send(new ListObjectsV2Command({ Bucket: "listing", EncodingType: "url", Delimiter: "/" }));
    expect(prefixes.CommonPrefixes?.map((prefix) => prefix.Prefix)).toContain("%C3%A9/");
  });

  test("v2: parameter validation", async () => {
    const badMax = await gateway.signedFetch({ method: "GET", rawPath: "/listing", rawQuery: "list-type=2&max-keys=-1" });
    expect(await errorCode(badMax)).toBe("InvalidArgument");
    const badToken = await gateway.signedFetch({ method: "GET", rawPath: "/listing", rawQuery: "continuation-token=%21%21&list-type=2" });
    expect(await errorCode(badToken)).toBe("InvalidArgument");
    const badEncoding = await gateway.signedFetch({ method: "GET", rawPath: "/listing", rawQuery: "encoding-type=base64&list-type=2" });
    expect(await errorCode(badEncoding)).toBe("InvalidArgument");
    const missing = await gateway.client.send(new ListObjectsV2Command({ Bucket: "listing", MaxKeys: 0 }));
    expect(missing.KeyCount).toBe(0);
    expect(missing.IsTruncated).toBe(false);
    expect(await failure(gateway.client.send(new ListObjectsV2Command({ Bucket: "nope-bucket" })))).toEqual(["NoSuchBucket", 404]);
  });

  test("v1: marker, NextMarker only with a delimiter, Owner always", async () => {
    const { client } = gateway;
    const first = await client.send(new ListObjectsCommand({ Bucket: "listing", MaxKeys: 3 }));
    expect(first.Contents?.map((object) => object.Key)).toEqual(["a/1", "a/2", "a/b/3"]);
    expect(first.IsTruncated).toBe(true);
    expect(first.NextMarker).toBeUndefined();
    expect(first.Contents?.[0]?.Owner?.DisplayName).toBe(testCredentials.accessKeyId);
    const second = await client.send(new ListObjectsCommand({ Bucket: "listing", Marker: "a/b/3" }));
    expect(second.Contents?.map((object) => object.Key)).toEqual(["b/1", "c", "d e+f", "é/x"]);
    expect(second.IsTruncated).toBe(false);

    const grouped = await client.send(new ListObjectsCommand({ Bucket: "listing", Delimiter: "/", MaxKeys: 2 }));
    expect(grouped.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["a/", "b/"]);
    expect(grouped.NextMarker).toBe("b/");
    const rest = await client.send(new ListObjectsCommand({ Bucket: "listing", Delimiter: "/", Marker: grouped.NextMarker! }));
    expect(rest.Contents?.map((object) => object.Key)).toEqual(["c", "d e+f"]);
    expect(rest.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["é/"]);

    const encoded = await client.send(new ListObjectsCommand({ Bucket: "listing", EncodingType: "url", Marker: "d" }));
    expect(encoded.Contents?.map((object) => object.Key)).toEqual(["d%20e%2Bf", "%C3%A9/x"]);
  });
});

describe("DeleteObjects", () => {
  beforeAll(async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "bulk" }));
  });

  test("deletes the listed keys and reports each (quiet omits Deleted)", async () => {
    const { client } = gateway;
    for (const key of ["one", "two", "three"]) await client.send(new PutObjectCommand({ Bucket: "bulk", Key: key, Body: key }));
    const result = await client.send(new DeleteObjectsCommand({ Bucket: "bulk", Delete: { Objects: [{ Key: "one" }, { Key: "two" }, { Key: "missing" }] } }));
    expect(result.Deleted?.map((entry) => entry.Key).sort()).toEqual(["missing", "one", "two"]);
    expect(result.Errors ?? []).toEqual([]);
    expect(gateway.backend.objectCount("bulk")).toBe(1);
    const quiet = await client.send(new DeleteObjectsCommand({ Bucket: "bulk", Delete: { Quiet: true, Objects: [{ Key: "three" }] } }));
    expect(quiet.Deleted ?? []).toEqual([]);
    expect(gateway.backend.objectCount("bulk")).toBe(0);
  });

  test("requires Content-MD5 or a checksum, verifies the MD5, limits the document", async () => {
    const document = "<Delete><Object><Key>x</Key></Object></Delete>";
    const none = await gateway.signedFetch({ method: "POST", rawPath: "/bulk", rawQuery: "delete=", body: document });
    expect(await errorCode(none)).toBe("InvalidRequest");
    const wrong = await gateway.signedFetch({ method: "POST", rawPath: "/bulk", rawQuery: "delete=", body: document, headers: { "content-md5": md5Base64("x") } });
    expect(await errorCode(wrong)).toBe("BadDigest");
    const right = await gateway.signedFetch({ method: "POST", rawPath: "/bulk", rawQuery: "delete=", body: document, headers: { "content-md5": md5Base64(document) } });
    expect(right.status).toBe(200);
    const reply = parseXml(await right.text());
    expect(reply.name).toBe("DeleteResult");
    expect(childElement(childElement(reply, "Deleted")!, "Key")?.text).toBe("x");

    const tooMany = `<Delete>${"<Object><Key>k</Key></Object>".repeat(1001)}</Delete>`;
    const over = await gateway.signedFetch({ method: "POST", rawPath: "/bulk", rawQuery: "delete=", body: tooMany, headers: { "content-md5": md5Base64(tooMany) } });
    expect(await errorCode(over)).toBe("MalformedXML");
    const broken = "<Delete><Object><Key>k</Key></Delete>";
    const bad = await gateway.signedFetch({ method: "POST", rawPath: "/bulk", rawQuery: "delete=", body: broken, headers: { "content-md5": md5Base64(broken) } });
    expect(await errorCode(bad)).toBe("MalformedXML");
  });
});

describe("requests and errors", () => {
  test("unimplemented operations answer 501 NotImplemented", async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "unimplemented" }));
    expect(await failure(gateway.client.send(new GetBucketWebsiteCommand({ Bucket: "unimplemented" })))).toEqual(["NotImplemented", 501]);
    // A multipart upload with server-side encryption is not built.
    const multipart = await gateway.signedFetch({
      method: "POST",
      rawPath: "/unimplemented/k",
      rawQuery: "uploads=",
      headers: { "x-amz-server-side-encryption": "AES256" },
    });
    expect(multipart.status).toBe(501);
    expect(await errorCode(multipart)).toBe("NotImplemented");
    // CopyObject is built; a website redirect on the copy is not.
    const copy = await gateway.signedFetch({
      method: "PUT",
      rawPath: "/unimplemented/k",
      headers: { "x-amz-copy-source": "/unimplemented/j", "x-amz-website-redirect-location": "/elsewhere" },
    });
    expect(copy.status).toBe(501);
    expect(gateway.backend.objectCount("unimplemented")).toBe(0);
  });

  test("error bodies carry Code, Message, extras, Resource and RequestId; every reply has request ids", async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "errors" }));
    const response = await gateway.signedFetch({ method: "GET", rawPath: "/errors/missing%20key" });
    expect(response.status).toBe(404);
    const requestId = response.headers.get("x-amz-request-id");
    expect(requestId).toBeString();
    expect(response.headers.get("x-amz-id-2")).toBeString();
    expect(response.headers.get("content-type")).toBe("application/xml");
    const error = parseXml(await response.text());
    expect(error.name).toBe("Error");
    expect(childElement(error, "Code")?.text).toBe("NoSuchKey");
    expect(childElement(error, "Message")?.text).toBe("The specified key does not exist.");
    expect(childElement(error, "Key")?.text).toBe("missing key");
    expect(childElement(error, "Resource")?.text).toBe("/errors/missing key");
    expect(childElement(error, "RequestId")?.text).toBe(requestId!);

    const head = await gateway.signedFetch({ method: "HEAD", rawPath: "/errors/missing" });
    expect(head.status).toBe(404);
    expect(await head.text()).toBe("");
    expect(head.headers.get("x-amz-request-id")).toBeString();
    const ok = await gateway.signedFetch({ method: "GET", rawPath: "/" });
    expect(ok.headers.get("x-amz-request-id")).toBeString();
    expect(ok.headers.get("x-amz-id-2")).toBeString();
  });

  test("anonymous requests are AccessDenied; bad signatures are refused", async () => {
    const anonymous = await fetch(`${gateway.endpoint}/errors`);
    expect(anonymous.status).toBe(403);
    expect(await errorCode(anonymous)).toBe("AccessDenied");
    const host = `127.0.0.1:${gateway.port}`;
    const signed = signRequest({ method: "GET", rawPath: "/errors", headers: { host }, credentials: { ...testCredentials, secretAccessKey: "wrong" }, region: testRegion, nowMs: clock.nowMs() });
    const forged = await fetch(`${gateway.endpoint}/errors`, { headers: Object.fromEntries(signed.headers) });
    expect(await errorCode(forged)).toBe("SignatureDoesNotMatch");
  });

  test("virtual-hosted addressing", async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "virtual" }));
    const host = `virtual.localhost:${gateway.port}`;
    const put = await gateway.signedFetch({ method: "PUT", rawPath: "/dir/file.txt", host, body: "via host", payloadHash: createHash("sha256").update("via host").digest("hex") });
    expect(put.status).toBe(200);
    expect(gateway.backend.storedBytes("virtual", "dir/file.txt")).toEqual(new TextEncoder().encode("via host"));
    const get = await gateway.signedFetch({ method: "GET", rawPath: "/dir/file.txt", host });
    expect(await get.text()).toBe("via host");
    const list = await gateway.signedFetch({ method: "GET", rawPath: "/", rawQuery: "list-type=2", host });
    const listing = parseXml(await list.text());
    expect(childElement(listing, "Name")?.text).toBe("virtual");
    expect(childElement(childElement(listing, "Contents")!, "Key")?.text).toBe("dir/file.txt");
  });

  test("backend faults map to S3 errors; unexpected exceptions are InternalError and logged; serving continues", async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket: "faults" }));
    gateway.backend.failNext("headObject", new FaultError(fault("QuorumLost", "2 of 6 shards")));
    const unavailable = await gateway.signedFetch({ method: "GET", rawPath: "/faults/k" });
    expect(unavailable.status).toBe(503);
    expect(await errorCode(unavailable)).toBe("ServiceUnavailable");
    gateway.backend.failNext("headObject", new FaultError(fault("Overloaded", "mailbox full")));
    expect(await errorCode(await gateway.signedFetch({ method: "GET", rawPath: "/faults/k" }))).toBe("SlowDown");

    gateway.backend.failNext("listBuckets", new TypeError("boom in the backend"));
    const internal = await gateway.signedFetch({ method: "GET", rawPath: "/" });
    expect(internal.status).toBe(500);
    expect(await errorCode(internal)).toBe("InternalError");
    const logged = gateway.logs.find((entry) => entry.level === "error" && String(entry.error).includes("boom in the backend"));
    expect(logged).toBeDefined();
    const after = await gateway.client.send(new ListBucketsCommand({}));
    expect(after.Buckets?.length).toBeGreaterThan(0);
  });

  test("the empty payload hash is accepted for bodiless requests", async () => {
    const response = await gateway.signedFetch({ method: "GET", rawPath: "/", payloadHash: emptySha256Hex });
    expect(response.status).toBe(200);
  });
});
