/**
 * Cross-check with the AWS SDK for JavaScript v3: requests signed by its
 * signer (`@smithy/signature-v4`) and requests built by the real S3 client
 * (`@aws-sdk/client-s3`, captured before they leave the process) must verify
 * with `authenticate`, and its string signer must agree with our chunk
 * signatures.
 */
import { createHash, createHmac } from "node:crypto";
import { Readable } from "node:stream";
import type { Hash, Hmac } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { PutObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { HttpResponse } from "@smithy/protocol-http";
import type { HttpRequest as SmithyHttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import { parseAmzDate } from "./amz-date.ts";
import { authenticate } from "./authenticate.ts";
import type { AuthInput, SecretLookup } from "./authenticate.ts";
import { chunkStringToSign, decodeAwsChunked, signChunk } from "./aws-chunked.ts";
import { sha256Hex, uriEncode } from "./canonical.ts";

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBytes(data: SourceData): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** The SDK's hash interface over node:crypto (HMAC when constructed with a secret). */
class NodeSha256 {
  readonly #secret: Uint8Array | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : toBytes(secret);
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash("sha256") : createHmac("sha256", this.#secret);
  }
  update(data: SourceData): void {
    this.#hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
}

const accessKeyId = "AKIDCROSSCHECK000001";
const secretAccessKey = "cross/check+secret/key0000000000000000000";
const lookup: SecretLookup = (id) => (id === accessKeyId ? secretAccessKey : undefined);
const signingMs = Date.UTC(2025, 6, 14, 9, 30, 15);

const signer = new SignatureV4({
  service: "s3",
  region: "ap-southeast-2",
  credentials: { accessKeyId, secretAccessKey },
  sha256: NodeSha256,
  uriEscapePath: false, // S3: the SDK encodes the key once itself and the signer must not encode again
  applyChecksum: true,
});

function encodeQuery(query: Record<string, string | string[] | null | undefined>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    const encodedName = uriEncode(new TextEncoder().encode(name), false);
    if (value === null || value === undefined) parts.push(encodedName);
    else for (const item of Array.isArray(value) ? value : [value]) parts.push(`${encodedName}=${uriEncode(new TextEncoder().encode(item), false)}`);
  }
  return parts.join("&");
}

/** The request as the gateway would receive it. */
function received(request: {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null | undefined>;
  headers: Record<string, string>;
}): AuthInput {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) headers.set(name.toLowerCase(), value);
  return { method: request.method, rawPath: request.path, rawQuery: encodeQuery(request.query ?? {}), headers };
}

function sdkRequest(method: string, path: string, query: Record<string, string>, headers: Record<string, string>, body?: string) {
  return {
    method,
    protocol: "https:",
    hostname: "bucket.cairn.test",
    path,
    query,
    headers: { host: "bucket.cairn.test", ...headers },
    ...(body === undefined ? {} : { body }),
  };
}

describe("@smithy/signature-v4 (the SDK's signer) → authenticate", () => {
  const cases: Array<{ name: string; method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body?: string }> = [
    { name: "PUT with a body hash", method: "PUT", path: "/photos/a%20b%2Bc%24.jpg", query: {}, headers: { "content-type": "image/jpeg", "x-amz-content-sha256": sha256Hex("payload") }, body: "payload" },
    { name: "GET with UNSIGNED-PAYLOAD and a range", method: "GET", path: "/dir/%E2%82%AC/file", query: {}, headers: { range: "bytes=0-9", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } },
    { name: "ListObjectsV2 query with reserved characters", method: "GET", path: "/", query: { "list-type": "2", prefix: "a b/c+d", delimiter: "/", "continuation-token": "x=y&z" }, headers: { "x-amz-content-sha256": sha256Hex("") } },
    { name: "a key with repeated slashes and dots", method: "DELETE", path: "/my-object//example//./../photo.user", query: {}, headers: { "x-amz-content-sha256": sha256Hex("") } },
    { name: "streaming seed", method: "PUT", path: "/big", query: {}, headers: { "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "11" } },
  ];
  for (const entry of cases) {
    test(entry.name, async () => {
      const signed = await signer.sign(sdkRequest(entry.method, entry.path, entry.query, entry.headers, entry.body), { signingDate: new Date(signingMs) });
      const result = authenticate(received(signed), lookup, signingMs);
      expect(result?.accessKeyId).toBe(accessKeyId);
      expect(result?.presigned).toBe(false);
    });
  }

  test("presign (GET, 1 hour) verifies until it expires", async () => {
    // As @aws-sdk/s3-request-presigner does: S3 presigned URLs carry UNSIGNED-PAYLOAD.
    const presigned = await signer.presign(sdkRequest("GET", "/reports/2025%20Q2.pdf", { versionId: "v1" }, { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }), {
      signingDate: new Date(signingMs),
      expiresIn: 3600,
    });
    const input = received(presigned);
    expect(input.rawQuery).toContain("x-amz-content-sha256=UNSIGNED-PAYLOAD");
    expect(authenticate(input, lookup, signingMs + 3_600_000)?.presigned).toBe(true);
    expect(() => authenticate(input, lookup, signingMs + 3_601_000)).toThrow("Request has expired");
  });

  test("the SDK's string signer agrees with our chunk signatures", async () => {
    const seed = await signer.sign(
      sdkRequest("PUT", "/big", {}, { "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x-amz-decoded-content-length": "11" }),
      { signingDate: new Date(signingMs) },
    );
    const payload = authenticate(received(seed), lookup, signingMs)?.payload;
    if (payload?.kind !== "streaming" || payload.chain === undefined) throw new Error("expected a signed streaming mode");
    const chain = payload.chain;
    let previous = chain.seedSignature;
    const encoder = new TextEncoder();
    const body: Uint8Array[] = [];
    for (const text of ["hello ", "world", ""]) {
      const data = encoder.encode(text);
      const sdkSignature = await signer.sign(chunkStringToSign(chain, previous, sha256Hex(data)), { signingDate: new Date(signingMs) });
      expect(signChunk(chain, previous, data)).toBe(sdkSignature);
      body.push(encoder.encode(`${data.length.toString(16)};chunk-signature=${sdkSignature}\r\n`), data, encoder.encode("\r\n"));
      previous = sdkSignature;
    }
    async function* once(): AsyncIterable<Uint8Array> {
      yield Buffer.concat(body);
    }
    const decoded: Uint8Array[] = [];
    for await (const part of decodeAwsChunked(once(), payload, { decodedLengthBytes: 11 })) decoded.push(part);
    expect(Buffer.concat(decoded).toString()).toBe("hello world");
  });
});

describe("@aws-sdk/client-s3 (the real client, request captured before sending) → authenticate", () => {
  function capturingClient(): { client: S3Client; captured: SmithyHttpRequest[] } {
    const captured: SmithyHttpRequest[] = [];
    const client = new S3Client({
      region: "eu-central-1",
      endpoint: "http://localhost:9000",
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestHandler: {
        handle: async (request: SmithyHttpRequest) => {
          captured.push(request);
          return { response: new HttpResponse({ statusCode: 200, headers: {}, body: new Uint8Array(0) }) };
        },
      },
    });
    return { client, captured };
  }

  async function capture(send: (client: S3Client) => Promise<unknown>): Promise<SmithyHttpRequest> {
    const { client, captured } = capturingClient();
    // The empty reply may not parse for every command; only the signed request matters here.
    await send(client).catch(() => undefined);
    const request = captured[0];
    if (request === undefined) throw new Error("the client sent nothing");
    return request;
  }

  function nowFrom(request: SmithyHttpRequest): number {
    // The client signs with its own clock; take the time it signed with, so the test reads no clock.
    const epochMs = parseAmzDate(request.headers["x-amz-date"] ?? "");
    if (epochMs === undefined) throw new Error("no x-amz-date on the captured request");
    return epochMs;
  }

  test("PutObject with a string body and a key needing encoding", async () => {
    const request = await capture((client) =>
      client.send(new PutObjectCommand({ Bucket: "bucket", Key: "dir/a b+c$ü.txt", Body: "hello world", ContentType: "text/plain" })),
    );
    const result = authenticate(received(request), lookup, nowFrom(request));
    expect(result?.accessKeyId).toBe(accessKeyId);
  });

  test("PutObject with a stream body: aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer", async () => {
    const body = Readable.from([Buffer.from("hello "), Buffer.from("world")]);
    const request = await capture((client) => client.send(new PutObjectCommand({ Bucket: "bucket", Key: "streamed", Body: body, ContentLength: 11 })));
    const result = authenticate(received(request), lookup, nowFrom(request));
    expect(result?.payload).toEqual({ kind: "streaming", signed: false, trailer: true });
    if (result?.payload.kind !== "streaming") return;
    let trailers: Map<string, string> | undefined;
    const decoded: Uint8Array[] = [];
    const wire = request.body as AsyncIterable<Uint8Array>;
    for await (const part of decodeAwsChunked(wire, result.payload, { decodedLengthBytes: 11, onTrailers: (found) => (trailers = found) })) {
      decoded.push(part);
    }
    expect(Buffer.concat(decoded).toString()).toBe("hello world");
    // CRC32 of "hello world" is 0x0d4a1185.
    expect(trailers).toEqual(new Map([["x-amz-checksum-crc32", "DUoRhQ=="]]));
  });

  test("GetObject with a range and ListObjectsV2 with a prefix", async () => {
    const get = await capture((client) => client.send(new GetObjectCommand({ Bucket: "bucket", Key: "x/y z", Range: "bytes=0-9" })));
    expect(authenticate(received(get), lookup, nowFrom(get))?.accessKeyId).toBe(accessKeyId);
    const list = await capture((client) =>
      client.send(new ListObjectsV2Command({ Bucket: "bucket", Prefix: "a b/ü+", Delimiter: "/", MaxKeys: 7 })),
    );
    expect(authenticate(received(list), lookup, nowFrom(list))?.accessKeyId).toBe(accessKeyId);
  });
});
