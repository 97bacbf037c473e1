/**
 * Object and bucket tagging and CORS on the real server process (the
 * cluster's ObjectBackend: tags through the key's BucketPartition actor,
 * bucket configuration in the metadata store), driven by the AWS SDK for
 * JavaScript v3, raw fetch preflights (browsers never sign them) and the
 * AWS CLI's s3api.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetBucketCorsCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { awsCli, sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { signedFetch } from "./support/signer.ts";
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

function expectOk(result: { code: number | null; stdout: string; stderr: string }): void {
  if (result.code !== 0) throw new Error(`aws exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

describe("object tagging on the real server", () => {
  test("PutObject with Tagging; Get/Put/DeleteObjectTagging; the tag count on GET and HEAD", async () => {
    const Bucket = "tags-real";
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: "dir/k.txt", Body: "tagged body", Tagging: "project=cairn&note=two%20words" }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "dir/k.txt" }))).TagSet).toEqual([
      { Key: "project", Value: "cairn" },
      { Key: "note", Value: "two words" },
    ]);
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: "dir/k.txt" }));
    expect(got.TagCount).toBe(2);
    expect(await got.Body!.transformToString()).toBe("tagged body");
    const head = await signedFetch(server, { method: "HEAD", path: `/${Bucket}/dir/k.txt` });
    expect(head.headers.get("x-amz-tagging-count")).toBe("2");

    await s3.send(new PutObjectTaggingCommand({ Bucket, Key: "dir/k.txt", Tagging: { TagSet: [{ Key: "ü", Value: "日本 語" }] } }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "dir/k.txt" }))).TagSet).toEqual([{ Key: "ü", Value: "日本 語" }]);
    // The partition actor's cache serves HEAD: it must show the new count at once.
    const cachedHead = await signedFetch(server, { method: "HEAD", path: `/${Bucket}/dir/k.txt` });
    expect(cachedHead.headers.get("x-amz-tagging-count")).toBe("1");
    expect((await s3.send(new HeadObjectCommand({ Bucket, Key: "dir/k.txt" }))).ETag).toBe(got.ETag);

    await s3.send(new DeleteObjectTaggingCommand({ Bucket, Key: "dir/k.txt" }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "dir/k.txt" }))).TagSet).toEqual([]);
    expect((await s3.send(new GetObjectCommand({ Bucket, Key: "dir/k.txt" }))).TagCount).toBeUndefined();
    expect(await failure(s3.send(new PutObjectCommand({ Bucket, Key: "bad", Body: "x", Tagging: "a=%23" })))).toEqual(["InvalidTag", 400]);
    expect(await failure(s3.send(new GetObjectTaggingCommand({ Bucket, Key: "bad" })))).toEqual(["NoSuchKey", 404]);
  });

  test("a versioned bucket: tags per version, with and without VersionId; a delete marker", async () => {
    const Bucket = "tags-real-versioned";
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }));
    const first = await s3.send(new PutObjectCommand({ Bucket, Key: "k", Body: "one", Tagging: "v=1" }));
    const second = await s3.send(new PutObjectCommand({ Bucket, Key: "k", Body: "two" }));
    const current = await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }));
    expect(current.VersionId).toBe(second.VersionId);
    expect(current.TagSet).toEqual([]);
    const byId = await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }));
    expect([byId.VersionId, byId.TagSet]).toEqual([first.VersionId, [{ Key: "v", Value: "1" }]]);

    const put = await s3.send(new PutObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId, Tagging: { TagSet: [{ Key: "old", Value: "yes" }] } }));
    expect(put.VersionId).toBe(first.VersionId);
    const putCurrent = await s3.send(new PutObjectTaggingCommand({ Bucket, Key: "k", Tagging: { TagSet: [{ Key: "new", Value: "yes" }] } }));
    expect(putCurrent.VersionId).toBe(second.VersionId);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }))).TagSet).toEqual([{ Key: "old", Value: "yes" }]);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }))).TagSet).toEqual([{ Key: "new", Value: "yes" }]);
    const deleted = await s3.send(new DeleteObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }));
    expect(deleted.VersionId).toBe(first.VersionId);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }))).TagSet).toEqual([]);

    const marker = await s3.send(new DeleteObjectCommand({ Bucket, Key: "k" }));
    expect(await failure(s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: marker.VersionId })))).toEqual(["MethodNotAllowed", 405]);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: second.VersionId }))).TagSet).toEqual([{ Key: "new", Value: "yes" }]);
  });

  test("aws s3api put-object-tagging and get-object-tagging", async () => {
    const Bucket = "tags-real-cli";
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: "cli.txt", Body: "cli" }));
    expectOk(await awsCli(server, ["s3api", "put-object-tagging", "--bucket", Bucket, "--key", "cli.txt", "--tagging", "TagSet=[{Key=owner,Value=cli},{Key=tier,Value=gold}]"]));
    const listed = await awsCli(server, ["s3api", "get-object-tagging", "--bucket", Bucket, "--key", "cli.txt", "--output", "json"]);
    expectOk(listed);
    expect((JSON.parse(listed.stdout) as { TagSet: unknown }).TagSet).toEqual([{ Key: "owner", Value: "cli" }, { Key: "tier", Value: "gold" }]);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: "cli.txt" }))).TagSet).toHaveLength(2);
    const refused = await awsCli(server, ["s3api", "put-object-tagging", "--bucket", Bucket, "--key", "cli.txt", "--tagging", "TagSet=[{Key=a,Value=1},{Key=a,Value=2}]"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("InvalidTag");
  }, 60_000);
});

describe("bucket tagging on the real server", () => {
  test("NoSuchTagSet, put, replace, delete", async () => {
    const Bucket = "bucket-tags-real";
    await s3.send(new CreateBucketCommand({ Bucket }));
    expect(await failure(s3.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
    await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: "team", Value: "storage" }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet).toEqual([{ Key: "team", Value: "storage" }]);
    const fifty = Array.from({ length: 50 }, (_, index) => ({ Key: `key-${index}`, Value: "日".repeat(256) }));
    await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: fifty } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet).toEqual(fifty);
    await s3.send(new DeleteBucketTaggingCommand({ Bucket }));
    expect(await failure(s3.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
  });
});

describe("CORS on the real server", () => {
  const Bucket = "cors-real";
  const origin = "https://app.example.com";

  function preflight(path: string, headers: Record<string, string>): Promise<Response> {
    return fetch(`${server.endpoint}${path}`, { method: "OPTIONS", headers });
  }

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutObjectCommand({ Bucket, Key: "index.html", Body: "<h1>cairn</h1>" }));
  });

  test("no configuration: NoSuchCORSConfiguration, and preflights are 403", async () => {
    expect(await failure(s3.send(new GetBucketCorsCommand({ Bucket })))).toEqual(["NoSuchCORSConfiguration", 404]);
    const refused = await preflight(`/${Bucket}/index.html`, { origin, "access-control-request-method": "GET" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("<Code>AccessForbidden</Code>");
  });

  test("PutBucketCors with the SDK, get-bucket-cors with the AWS CLI, preflights and headers on signed replies", async () => {
    await s3.send(
      new PutBucketCorsCommand({
        Bucket,
        CORSConfiguration: {
          CORSRules: [
            { ID: "uploads", AllowedOrigins: [origin], AllowedMethods: ["PUT", "GET"], AllowedHeaders: ["*"], ExposeHeaders: ["ETag", "x-amz-request-id"], MaxAgeSeconds: 3000 },
            { AllowedOrigins: ["*"], AllowedMethods: ["GET", "HEAD"] },
          ],
        },
      }),
    );
    const cli = await awsCli(server, ["s3api", "get-bucket-cors", "--bucket", Bucket, "--output", "json"]);
    expectOk(cli);
    expect((JSON.parse(cli.stdout) as { CORSRules: unknown }).CORSRules).toEqual([
      { ID: "uploads", AllowedHeaders: ["*"], AllowedMethods: ["PUT", "GET"], AllowedOrigins: [origin], ExposeHeaders: ["ETag", "x-amz-request-id"], MaxAgeSeconds: 3000 },
      { AllowedMethods: ["GET", "HEAD"], AllowedOrigins: ["*"] },
    ]);

    const allowed = await preflight(`/${Bucket}/upload.bin`, {
      origin,
      "access-control-request-method": "PUT",
      "access-control-request-headers": "content-type,x-amz-content-sha256",
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(origin);
    expect(allowed.headers.get("access-control-allow-methods")).toBe("PUT, GET");
    expect(allowed.headers.get("access-control-allow-headers")).toBe("content-type, x-amz-content-sha256");
    expect(allowed.headers.get("access-control-max-age")).toBe("3000");
    expect(allowed.headers.get("access-control-expose-headers")).toBe("ETag, x-amz-request-id");
    await allowed.arrayBuffer();

    const anyOrigin = await preflight(`/${Bucket}/index.html`, { origin: "https://other.example.net", "access-control-request-method": "GET" });
    expect(anyOrigin.status).toBe(200);
    expect(anyOrigin.headers.get("access-control-allow-origin")).toBe("*");
    await anyOrigin.arrayBuffer();

    const disallowed = await preflight(`/${Bucket}/upload.bin`, { origin: "https://other.example.net", "access-control-request-method": "PUT" });
    expect(disallowed.status).toBe(403);
    expect(await disallowed.text()).toContain("CORSResponse: This CORS request is not allowed.");

    const signed = await signedFetch(server, { method: "GET", path: `/${Bucket}/index.html`, headers: { origin } });
    expect(signed.status).toBe(200);
    expect(signed.headers.get("access-control-allow-origin")).toBe(origin);
    expect(signed.headers.get("access-control-expose-headers")).toBe("ETag, x-amz-request-id");
    expect(await signed.text()).toBe("<h1>cairn</h1>");
 }, 60_000);

  test("DeleteBucketCors: the configuration is gone and preflights are refused again", async () => {
    await s3.send(new DeleteBucketCorsCommand({ Bucket }));
    expect(await failure(s3.send(new GetBucketCorsCommand({ Bucket })))).toEqual(["NoSuchCORSConfiguration", 404]);
    const refused = await preflight(`/${Bucket}/index.html`, { origin, "access-control-request-method": "GET" });
    expect(refused.status).toBe(403);
    await refused.arrayBuffer();
  });
});
