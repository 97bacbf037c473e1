/**
 * Checksums through the S3 core over the memory backend, behind the Bun
 * adapter: the AWS SDK's own uploads (default settings and each algorithm),
 * hand-built requests in every payload signing mode, refusals that must
 * store nothing, and the GET/HEAD checksum mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Readable } from "node:stream";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type ChecksumAlgorithm as SdkAlgorithm } from "@aws-sdk/client-s3";
import { encodeAwsChunked, signRequest } from "../sigv4/index.ts";
import { startTestGateway, testCredentials, testRegion, type TestGateway } from "../testing/test-gateway.ts";
import { checksumAlgorithms, checksumHeaderName, checksumOf } from "./checksum.ts";
import type { ChecksumAlgorithm } from "../backend.ts";
import { systemClock } from "../../runtime/index.ts";

let gateway: TestGateway;
const bucket = "sums";

beforeAll(async () => {
  gateway = await startTestGateway();
  await gateway.client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await gateway?.stop();
});

const bytesOf = (value: string): Uint8Array => new TextEncoder().encode(value);

async function storedChecksum(key: string): Promise<unknown> {
  const info = await gateway.backend.headObject(bucket, key);
  return typeof info === "object" && "checksum" in info ? info.checksum : undefined;
}

async function errorCode(response: Response): Promise<string> {
  const text = await response.text();
  return /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `status ${response.status}: ${text.slice(0, 200)}`;
}

/** The SDK's response field for an algorithm: ChecksumCRC32, ChecksumCRC64NVME, … */
const sdkField = (algorithm: ChecksumAlgorithm): string => `Checksum${algorithm}`;

describe("the AWS SDK", () => {
  test("default settings on a stream body: aws-chunked with a CRC32 trailer, verified, stored, echoed", async () => {
    const parts = [Buffer.alloc(70_000, 7), Buffer.alloc(33_333, 9)];
    const whole = Buffer.concat(parts);
    const put = await gateway.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: "default-stream", Body: Readable.from(parts), ContentLength: whole.length }),
    );
    expect(put.ChecksumCRC32).toBe(checksumOf("CRC32", whole));
    expect(await storedChecksum("default-stream")).toEqual({ algorithm: "CRC32", value: checksumOf("CRC32", whole), type: "FULL_OBJECT" });
  });

  test("default settings on an in-memory body, then GetObject and HeadObject with ChecksumMode ENABLED", async () => {
    const body = "the quick brown fox";
    const put = await gateway.client.send(new PutObjectCommand({ Bucket: bucket, Key: "default-bytes", Body: body }));
    expect(put.ChecksumCRC32).toBe(checksumOf("CRC32", bytesOf(body)));
    const got = await gateway.client.send(new GetObjectCommand({ Bucket: bucket, Key: "default-bytes", ChecksumMode: "ENABLED" }));
    expect(got.ChecksumCRC32).toBe(checksumOf("CRC32", bytesOf(body)));
    expect(got.ChecksumType).toBe("FULL_OBJECT");
    expect(await got.Body?.transformToString()).toBe(body);
    const head = await gateway.client.send(new HeadObjectCommand({ Bucket: bucket, Key: "default-bytes", ChecksumMode: "ENABLED" }));
    expect(head.ChecksumCRC32).toBe(checksumOf("CRC32", bytesOf(body)));
    const plain = await gateway.client.send(new HeadObjectCommand({ Bucket: bucket, Key: "default-bytes" }));
    expect(plain.ChecksumCRC32).toBeUndefined();
  });

  for (const algorithm of checksumAlgorithms) {
    test(`ChecksumAlgorithm ${algorithm}, stream and bytes`, async () => {
      const data = Buffer.alloc(200_001, algorithm.length).map((_, index) => (index * 13) % 256);
      const expected = checksumOf(algorithm, data);
      for (const [key, body] of [
        [`${algorithm}-stream`, Readable.from([data.subarray(0, 100_000), data.subarray(100_000)])],
        [`${algorithm}-bytes`, data],
      ] as const) {
        const put = await gateway.client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: data.length, ChecksumAlgorithm: algorithm as SdkAlgorithm }),
        );
        expect((put as unknown as Record<string, unknown>)[sdkField(algorithm)]).toBe(expected);
        expect(await storedChecksum(key)).toEqual({ algorithm, value: expected, type: "FULL_OBJECT" });
        const got = await gateway.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
        expect((got as unknown as Record<string, unknown>)[sdkField(algorithm)]).toBe(expected);
        // The SDK validates the returned checksum against the body it reads: a wrong value would throw here.
        expect(Buffer.from((await got.Body?.transformToByteArray())!).equals(data)).toBe(true);
      }
    });
  }

  test("a range read carries no whole-object checksum", async () => {
    const got = await gateway.client.send(new GetObjectCommand({ Bucket: bucket, Key: "SHA256-bytes", ChecksumMode: "ENABLED", Range: "bytes=0-9" }));
    expect(got.ChecksumSHA256).toBeUndefined();
    expect((await got.Body?.transformToByteArray())?.byteLength).toBe(10);
  });
});

