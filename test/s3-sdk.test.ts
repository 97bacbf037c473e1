/**
 * The real server process driven by the AWS SDK for JavaScript v3 with its
 * default settings (checksums, streaming): the everyday operations of issue 2.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { patternBytes } from "./support/bytes.ts";

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

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { name: string }).name;
  }
  return "no error";
}


describe("AWS SDK v3 against the real server", () => {
  test("bucket lifecycle", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-life" }));
    const listed = await s3.send(new ListBucketsCommand({}));
    expect(listed.Buckets?.map((bucket) => bucket.Name)).toContain("sdk-life");
    await s3.send(new HeadBucketCommand({ Bucket: "sdk-life" }));
    expect(await errorName(s3.send(new CreateBucketCommand({ Bucket: "sdk-life" })))).toBe("BucketAlreadyOwnedByYou");
    await s3.send(new PutObjectCommand({ Bucket: "sdk-life", Key: "x", Body: "x" }));
    expect(await errorName(s3.send(new DeleteBucketCommand({ Bucket: "sdk-life" })))).toBe("BucketNotEmpty");
    await s3.send(new DeleteObjectCommand({ Bucket: "sdk-life", Key: "x" }));
    await s3.send(new DeleteBucketCommand({ Bucket: "sdk-life" }));
    expect(await errorName(s3.send(new HeadBucketCommand({ Bucket: "sdk-life" })))).toBe("NotFound");
    expect(await errorName(s3.send(new DeleteBucketCommand({ Bucket: "sdk-life" })))).toBe("NoSuchBucket");
  });

  test("put, get, head with metadata and standard headers", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-objects" }));
    const body = patternBytes(3 * 1024 * 1024 + 17, 7);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: "sdk-objects",
        Key: "dir/file.bin",
        Body: body,
        ContentType: "application/x-test",
        CacheControl: "max-age=60",
        ContentDisposition: 'attachment; filename="f.bin"',
        Metadata: { color: "blue", "long-name": "value with spaces" },
      }),
    );
    const md5 = createHash("md5").update(body).digest("hex");
    expect(put.ETag).toBe(`"${md5}"`);

    const head = await s3.send(new HeadObjectCommand({ Bucket: "sdk-objects", Key: "dir/file.bin" }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ContentType).toBe("application/x-test");
    expect(head.CacheControl).toBe("max-age=60");
    expect(head.ContentDisposition).toBe('attachment; filename="f.bin"');
    expect(head.Metadata).toEqual({ color: "blue", "long-name": "value with spaces" });
    expect(head.ETag).toBe(`"${md5}"`);

    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-objects", Key: "dir/file.bin" }));
    const bytes = await got.Body!.transformToByteArray();
    expect(createHash("md5").update(bytes).digest("hex")).toBe(md5);
  });

  test("ranges: closed, open, suffix, across shard boundaries, unsatisfiable", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-ranges" }));
    const body = patternBytes(2 * 1024 * 1024 + 5, 11);
    await s3.send(new PutObjectCommand({ Bucket: "sdk-ranges", Key: "r", Body: body }));
    const cases: [string, number, number][] = [
      ["bytes=0-0", 0, 1],
      ["bytes=10-99", 10, 100],
      [`bytes=${1024 * 1024 - 3}-${1024 * 1024 + 3}`, 1024 * 1024 - 3, 1024 * 1024 + 4],
      [`bytes=${2 * 1024 * 1024}-`, 2 * 1024 * 1024, body.length],
      ["bytes=-7", body.length - 7, body.length],
      [`bytes=5-${body.length + 100}`, 5, body.length],
    ];
    for (const [range, start, end] of cases) {
      const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-ranges", Key: "r", Range: range }));
      expect(got.$metadata.httpStatusCode).toBe(206);
      expect(got.ContentRange).toBe(`bytes ${start}-${end - 1}/${body.length}`);
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.from(body.subarray(start, end)))).toBe(true);
    }
    expect(await errorName(s3.send(new GetObjectCommand({ Bucket: "sdk-ranges", Key: "r", Range: `bytes=${body.length}-` })))).toBe("InvalidRange");
  });

  test("list with prefix, delimiter and pagination (v1 and v2)", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-list" }));
    const keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y", "e"];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: "sdk-list", Key: key, Body: key }));

    const all = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-list" }));
    expect(all.Contents?.map((item) => item.Key)).toEqual(keys);
    expect(all.KeyCount).toBe(keys.length);

    const rolled = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-list", Delimiter: "/" }));
    expect(rolled.Contents?.map((item) => item.Key)).toEqual(["c", "e"]);
    expect(rolled.CommonPrefixes?.map((item) => item.Prefix)).toEqual(["a/", "b/", "d/"]);

    const underA = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-list", Prefix: "a/", Delimiter: "/" }));
    expect(underA.Contents?.map((item) => item.Key)).toEqual(["a/1", "a/2"]);
    expect(underA.CommonPrefixes?.map((item) => item.Prefix)).toEqual(["a/b/"]);

    // Pages of two entries, with a delimiter, reassemble the whole listing.
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-list", Delimiter: "/", MaxKeys: 2, ContinuationToken: token }));
      seen.push(...(listed.Contents ?? []).map((item) => item.Key!), ...(listed.CommonPrefixes ?? []).map((item) => item.Prefix!));
      if (!listed.IsTruncated) break;
      token = listed.NextContinuationToken;
    }
    expect(seen.sort()).toEqual(["a/", "b/", "c", "d/", "e"]);

    const v1 = await s3.send(new ListObjectsCommand({ Bucket: "sdk-list", Marker: "a/b/3", MaxKeys: 2 }));
    expect(v1.Contents?.map((item) => item.Key)).toEqual(["b/1", "c"]);
    expect(v1.IsTruncated).toBe(true);

    const after = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-list", StartAfter: "c" }));
    expect(after.Contents?.map((item) => item.Key)).toEqual(["d/x/y", "e"]);
  });

  test("overwrite and delete; deleted keys stay gone", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-overwrite" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-overwrite", Key: "k", Body: "first" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-overwrite", Key: "k", Body: "second, longer" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-overwrite", Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("second, longer");
    await s3.send(new DeleteObjectCommand({ Bucket: "sdk-overwrite", Key: "k" }));
    expect(await errorName(s3.send(new GetObjectCommand({ Bucket: "sdk-overwrite", Key: "k" })))).toBe("NoSuchKey");
    // Deleting a missing key succeeds, as in S3.
    await s3.send(new DeleteObjectCommand({ Bucket: "sdk-overwrite", Key: "k" }));
  });

  test("DeleteObjects removes many keys at once", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-multi-delete" }));
    for (let index = 0; index < 5; index += 1) {
      await s3.send(new PutObjectCommand({ Bucket: "sdk-multi-delete", Key: `k${index}`, Body: String(index) }));
    }
    const deleted = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "sdk-multi-delete",
        Delete: { Objects: [{ Key: "k0" }, { Key: "k1" }, { Key: "k3" }, { Key: "never-existed" }] },
      }),
    );
    expect(deleted.Deleted?.map((item) => item.Key).sort()).toEqual(["k0", "k1", "k3", "never-existed"]);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-multi-delete" }));
    expect(left.Contents?.map((item) => item.Key)).toEqual(["k2", "k4"]);
  });

  test("empty objects and unicode keys", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-edge" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-edge", Key: "empty", Body: new Uint8Array(0) }));
    const empty = await s3.send(new GetObjectCommand({ Bucket: "sdk-edge", Key: "empty" }));
    expect((await empty.Body!.transformToByteArray()).length).toBe(0);
    expect(empty.ETag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
    const key = "répertoire/ファイル name+plus%percent?.txt";
    await s3.send(new PutObjectCommand({ Bucket: "sdk-edge", Key: key, Body: "unicode" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-edge", Key: key }));
    expect(await got.Body!.transformToString()).toBe("unicode");
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-edge", Prefix: "répertoire/" }));
    expect(listed.Contents?.map((item) => item.Key)).toEqual([key]);
  });

  test("virtual-hosted-style addressing", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-vhost" }));
    // The SDK puts the bucket in the host name; 127.0.0.1 cannot carry it, so
    // point it at localhost, which the server serves as a virtual-host domain.
    // `sdk-vhost.localhost` need not resolve on every machine: the request keeps
    // its Host header (and its signature over it) but is sent to 127.0.0.1.
    const client = new S3Client({
      endpoint: server.endpoint.replace("127.0.0.1", "localhost"),
      region: "us-east-1",
      forcePathStyle: false,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      maxAttempts: 1,
    });
    const seenHosts: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { hostname: string; port?: number; headers: Record<string, string> };
        request.headers.host ??= `${request.hostname}${request.port === undefined ? "" : `:${request.port}`}`;
        seenHosts.push(request.headers.host);
        request.hostname = "127.0.0.1";
        return next(args);
      },
      { step: "build", priority: "low", name: "connectToLoopback" },
    );
    await client.send(new PutObjectCommand({ Bucket: "sdk-vhost", Key: "v/h", Body: "virtual" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-vhost", Key: "v/h" }));
    expect(await got.Body!.transformToString()).toBe("virtual");
    expect(seenHosts).toEqual([`sdk-vhost.localhost:${new URL(server.endpoint).port}`]);
    client.destroy();
  });

  test("storage classes: the configured ones are stored and reported, the others refused", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-classes" }));
    const body = new Uint8Array(6 * 1024 * 1024).map((_, index) => (index * 7) & 0xff);
    // Coded (above the replication threshold) under REDUCED_REDUNDANCY = 4+1.
    await s3.send(new PutObjectCommand({ Bucket: "sdk-classes", Key: "reduced", Body: body, StorageClass: "REDUCED_REDUNDANCY" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-classes", Key: "standard", Body: "small" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: "sdk-classes", Key: "reduced" }));
    expect(head.StorageClass).toBe("REDUCED_REDUNDANCY");
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-classes", Key: "reduced" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.from(body))).toBe(true);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "sdk-classes" }));
    expect(listed.Contents?.map((item) => [item.Key, item.StorageClass])).toEqual([
      ["reduced", "REDUCED_REDUNDANCY"],
      ["standard", "STANDARD"],
    ]);
    // GLACIER is a class S3 knows, but this store is not configured for it.
    expect(await errorName(s3.send(new PutObjectCommand({ Bucket: "sdk-classes", Key: "cold", Body: "x", StorageClass: "GLACIER" })))).toBe("InvalidStorageClass");
    expect(await errorName(s3.send(new HeadObjectCommand({ Bucket: "sdk-classes", Key: "cold" })))).toBe("NotFound");
  });

  test("a wrong secret is refused and changes nothing", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-auth" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-auth", Key: "k", Body: "original" }));
    const wrong = sdkClient(server, { secretAccessKey: "not-the-secret" });
    expect(await errorName(wrong.send(new PutObjectCommand({ Bucket: "sdk-auth", Key: "k", Body: "evil" })))).toBe("SignatureDoesNotMatch");
    wrong.destroy();
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-auth", Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("original");
  });
});
