/**
 * Bad input against the real server process: each case gets its S3 error,
 * the server keeps serving, and nothing already stored changes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { sdkClient } from "./support/clients.ts";
import { startServer, type ServerProcess } from "./support/server.ts";
import { errorCode, presignedUrl, signedFetch, signedHeaders } from "./support/signer.ts";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

let server: ServerProcess;
let s3: S3Client;
const bucket = "bad-input";
const keptKeys = ["kept/one", "kept/two"];

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of keptKeys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${key}` }));
});

afterAll(async () => {
  // Whatever the cases above did, the server still serves and the stored objects are unchanged.
  s3?.destroy();
  await server?.dispose();
});

async function expectStoredUnchanged(): Promise<void> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  expect(listed.Contents?.map((item) => item.Key)).toEqual(keptKeys);
  for (const key of keptKeys) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await got.Body!.transformToString()).toBe(`content of ${key}`);
  }
}

describe("bad input gets its S3 error and changes nothing", () => {
  test("no signature at all: AccessDenied", async () => {
    const response = await fetch(`${server.endpoint}/${bucket}/kept/one`, { method: "PUT", body: "anonymous" });
    expect(response.status).toBe(403);
    expect(await errorCode(response)).toBe("AccessDenied");
    await expectStoredUnchanged();
  });

  test("wrong signature: SignatureDoesNotMatch", async () => {
    const response = await signedFetch(server, { method: "PUT", path: `/${bucket}/kept/one`, body: "forged", secretAccessKey: "wrong-secret" });
    expect(response.status).toBe(403);
    expect(await errorCode(response)).toBe("SignatureDoesNotMatch");
    await expectStoredUnchanged();
  });

  test("a signature over a different body: rejected", async () => {
    const headers = await signedHeaders(server, { method: "PUT", path: `/${bucket}/kept/two`, body: "signed body" });
    delete headers.host;
    const response = await fetch(`${server.endpoint}/${bucket}/kept/two`, { method: "PUT", headers, body: "other body!" });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("XAmzContentSHA256Mismatch");
    await expectStoredUnchanged();
  });

  test("clock skew over 15 minutes: RequestTimeTooSkewed", async () => {
    const response = await signedFetch(server, { method: "GET", path: `/${bucket}/kept/one`, clockOffsetMs: -16 * 60_000 });
    expect(response.status).toBe(403);
    expect(await errorCode(response)).toBe("RequestTimeTooSkewed");
    const ahead = await signedFetch(server, { method: "GET", path: `/${bucket}/kept/one`, clockOffsetMs: 16 * 60_000 });
    expect(await errorCode(ahead)).toBe("RequestTimeTooSkewed");
  });

  test("presigned GET and PUT work; an expired presigned URL is AccessDenied", async () => {
    const getUrl = await presignedUrl(server, { method: "GET", path: `/${bucket}/kept/one`, expiresInSeconds: 300 });
    const got = await fetch(getUrl);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe("content of kept/one");

    const putUrl = await presignedUrl(server, { method: "PUT", path: `/${bucket}/presigned/upload`, expiresInSeconds: 300 });
    const put = await fetch(putUrl, { method: "PUT", body: "uploaded through a presigned URL" });
    expect(put.status).toBe(200);
    const back = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "presigned/upload" }));
    expect(await back.Body!.transformToString()).toBe("uploaded through a presigned URL");
    await s3.send(new (await import("@aws-sdk/client-s3")).DeleteObjectCommand({ Bucket: bucket, Key: "presigned/upload" }));

    const expiredUrl = await presignedUrl(server, {
      method: "PUT",
      path: `/${bucket}/kept/one`,
      expiresInSeconds: 60,
      signedAtMs: Date.now() - 3600_000,
    });
    const expired = await fetch(expiredUrl, { method: "PUT", body: "too late" });
    expect(expired.status).toBe(403);
    expect(await errorCode(expired)).toBe("AccessDenied");
    await expectStoredUnchanged();
  });

  test("invalid bucket names: InvalidBucketName", async () => {
    for (const name of ["ab", "Upper-Case", "under_score", "-leading", "trailing-", "a..b", "192.168.1.1", "x".repeat(64)]) {
      const response = await signedFetch(server, { method: "PUT", path: `/${name}` });
      expect({ name, code: await errorCode(response) }).toEqual({ name, code: "InvalidBucketName" });
      expect(response.status).toBe(400);
    }
  });

  test("a key over 1024 bytes: KeyTooLongError", async () => {
    const key = "k".repeat(1025);
    const response = await signedFetch(server, { method: "PUT", path: `/${bucket}/${key}`, body: "x" });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("KeyTooLongError");
    const atLimit = await signedFetch(server, { method: "PUT", path: `/${bucket}/${"k".repeat(1024)}`, body: "x" });
    expect(atLimit.status).toBe(200);
    await signedFetch(server, { method: "DELETE", path: `/${bucket}/${"k".repeat(1024)}` });
    await expectStoredUnchanged();
  });

  test("Content-MD5 that does not match the body: BadDigest; a malformed one: InvalidDigest", async () => {
    const wrongMd5 = Buffer.from(new Bun.CryptoHasher("md5").update("something else").digest()).toString("base64");
    const response = await signedFetch(server, { method: "PUT", path: `/${bucket}/kept/one`, body: "replacement", headers: { "content-md5": wrongMd5 } });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("BadDigest");
    const malformed = await signedFetch(server, { method: "PUT", path: `/${bucket}/kept/one`, body: "replacement", headers: { "content-md5": "not base64!" } });
    expect(await errorCode(malformed)).toBe("InvalidDigest");
    await expectStoredUnchanged();
  });

  test("malformed XML: MalformedXML", async () => {
    const deleteBody = "<Delete><Object><Key>kept/one</Key></Object>"; // never closed
    const md5 = Buffer.from(new Bun.CryptoHasher("md5").update(deleteBody).digest()).toString("base64");
    const response = await signedFetch(server, { method: "POST", path: `/${bucket}?delete=`, body: deleteBody, headers: { "content-md5": md5 } });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe("MalformedXML");
    const createBody = "<CreateBucketConfiguration><LocationConstraint>";
    const create = await signedFetch(server, { method: "PUT", path: "/new-bucket-bad-xml", body: createBody });
    expect(await errorCode(create)).toBe("MalformedXML");
    const head = await signedFetch(server, { method: "HEAD", path: "/new-bucket-bad-xml" });
    expect(head.status).toBe(404);
    await expectStoredUnchanged();
  });

  test("a body shorter than its Content-Length: IncompleteBody or a dropped connection, nothing stored", async () => {
    const path = `/${bucket}/kept/one`;
    const headers = await signedHeaders(server, { method: "PUT", path, payloadHash: "UNSIGNED-PAYLOAD", headers: { "content-length": "1000" } });
    const lines = [`PUT ${path} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), "", ""].join("\r\n");
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1", () => {
        socket.write(lines);
        socket.write("x".repeat(400));
        // Half-close: the client sends no more, the body is 600 bytes short.
        socket.end();
      });
      let received = "";
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("utf8")));
      socket.on("close", () => resolve(received));
      socket.on("error", reject);
      socket.setTimeout(60_000, () => {
        socket.destroy();
        reject(new Error("no reply and no close within 60 s"));
      });
    });
    if (reply !== "") {
      expect(reply).toStartWith("HTTP/1.1 400");
      expect(reply).toContain("<Code>IncompleteBody</Code>");
    }
    await expectStoredUnchanged();
  });

  test("a missing bucket and a missing key: NoSuchBucket and NoSuchKey", async () => {
    const noBucket = await signedFetch(server, { method: "GET", path: "/no-such-bucket-here/k" });
    expect(noBucket.status).toBe(404);
    expect(await errorCode(noBucket)).toBe("NoSuchBucket");
    const noKey = await signedFetch(server, { method: "GET", path: `/${bucket}/missing` });
    expect(noKey.status).toBe(404);
    expect(await errorCode(noKey)).toBe("NoSuchKey");
  });

  test("an operation Cairn does not implement yet: 501 NotImplemented", async () => {
    const response = await signedFetch(server, { method: "GET", path: `/${bucket}?lifecycle=` });
    expect(response.status).toBe(501);
    expect(await errorCode(response)).toBe("NotImplemented");
  });
});