describe("every payload signing mode, by hand", () => {
  const data = [bytesOf("first chunk "), bytesOf("second chunk")];
  const whole = bytesOf("first chunk second chunk");
  const endpoint = (): string => gateway.endpoint;

  /** Sends a PUT signed with `payloadHash`; the body is built with the signing chain (for signed streaming). */
  async function put(
    key: string,
    payloadHash: string,
    headers: Record<string, string>,
    makeBody: (chain: ReturnType<typeof signRequest>["chain"]) => Uint8Array,
  ): Promise<Response> {
    const signed = signRequest({
      method: "PUT",
      rawPath: `/${bucket}/${key}`,
      rawQuery: "",
      headers: { host: `127.0.0.1:${gateway.port}`, ...headers },
      credentials: testCredentials,
      region: testRegion,
      nowMs: systemClock().nowMs(),
      payloadHash,
    });
    return fetch(`${endpoint()}/${bucket}/${key}`, { method: "PUT", headers: Object.fromEntries(signed.headers), body: makeBody(signed.chain) });
  }

  const chunkedHeaders = (trailer?: string): Record<string, string> => ({
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(whole.length),
    ...(trailer === undefined ? {} : { "x-amz-trailer": trailer }),
  });

  for (const algorithm of checksumAlgorithms) {
    const name = checksumHeaderName(algorithm);
    const good = checksumOf(algorithm, whole);
    const bad = checksumOf(algorithm, bytesOf("something else"));

    test(`${algorithm}: UNSIGNED-PAYLOAD and a hex SHA-256 payload with the header`, async () => {
      const ok = await put(`${algorithm}/unsigned`, "UNSIGNED-PAYLOAD", { [name]: good }, () => whole);
      expect(ok.status).toBe(200);
      expect(ok.headers.get(name)).toBe(good);
      const sha = new Bun.CryptoHasher("sha256").update(whole).digest("hex");
      const okSha = await put(`${algorithm}/sha`, sha, { [name]: good }, () => whole);
      expect(okSha.status).toBe(200);
      expect(await storedChecksum(`${algorithm}/sha`)).toEqual({ algorithm, value: good, type: "FULL_OBJECT" });

      const refused = await put(`${algorithm}/unsigned-bad`, "UNSIGNED-PAYLOAD", { [name]: bad }, () => whole);
      expect(refused.status).toBe(400);
      expect(await errorCode(refused)).toBe("BadDigest");
      expect(gateway.backend.storedBytes(bucket, `${algorithm}/unsigned-bad`)).toBeUndefined();
    });

    test(`${algorithm}: STREAMING-AWS4-HMAC-SHA256-PAYLOAD with the header`, async () => {
      const ok = await put(`${algorithm}/signed`, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", { ...chunkedHeaders(), [name]: good }, (chain) =>
        encodeAwsChunked(data, { chain }),
      );
      expect(ok.status).toBe(200);
      expect(await storedChecksum(`${algorithm}/signed`)).toEqual({ algorithm, value: good, type: "FULL_OBJECT" });
      const refused = await put(`${algorithm}/signed-bad`, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", { ...chunkedHeaders(), [name]: bad }, (chain) =>
        encodeAwsChunked(data, { chain }),
      );
      expect(await errorCode(refused)).toBe("BadDigest");
      expect(gateway.backend.storedBytes(bucket, `${algorithm}/signed-bad`)).toBeUndefined();
    });

    test(`${algorithm}: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (trailer signed)`, async () => {
      const mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
      const ok = await put(`${algorithm}/signed-trailer`, mode, { ...chunkedHeaders(name), "x-amz-sdk-checksum-algorithm": algorithm }, (chain) =>
        encodeAwsChunked(data, { chain, trailers: [[name, good]] }),
      );
      expect(ok.status).toBe(200);
      expect(ok.headers.get(name)).toBe(good);
      expect(Buffer.from(gateway.backend.storedBytes(bucket, `${algorithm}/signed-trailer`)!).equals(whole)).toBe(true);
      expect(await storedChecksum(`${algorithm}/signed-trailer`)).toEqual({ algorithm, value: good, type: "FULL_OBJECT" });

      const refused = await put(`${algorithm}/signed-trailer-bad`, mode, chunkedHeaders(name), (chain) => encodeAwsChunked(data, { chain, trailers: [[name, bad]] }));
      expect(await errorCode(refused)).toBe("BadDigest");
      expect(gateway.backend.storedBytes(bucket, `${algorithm}/signed-trailer-bad`)).toBeUndefined();

      // The right checksum under a trailer signature that covers another value.
      const forged = await put(`${algorithm}/signed-trailer-forged`, mode, chunkedHeaders(name), (chain) => {
        const honest = Buffer.from(encodeAwsChunked(data, { chain, trailers: [[name, bad]] })).toString("latin1");
        return new Uint8Array(Buffer.from(honest.replace(`${name}:${bad}`, `${name}:${good}`), "latin1"));
      });
      expect(await errorCode(forged)).toBe("SignatureDoesNotMatch");
      expect(gateway.backend.storedBytes(bucket, `${algorithm}/signed-trailer-forged`)).toBeUndefined();
    });

    test(`${algorithm}: STREAMING-UNSIGNED-PAYLOAD-TRAILER`, async () => {
      const mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
      const ok = await put(`${algorithm}/unsigned-trailer`, mode, chunkedHeaders(name), () => encodeAwsChunked(data, { trailers: [[name, good]] }));
      expect(ok.status).toBe(200);
      expect(await storedChecksum(`${algorithm}/unsigned-trailer`)).toEqual({ algorithm, value: good, type: "FULL_OBJECT" });
      const refused = await put(`${algorithm}/unsigned-trailer-bad`, mode, chunkedHeaders(name), () => encodeAwsChunked(data, { trailers: [[name, bad]] }));
      expect(await errorCode(refused)).toBe("BadDigest");
      expect(gateway.backend.storedBytes(bucket, `${algorithm}/unsigned-trailer-bad`)).toBeUndefined();
    });
  }

  test("a declared trailer that never arrives, and a trailer on a body that cannot carry one → InvalidRequest, nothing stored", async () => {
    const name = "x-amz-checksum-crc32";
    const missing = await put("missing-trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", chunkedHeaders(name), () => encodeAwsChunked(data, { trailers: [] }));
    expect(await errorCode(missing)).toBe("InvalidRequest");
    expect(gateway.backend.storedBytes(bucket, "missing-trailer")).toBeUndefined();
    const notStreaming = await put("trailer-unsigned", "UNSIGNED-PAYLOAD", { "x-amz-trailer": name }, () => whole);
    expect(await errorCode(notStreaming)).toBe("InvalidRequest");
    expect(gateway.backend.storedBytes(bucket, "trailer-unsigned")).toBeUndefined();
  });

  test("an algorithm S3 knows but this store does not compute → 501 NotImplemented, nothing stored", async () => {
    const refused = await put("sha512", "UNSIGNED-PAYLOAD", { "x-amz-checksum-sha512": Buffer.alloc(64).toString("base64") }, () => whole);
    expect(refused.status).toBe(501);
    expect(await errorCode(refused)).toBe("NotImplemented");
    expect(gateway.backend.storedBytes(bucket, "sha512")).toBeUndefined();
  });

  test("Content-MD5 and a checksum together: both checked", async () => {
    const md5 = new Bun.CryptoHasher("md5").update(whole).digest("base64");
    const ok = await put("md5-and-crc", "UNSIGNED-PAYLOAD", { "content-md5": md5, "x-amz-checksum-crc32c": checksumOf("CRC32C", whole) }, () => whole);
    expect(ok.status).toBe(200);
    const badMd5 = await put("md5-bad", "UNSIGNED-PAYLOAD", { "content-md5": md5, "x-amz-checksum-crc32c": checksumOf("CRC32C", whole) }, () => bytesOf("first chunk second chunX"));
    expect(await errorCode(badMd5)).toBe("BadDigest");
    expect(gateway.backend.storedBytes(bucket, "md5-bad")).toBeUndefined();
  });
});
