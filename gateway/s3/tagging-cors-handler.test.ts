/**
 * Object and bucket tagging and CORS through the whole S3 core (serveBun +
 * createS3Handler over the memory backend): the AWS SDK for what it sends,
 * signed and unsigned fetches for the rest (preflights are never signed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
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
} from "@aws-sdk/client-s3";
import { startTestGateway, type TestGateway } from "../testing/test-gateway.ts";
import { errorCodeOf as codeOf, failure } from "../testing/sdk-failure.ts";

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.stop();
});

describe("object tagging", () => {
  test("PutObject with x-amz-tagging; Get/Put/DeleteObjectTagging; x-amz-tagging-count on GET and HEAD", async () => {
    const Bucket = "tags-plain";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "hello", Tagging: "project=cairn&stage=a%20b" }));
    const tagged = await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }));
    expect(tagged.TagSet).toEqual([{ Key: "project", Value: "cairn" }, { Key: "stage", Value: "a b" }]);
    // An unversioned bucket shows no version id.
    expect(tagged.VersionId).toBeUndefined();
    const got = await gateway.client.send(new GetObjectCommand({ Bucket, Key: "k" }));
    expect(got.TagCount).toBe(2);
    expect(await got.Body!.transformToString()).toBe("hello");
    const etag = got.ETag;
    expect((await gateway.client.send(new HeadObjectCommand({ Bucket, Key: "k" }))).$metadata.httpStatusCode).toBe(200);
    const head = await gateway.signedFetch({ method: "HEAD", rawPath: `/${Bucket}/k` });
    expect(head.headers.get("x-amz-tagging-count")).toBe("2");

    await gateway.client.send(new PutObjectTaggingCommand({ Bucket, Key: "k", Tagging: { TagSet: [{ Key: "only", Value: "one" }] } }));
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }))).TagSet).toEqual([{ Key: "only", Value: "one" }]);
    const after = await gateway.client.send(new HeadObjectCommand({ Bucket, Key: "k" }));
    // Tagging changes neither the ETag nor the data.
    expect(after.ETag).toBe(etag);

    await gateway.client.send(new DeleteObjectTaggingCommand({ Bucket, Key: "k" }));
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }))).TagSet).toEqual([]);
    const untagged = await gateway.signedFetch({ method: "GET", rawPath: `/${Bucket}/k` });
    expect(untagged.headers.get("x-amz-tagging-count")).toBeNull();
    await untagged.arrayBuffer();
  });

  test("versioned bucket: tags per version, VersionId in and out, delete markers as GET answers them", async () => {
    const Bucket = "tags-versioned";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }));
    const first = await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "v1", Tagging: "v=1" }));
    const second = await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "v2", Tagging: "v=2" }));
    const current = await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }));
    expect(current.VersionId).toBe(second.VersionId);
    expect(current.TagSet).toEqual([{ Key: "v", Value: "2" }]);

    const put = await gateway.client.send(
      new PutObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId, Tagging: { TagSet: [{ Key: "v", Value: "one" }] } }),
    );
    expect(put.VersionId).toBe(first.VersionId);
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }))).TagSet).toEqual([{ Key: "v", Value: "one" }]);
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }))).TagSet).toEqual([{ Key: "v", Value: "2" }]);

    const removed = await gateway.client.send(new DeleteObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }));
    expect(removed.VersionId).toBe(first.VersionId);
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: first.VersionId }))).TagSet).toEqual([]);

    const marker = await gateway.client.send(new DeleteObjectCommand({ Bucket, Key: "k" }));
    expect(await failure(gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(gateway.client.send(new PutObjectTaggingCommand({ Bucket, Key: "k", Tagging: { TagSet: [] } })))).toEqual(["NoSuchKey", 404]);
    const byMarker = await gateway.signedFetch({ method: "PUT", rawPath: `/${Bucket}/k`, rawQuery: `tagging=&versionId=${marker.VersionId}`, body: "<Tagging><TagSet/></Tagging>" });
    expect(byMarker.status).toBe(405);
    expect(byMarker.headers.get("x-amz-delete-marker")).toBe("true");
    expect(await codeOf(byMarker)).toBe("MethodNotAllowed");
    // The versions behind the marker keep their tags and can still be tagged by id.
    expect((await gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "k", VersionId: second.VersionId }))).TagSet).toEqual([{ Key: "v", Value: "2" }]);
  });

  test("refusals: InvalidTag, malformed headers and documents, missing bucket, key and version", async () => {
    const Bucket = "tags-errors";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    const eleven = Array.from({ length: 11 }, (_, index) => `k${index}=v`).join("&");
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "x", Tagging: eleven })))).toEqual(["InvalidTag", 400]);
    expect(await failure(gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "x", Tagging: "a=1&a=2" })))).toEqual(["InvalidArgument", 400]);
    // Nothing was stored by the refused PUTs.
    expect(gateway.backend.objectCount(Bucket)).toBe(0);
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "x" }));
    const tooMany = Array.from({ length: 11 }, (_, index) => ({ Key: `k${index}`, Value: "v" }));
    expect(await failure(gateway.client.send(new PutObjectTaggingCommand({ Bucket, Key: "k", Tagging: { TagSet: tooMany } })))).toEqual(["InvalidTag", 400]);
    expect(await failure(gateway.client.send(new PutObjectTaggingCommand({ Bucket, Key: "k", Tagging: { TagSet: [{ Key: "a#", Value: "v" }] } })))).toEqual(["InvalidTag", 400]);
    const malformed = await gateway.signedFetch({ method: "PUT", rawPath: `/${Bucket}/k`, rawQuery: "tagging=", body: "<Tagging><TagSet>" });
    expect(malformed.status).toBe(400);
    expect(await codeOf(malformed)).toBe("MalformedXML");
    expect(await failure(gateway.client.send(new GetObjectTaggingCommand({ Bucket, Key: "missing" })))).toEqual(["NoSuchKey", 404]);
    expect(await failure(gateway.client.send(new GetObjectTaggingCommand({ Bucket: "no-such-bucket-here", Key: "k" })))).toEqual(["NoSuchBucket", 404]);
    expect(await failure(gateway.client.send(new PutObjectTaggingCommand({ Bucket, Key: "k", VersionId: "v123", Tagging: { TagSet: [] } })))).toEqual(["NoSuchVersion", 404]);
  });
});

describe("bucket tagging", () => {
  test("NoSuchTagSet until set; replace; an empty set and DeleteBucketTagging remove it; at most 50", async () => {
    const Bucket = "bucket-tags";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    expect(await failure(gateway.client.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
    await gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: "team", Value: "storage" }, { Key: "cost", Value: "42" }] } }));
    expect((await gateway.client.send(new GetBucketTaggingCommand({ Bucket }))).TagSet).toEqual([{ Key: "team", Value: "storage" }, { Key: "cost", Value: "42" }]);
    const fifty = Array.from({ length: 50 }, (_, index) => ({ Key: `k${index}`, Value: "v" }));
    await gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: fifty } }));
    expect((await gateway.client.send(new GetBucketTaggingCommand({ Bucket }))).TagSet).toHaveLength(50);
    expect(await failure(gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [...fifty, { Key: "k50", Value: "v" }] } })))).toEqual(["InvalidTag", 400]);
    await gateway.client.send(new DeleteBucketTaggingCommand({ Bucket }));
    expect(await failure(gateway.client.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
    await gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: "a", Value: "b" }] } }));
    await gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [] } }));
    expect(await failure(gateway.client.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
    expect(await failure(gateway.client.send(new GetBucketTaggingCommand({ Bucket: "no-such-bucket-here" })))).toEqual(["NoSuchBucket", 404]);
  });

  test("a bucket deleted and created again has no tags or CORS left", async () => {
    const Bucket = "bucket-reborn";
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: "a", Value: "b" }] } }));
    await gateway.client.send(
      new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["GET"] }] } }),
    );
    await gateway.client.send(new DeleteBucketCommand({ Bucket }));
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    expect(await failure(gateway.client.send(new GetBucketTaggingCommand({ Bucket })))).toEqual(["NoSuchTagSet", 404]);
    expect(await failure(gateway.client.send(new GetBucketCorsCommand({ Bucket })))).toEqual(["NoSuchCORSConfiguration", 404]);
  });
});

describe("CORS", () => {
  const Bucket = "cors-bucket";
  const origin = "https://app.example.com";

  beforeAll(async () => {
    await gateway.client.send(new CreateBucketCommand({ Bucket }));
    await gateway.client.send(new PutObjectCommand({ Bucket, Key: "page.html", Body: "<p>hi</p>" }));
  });

  function preflight(path: string, headers: Record<string, string>): Promise<Response> {
    return fetch(`${gateway.endpoint}${path}`, { method: "OPTIONS", headers });
  }

  test("Put/Get/DeleteBucketCors with the SDK; NoSuchCORSConfiguration when none", async () => {
    expect(await failure(gateway.client.send(new GetBucketCorsCommand({ Bucket })))).toEqual(["NoSuchCORSConfiguration", 404]);
    await gateway.client.send(
      new PutBucketCorsCommand({
        Bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              ID: "app",
              AllowedOrigins: [origin],
              AllowedMethods: ["GET", "PUT"],
              AllowedHeaders: ["Content-Type", "x-amz-*"],
              ExposeHeaders: ["ETag"],
              MaxAgeSeconds: 600,
            },
            { AllowedOrigins: ["https://*.example.org"], AllowedMethods: ["GET"] },
          ],
        },
      }),
    );
    const stored = await gateway.client.send(new GetBucketCorsCommand({ Bucket }));
    expect(stored.CORSRules).toEqual([
      { ID: "app", AllowedOrigins: [origin], AllowedMethods: ["GET", "PUT"], AllowedHeaders: ["Content-Type", "x-amz-*"], ExposeHeaders: ["ETag"], MaxAgeSeconds: 600 },
      { AllowedOrigins: ["https://*.example.org"], AllowedMethods: ["GET"] },
    ]);
    expect(
      await failure(gateway.client.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["PATCH"] }] } }))),
    ).toEqual(["InvalidRequest", 400]);
    // The refused document did not replace the stored one.
    expect((await gateway.client.send(new GetBucketCorsCommand({ Bucket }))).CORSRules).toHaveLength(2);
  });

  test("preflights (unsigned): allowed → 200 with the rule's headers; disallowed → 403; no Origin → 400", async () => {
    const allowed = await preflight(`/${Bucket}/page.html`, {
      origin,
      "access-control-request-method": "PUT",
      "access-control-request-headers": "content-type, x-amz-date",
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(origin);
    expect(allowed.headers.get("access-control-allow-methods")).toBe("GET, PUT");
    expect(allowed.headers.get("access-control-allow-headers")).toBe("content-type, x-amz-date");
    expect(allowed.headers.get("access-control-expose-headers")).toBe("ETag");
    expect(allowed.headers.get("access-control-max-age")).toBe("600");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(allowed.headers.get("vary")).toContain("Origin");
    await allowed.arrayBuffer();

    const wildcard = await preflight(`/${Bucket}`, { origin: "https://docs.example.org", "access-control-request-method": "GET" });
    expect(wildcard.status).toBe(200);
    expect(wildcard.headers.get("access-control-allow-origin")).toBe("https://docs.example.org");
    await wildcard.arrayBuffer();

    const refusals: Record<string, string>[] = [
      { origin: "https://evil.example.net", "access-control-request-method": "GET" },
      { origin, "access-control-request-method": "DELETE" },
      { origin, "access-control-request-method": "PUT", "access-control-request-headers": "authorization" },
    ];
    for (const headers of refusals) {
      const refused = await preflight(`/${Bucket}/page.html`, headers);
      expect(refused.status).toBe(403);
      expect(refused.headers.get("access-control-allow-origin")).toBeNull();
      const body = await refused.text();
      expect(body).toContain("<Code>AccessForbidden</Code>");
      expect(body).toContain("CORSResponse: This CORS request is not allowed.");
    }
    const noOrigin = await preflight(`/${Bucket}/page.html`, { "access-control-request-method": "GET" });
    expect(noOrigin.status).toBe(400);
    await noOrigin.arrayBuffer();
    const noBucket = await preflight("/no-such-bucket-here/x", { origin, "access-control-request-method": "GET" });
    expect(noBucket.status).toBe(404);
    await noBucket.arrayBuffer();
    // OPTIONS on the service is not a preflight: 405, as before.
    expect((await gateway.signedFetch({ method: "OPTIONS", rawPath: "/" })).status).toBe(405);
  });

  test("ordinary responses carry Access-Control-* headers when their Origin matches a rule, errors too", async () => {
    const matching = await gateway.signedFetch({ method: "GET", rawPath: `/${Bucket}/page.html`, headers: { origin } });
    expect(matching.status).toBe(200);
    expect(matching.headers.get("access-control-allow-origin")).toBe(origin);
    expect(matching.headers.get("access-control-expose-headers")).toBe("ETag");
    expect(await matching.text()).toBe("<p>hi</p>");
    const missing = await gateway.signedFetch({ method: "GET", rawPath: `/${Bucket}/missing`, headers: { origin } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("access-control-allow-origin")).toBe(origin);
    await missing.arrayBuffer();
    // A method the rule does not allow, another origin, or no Origin: no CORS headers.
    const deleteRequest = await gateway.signedFetch({ method: "DELETE", rawPath: `/${Bucket}/other`, headers: { origin } });
    expect(deleteRequest.headers.get("access-control-allow-origin")).toBeNull();
    const elsewhere = await gateway.signedFetch({ method: "GET", rawPath: `/${Bucket}/page.html`, headers: { origin: "https://evil.example.net" } });
    expect(elsewhere.headers.get("access-control-allow-origin")).toBeNull();
    await elsewhere.arrayBuffer();
    const plain = await gateway.signedFetch({ method: "GET", rawPath: `/${Bucket}/page.html` });
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    await plain.arrayBuffer();
  });

  test("DeleteBucketCors: preflights are refused again", async () => {
    await gateway.client.send(new DeleteBucketCorsCommand({ Bucket }));
    expect(await failure(gateway.client.send(new GetBucketCorsCommand({ Bucket })))).toEqual(["NoSuchCORSConfiguration", 404]);
    const refused = await preflight(`/${Bucket}/page.html`, { origin, "access-control-request-method": "GET" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("CORS is not enabled for this bucket");
  });
});
