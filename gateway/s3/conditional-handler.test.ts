/**
 * CopyObject, conditional writes and conditional reads through the whole S3
 * core (the AWS SDK, and signed raw requests for what it will not send)
 * over the test-only memory backend.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { startTestGateway, testCredentials, testRegion, type TestGateway } from "../testing/test-gateway.ts";
import { errorCodeOf as errorCode, failure } from "../testing/sdk-failure.ts";

let gateway: TestGateway;

beforeAll(async () => {
  // Small read chunks: a copy streams many of them through the write.
  gateway = await startTestGateway({ readChunkBytes: 1000 });
  await gateway.client.send(new CreateBucketCommand({ Bucket: "cond" }));
  await gateway.client.send(new CreateBucketCommand({ Bucket: "copy" }));
  await gateway.client.send(new CreateBucketCommand({ Bucket: "versioned" }));
  await gateway.client.send(new PutBucketVersioningCommand({ Bucket: "versioned", VersioningConfiguration: { Status: "Enabled" } }));
});

afterAll(async () => {
  await gateway.stop();
});

function md5Hex(data: string | Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

function text(bytes: Uint8Array | undefined): string {
  return new TextDecoder().decode(bytes);
}

describe("conditional writes (PutObject)", () => {
  test("If-None-Match: * stores a new key once; the second write is 412 and stores nothing", async () => {
    const { client } = gateway;
    const first = await client.send(new PutObjectCommand({ Bucket: "cond", Key: "once", Body: "first", IfNoneMatch: "*" }));
    expect(first.ETag).toBe(`"${md5Hex("first")}"`);
    expect(await failure(client.send(new PutObjectCommand({ Bucket: "cond", Key: "once", Body: "second", IfNoneMatch: "*" })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(text(gateway.backend.storedBytes("cond", "once"))).toBe("first");
  });

  test("If-Match: the current ETag replaces, a stale one is 412, a missing key 404 NoSuchKey", async () => {
    const { client } = gateway;
    const first = await client.send(new PutObjectCommand({ Bucket: "cond", Key: "cas", Body: "v1" }));
    const second = await client.send(new PutObjectCommand({ Bucket: "cond", Key: "cas", Body: "v2", IfMatch: first.ETag }));
    expect(second.ETag).toBe(`"${md5Hex("v2")}"`);
    expect(await failure(client.send(new PutObjectCommand({ Bucket: "cond", Key: "cas", Body: "v3", IfMatch: first.ETag })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(text(gateway.backend.storedBytes("cond", "cas"))).toBe("v2");
    expect(await failure(client.send(new PutObjectCommand({ Bucket: "cond", Key: "absent", Body: "x", IfMatch: first.ETag })))).toEqual([
      "NoSuchKey",
      404,
    ]);
    expect(gateway.backend.storedBytes("cond", "absent")).toBeUndefined();
  });

  test("a deleted key (a delete marker in a versioned bucket) takes If-None-Match: * again", async () => {
    const { client } = gateway;
    await client.send(new PutObjectCommand({ Bucket: "versioned", Key: "again", Body: "one" }));
    await client.send(new DeleteObjectCommand({ Bucket: "versioned", Key: "again" }));
    await client.send(new PutObjectCommand({ Bucket: "versioned", Key: "again", Body: "two", IfNoneMatch: "*" }));
    expect(text(gateway.backend.storedBytes("versioned", "again"))).toBe("two");
  });

  test("an idempotent retry of a conditional PUT gets its first answer; If-None-Match with an ETag is 501", async () => {
    const headers = { "x-cairn-idempotency-token": "retry-1", "if-none-match": "*" };
    const first = await gateway.signedFetch({ method: "PUT", rawPath: "/cond/retried", body: "body", headers });
    const retry = await gateway.signedFetch({ method: "PUT", rawPath: "/cond/retried", body: "body", headers });
    expect([first.status, retry.status]).toEqual([200, 200]);
    expect(retry.headers.get("etag")).toBe(first.headers.get("etag"));
    const other = await gateway.signedFetch({ method: "PUT", rawPath: "/cond/retried", body: "body", headers: { ...headers, "x-cairn-idempotency-token": "retry-2" } });
    expect(other.status).toBe(412);
    const etagValued = await gateway.signedFetch({ method: "PUT", rawPath: "/cond/x", body: "b", headers: { "if-none-match": `"${md5Hex("b")}"` } });
    expect(etagValued.status).toBe(501);
    expect(gateway.backend.storedBytes("cond", "x")).toBeUndefined();
  });

  test("16 clients racing If-None-Match: * on one key: one 200, fifteen 412, the winner's bytes stored", async () => {
    const seed = Number(process.env.CAIRN_SEED ?? 911);
    console.log(`conditional-handler race seed=${seed} (CAIRN_SEED=${seed} to replay)`);
    const clients = Array.from(
      { length: 16 },
      () => new S3Client({ endpoint: gateway.endpoint, region: testRegion, forcePathStyle: true, credentials: { ...testCredentials }, maxAttempts: 1 }),
    );
    try {
      for (let round = 0; round < 3; round += 1) {
        const key = `race-${seed}-${round}`;
        const outcomes = await Promise.all(
          clients.map(async (client, index) => {
            const body = `writer ${index} of round ${round} (seed ${seed}) `.repeat(1 + ((seed + index) % 50));
            try {
              await client.send(new PutObjectCommand({ Bucket: "cond", Key: key, Body: body, IfNoneMatch: "*" }));
              return { status: 200, body };
            } catch (error) {
              if (error instanceof S3ServiceException) return { status: error.$metadata.httpStatusCode, body };
              throw error;
            }
          }),
        );
        const winners = outcomes.filter((outcome) => outcome.status === 200);
        expect(winners.length).toBe(1);
        expect(outcomes.filter((outcome) => outcome.status === 412).length).toBe(15);
        expect(text(gateway.backend.storedBytes("cond", key))).toBe(winners[0]!.body);
      }
    } finally {
      for (const client of clients) client.destroy();
    }
  });
});

describe("conditional reads (GetObject, HeadObject)", () => {
  test("304 and 412 as the SDK surfaces them, by ETag and by date", async () => {
    const { client } = gateway;
    const put = await client.send(new PutObjectCommand({ Bucket: "cond", Key: "read", Body: "readable" }));
    const head = await client.send(new HeadObjectCommand({ Bucket: "cond", Key: "read" }));
    const lastModified = head.LastModified!;
    const later = new Date(lastModified.getTime() + 60_000);
    const earlier = new Date(lastModified.getTime() - 60_000);

    // The SDK has no modelled error for a 304 (its name reads "Unknown" or "304"): the status is what it surfaces.
    expect((await failure(client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfNoneMatch: put.ETag }))))[1]).toBe(304);
    expect((await failure(client.send(new HeadObjectCommand({ Bucket: "cond", Key: "read", IfNoneMatch: put.ETag }))))[1]).toBe(304);
    expect((await failure(client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfModifiedSince: later }))))[1]).toBe(304);
    expect(await failure(client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfMatch: '"0000"' })))).toEqual(["PreconditionFailed", 412]);
    expect((await failure(client.send(new HeadObjectCommand({ Bucket: "cond", Key: "read", IfMatch: '"0000"' }))))[1]).toBe(412);
    expect(await failure(client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfUnmodifiedSince: earlier })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    // Precedence: a matching If-Match beats a failing If-Unmodified-Since; If-None-Match beats If-Modified-Since.
    const both = await client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfMatch: put.ETag, IfUnmodifiedSince: earlier }));
    expect(await both.Body?.transformToString()).toBe("readable");
    const noneMatch = await client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfNoneMatch: '"0000"', IfModifiedSince: later }));
    expect(await noneMatch.Body?.transformToString()).toBe("readable");
    const modified = await client.send(new GetObjectCommand({ Bucket: "cond", Key: "read", IfModifiedSince: earlier }));
    expect(await modified.Body?.transformToString()).toBe("readable");
  });

  test("a 304 has no body and carries ETag and Last-Modified", async () => {
    await gateway.client.send(new PutObjectCommand({ Bucket: "cond", Key: "raw304", Body: "raw" }));
    const etag = `"${md5Hex("raw")}"`;
    const response = await gateway.signedFetch({ method: "GET", rawPath: "/cond/raw304", headers: { "if-none-match": `W/${etag}, "other"` } });
    expect(response.status).toBe(304);
    expect(response.headers.get("etag")).toBe(etag);
    expect(response.headers.get("last-modified")).toBeString();
    expect(await response.text()).toBe("");
  });
});

describe("If-Range", () => {
  test("a Range with a stale If-Range gets the whole object (200); with the current ETag, the range (206)", async () => {
    const put = await gateway.client.send(new PutObjectCommand({ Bucket: "cond", Key: "ranged", Body: "0123456789" }));
    // The SDK has no If-Range parameter: raw requests.
    const partial = await gateway.signedFetch({ method: "GET", rawPath: "/cond/ranged", headers: { range: "bytes=2-4", "if-range": put.ETag! } });
    expect([partial.status, await partial.text()]).toEqual([206, "234"]);
    const lastModified = partial.headers.get("last-modified")!;
    const stale = await gateway.signedFetch({ method: "GET", rawPath: "/cond/ranged", headers: { range: "bytes=2-4", "if-range": '"0000"' } });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe("0123456789");
    const byDate = await gateway.signedFetch({
      method: "GET",
      rawPath: "/cond/ranged",
      headers: { range: "bytes=2-4", "if-range": lastModified },
    });
    expect([byDate.status, await byDate.text()]).toEqual([206, "234"]);
  });
});

describe("CopyObject", () => {
  test("COPY (default) keeps the source's headers and metadata; the reply is CopyObjectResult", async () => {
    const { client } = gateway;
    const body = "copied bytes ".repeat(500); // 6,500 bytes: seven read chunks
    await client.send(
      new PutObjectCommand({ Bucket: "copy", Key: "source", Body: body, ContentType: "text/plain", CacheControl: "max-age=60", Metadata: { colour: "blue" } }),
    );
    const copied = await client.send(
      new CopyObjectCommand({ Bucket: "copy", Key: "dest", CopySource: "copy/source", ContentType: "ignored/by-copy", Metadata: { ignored: "yes" } }),
    );
    expect(copied.CopyObjectResult?.ETag).toBe(`"${md5Hex(body)}"`);
    expect(copied.CopyObjectResult?.LastModified).toBeInstanceOf(Date);
    expect(copied.VersionId).toBeUndefined();
    expect(copied.CopySourceVersionId).toBeUndefined();
    const head = await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "dest" }));
    expect([head.ContentType, head.CacheControl, head.Metadata]).toEqual(["text/plain", "max-age=60", { colour: "blue" }]);
    expect(text(gateway.backend.storedBytes("copy", "dest"))).toBe(body);
  });

  test("REPLACE takes the request's headers and metadata; the storage class defaults to STANDARD", async () => {
    const { client } = gateway;
    await client.send(new PutObjectCommand({ Bucket: "copy", Key: "cold", Body: "x", StorageClass: "STANDARD_IA", Metadata: { a: "1" } }));
    await client.send(
      new CopyObjectCommand({ Bucket: "copy", Key: "replaced", CopySource: "/copy/cold", MetadataDirective: "REPLACE", ContentType: "application/json", Metadata: { b: "2" } }),
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "replaced" }));
    expect([head.ContentType, head.Metadata, head.StorageClass]).toEqual(["application/json", { b: "2" }, undefined]);
    const kept = await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "still-cold", CopySource: "copy/cold", StorageClass: "STANDARD_IA" }));
    expect(kept.CopyObjectResult?.ETag).toBe(`"${md5Hex("x")}"`);
    expect((await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "still-cold" }))).StorageClass).toBe("STANDARD_IA");
  });

  test("x-amz-copy-source-if-*: every failed condition is 412 and nothing is written", async () => {
    const { client } = gateway;
    const put = await client.send(new PutObjectCommand({ Bucket: "copy", Key: "guarded", Body: "guarded" }));
    const { LastModified: lastModified } = await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "guarded" }));
    const later = new Date(lastModified!.getTime() + 60_000);
    const earlier = new Date(lastModified!.getTime() - 60_000);
    const base = { Bucket: "copy", Key: "guarded-copy", CopySource: "copy/guarded" };
    for (const conditions of [
      { CopySourceIfMatch: '"0000"' },
      { CopySourceIfNoneMatch: put.ETag },
      { CopySourceIfModifiedSince: later },
      { CopySourceIfUnmodifiedSince: earlier },
    ]) {
      expect(await failure(client.send(new CopyObjectCommand({ ...base, ...conditions })))).toEqual(["PreconditionFailed", 412]);
    }
    expect(gateway.backend.storedBytes("copy", "guarded-copy")).toBeUndefined();
    await client.send(new CopyObjectCommand({ ...base, CopySourceIfMatch: put.ETag, CopySourceIfUnmodifiedSince: earlier }));
    await client.send(new CopyObjectCommand({ ...base, Key: "guarded-2", CopySourceIfNoneMatch: '"0000"', CopySourceIfModifiedSince: later }));
    expect(text(gateway.backend.storedBytes("copy", "guarded-2"))).toBe("guarded");
  });

  test("destination conditions: If-None-Match: * on an existing key is 412, If-Match with its ETag copies", async () => {
    const { client } = gateway;
    await client.send(new PutObjectCommand({ Bucket: "copy", Key: "new-bytes", Body: "new" }));
    const existing = await client.send(new PutObjectCommand({ Bucket: "copy", Key: "taken", Body: "old" }));
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "taken", CopySource: "copy/new-bytes", IfNoneMatch: "*" })))).toEqual([
      "PreconditionFailed",
      412,
    ]);
    expect(text(gateway.backend.storedBytes("copy", "taken"))).toBe("old");
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "taken", CopySource: "copy/new-bytes", IfMatch: existing.ETag }));
    expect(text(gateway.backend.storedBytes("copy", "taken"))).toBe("new");
  });

  test("errors: missing source key or bucket, missing destination bucket, bad copy source, bad directive, a copy onto itself", async () => {
    const { client } = gateway;
    await client.send(new PutObjectCommand({ Bucket: "copy", Key: "self", Body: "self", Metadata: { v: "1" } }));
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "copy/nothing" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "no-such-bucket/self" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "no-such-bucket", Key: "d", CopySource: "copy/self" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "copy" })))).toEqual(["InvalidArgument", 400]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "copy/%zz" })))).toEqual(["InvalidArgument", 400]);
    const directive = await gateway.signedFetch({ method: "PUT", rawPath: "/copy/d", headers: { "x-amz-copy-source": "copy/self", "x-amz-metadata-directive": "MERGE" } });
    expect([directive.status, await errorCode(directive)]).toEqual([400, "InvalidArgument"]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "self", CopySource: "copy/self" })))).toEqual(["InvalidRequest", 400]);
    // Changing the metadata (REPLACE) or the storage class makes a copy onto itself legal.
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "self", CopySource: "copy/self", MetadataDirective: "REPLACE", Metadata: { v: "2" } }));
    expect((await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "self" }))).Metadata).toEqual({ v: "2" });
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "self", CopySource: "copy/self", StorageClass: "STANDARD_IA" }));
    expect((await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "self" }))).StorageClass).toBe("STANDARD_IA");
    expect(gateway.backend.storedBytes("copy", "d")).toBeUndefined();
  });

  test("URL-encoded source keys with spaces, slashes and non-ASCII characters", async () => {
    const { client } = gateway;
    const key = "dir one/ünïcødé + plus?.txt";
    await client.send(new PutObjectCommand({ Bucket: "copy", Key: key, Body: "encoded" }));
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "decoded", CopySource: `copy/${encodeURIComponent(key)}` }));
    expect(text(gateway.backend.storedBytes("copy", "decoded"))).toBe("encoded");
  });

  test("versions: a named source version, the version headers, a delete marker by id is InvalidRequest", async () => {
    const { client } = gateway;
    const v1 = await client.send(new PutObjectCommand({ Bucket: "versioned", Key: "doc", Body: "version one" }));
    await client.send(new PutObjectCommand({ Bucket: "versioned", Key: "doc", Body: "version two" }));
    const copied = await client.send(new CopyObjectCommand({ Bucket: "versioned", Key: "doc", CopySource: `versioned/doc?versionId=${v1.VersionId}` }));
    expect(copied.CopySourceVersionId).toBe(v1.VersionId);
    expect(copied.VersionId).toBeString();
    expect(copied.VersionId).not.toBe(v1.VersionId);
    expect(text(gateway.backend.storedBytes("versioned", "doc"))).toBe("version one");
    const marker = await client.send(new DeleteObjectCommand({ Bucket: "versioned", Key: "doc" }));
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "versioned/doc" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: `versioned/doc?versionId=${marker.VersionId}` })))).toEqual([
      "InvalidRequest",
      400,
    ]);
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "d", CopySource: "versioned/doc?versionId=nope!" })))).toEqual([
      "InvalidArgument",
      400,
    ]);
    // An unversioned destination from a versioned source: only the source's version id is shown.
    const across = await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "from-versioned", CopySource: `versioned/doc?versionId=${v1.VersionId}` }));
    expect([across.CopySourceVersionId, across.VersionId]).toEqual([v1.VersionId, undefined]);
  });

  test("checksums: the source's is recomputed and kept, one can be asked for, corrupt source data stores nothing", async () => {
    const { client } = gateway;
    const body = "checksummed ".repeat(300);
    const put = await client.send(new PutObjectCommand({ Bucket: "copy", Key: "summed", Body: body, ChecksumAlgorithm: "SHA256" }));
    const copied = await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "summed-copy", CopySource: "copy/summed" }));
    expect(copied.CopyObjectResult?.ChecksumSHA256).toBe(put.ChecksumSHA256);
    const head = await client.send(new HeadObjectCommand({ Bucket: "copy", Key: "summed-copy", ChecksumMode: "ENABLED" }));
    expect(head.ChecksumSHA256).toBe(put.ChecksumSHA256);
    const asked = await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "summed-crc", CopySource: "copy/summed", ChecksumAlgorithm: "CRC32C" }));
    expect(asked.CopyObjectResult?.ChecksumCRC32C).toBeString();
    // Flip a byte of the stored source: its bytes no longer match the checksum it was uploaded with.
    const stored = gateway.backend.storedBytes("copy", "summed")!;
    stored[5] = stored[5]! ^ 0xff;
    expect(await failure(client.send(new CopyObjectCommand({ Bucket: "copy", Key: "summed-bad", CopySource: "copy/summed" })))).toEqual(["InternalError", 500]);
    expect(gateway.backend.storedBytes("copy", "summed-bad")).toBeUndefined();
  });

  test("x-amz-tagging-directive: COPY (the default) keeps the source's tags whatever x-amz-tagging says; REPLACE takes x-amz-tagging's, or none", async () => {
    const client = gateway.client;
    await client.send(new PutObjectCommand({ Bucket: "copy", Key: "tagged", Body: "tagged", Tagging: "colour=blue&size=small" }));
    const tagsOf = async (key: string): Promise<Record<string, string>> =>
      Object.fromEntries(((await client.send(new GetObjectTaggingCommand({ Bucket: "copy", Key: key }))).TagSet ?? []).map((tag) => [tag.Key!, tag.Value!]));
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "tags-default", CopySource: "copy/tagged" }));
    expect(await tagsOf("tags-default")).toEqual({ colour: "blue", size: "small" });
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "tags-copy", CopySource: "copy/tagged", TaggingDirective: "COPY", Tagging: "ignored=yes" }));
    expect(await tagsOf("tags-copy")).toEqual({ colour: "blue", size: "small" });
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "tags-replaced", CopySource: "copy/tagged", TaggingDirective: "REPLACE", Tagging: "colour=red&new=a%20b" }));
    expect(await tagsOf("tags-replaced")).toEqual({ colour: "red", new: "a b" });
    await client.send(new CopyObjectCommand({ Bucket: "copy", Key: "tags-none", CopySource: "copy/tagged", TaggingDirective: "REPLACE" }));
    expect(await tagsOf("tags-none")).toEqual({});
    // Checked before anything is read or stored.
    const unknown = await gateway.signedFetch({ method: "PUT", rawPath: "/copy/tags-bad", headers: { "x-amz-copy-source": "copy/tagged", "x-amz-tagging-directive": "MERGE" } });
    expect(unknown.status).toBe(400);
    expect(await errorCode(unknown)).toBe("InvalidArgument");
    const malformed = await gateway.signedFetch({
      method: "PUT",
      rawPath: "/copy/tags-bad",
      headers: { "x-amz-copy-source": "copy/tagged", "x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "a=1&a=2" },
    });
    expect(malformed.status).toBe(400);
    expect(gateway.backend.storedBytes("copy", "tags-bad")).toBeUndefined();
    // The source keeps its own.
    expect(await tagsOf("tagged")).toEqual({ colour: "blue", size: "small" });
  });
});
