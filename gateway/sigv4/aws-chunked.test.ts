/**
 * aws-chunked streaming: the S3 documentation's chunked upload and the two
 * trailer vectors (s3-streaming.json) end to end — the seed request through
 * `authenticate`, then the body, rebuilt from the vector's chunk descriptions,
 * through `decodeAwsChunked` — plus framing and tampering refusals.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import type { S3ErrorCode } from "../errors.ts";
import { parseAmzDate } from "./amz-date.ts";
import { authenticate } from "./authenticate.ts";
import type { AuthInput, ChunkChain, SecretLookup } from "./authenticate.ts";
import { chunkSizeBytesMax, chunkStringToSign, decodeAwsChunked, encodeAwsChunked, trailerStringToSign } from "./aws-chunked.ts";
import type { StreamingMode } from "./aws-chunked.ts";
import { canonicalRequest, sha256Hex } from "./canonical.ts";
import { signRequest } from "./sign.ts";
import { headerMap, loadVectorFile } from "./vector-files.ts";
import type { StreamingChunk, StreamingVector, VectorFile } from "./vector-files.ts";

const streaming = loadVectorFile<VectorFile<StreamingVector>>("s3-streaming.json");
const byId = new Map(streaming.vectors.map((vector) => [vector.id, vector]));
const docLookup: SecretLookup = (id) => (id === "AKIAIOSFODNN7EXAMPLE" ? "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" : undefined);
const encoder = new TextEncoder();
const ran: string[] = [];
let signaturesChecked = 0;

function vector(id: string): StreamingVector {
  const found = byId.get(id);
  if (found === undefined) throw new Error(`vector ${id} is missing from s3-streaming.json`);
  return found;
}

function chunkData(chunk: StreamingChunk): Uint8Array {
  return new Uint8Array(chunk.data.count).fill(chunk.data.count === 0 ? 0 : (chunk.data.byte ?? "").charCodeAt(0));
}

/** The encoded body as the README describes it: each chunk's header line, CRLF, data, CRLF; then `tail`. */
function encodedBody(chunks: readonly StreamingChunk[], tail: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (chunk.size === 0) break;
    parts.push(encoder.encode(`${chunk.chunkHeaderLine}\r\n`), chunkData(chunk), encoder.encode("\r\n"));
  }
  parts.push(encoder.encode(tail));
  return Buffer.concat(parts);
}

function seedRequest(source: StreamingVector): AuthInput & { headers: Map<string, string> } {
  const headers = headerMap(source.input.headers ?? []);
  headers.set("authorization", source.expected.seed?.authorization ?? "");
  return { method: source.input.method ?? "", rawPath: source.input.rawPath ?? "", rawQuery: source.input.rawQuery ?? "", headers };
}

function dateMs(amzDate: string): number {
  const epochMs = parseAmzDate(amzDate);
  if (epochMs === undefined) throw new Error(`bad date ${amzDate}`);
  return epochMs;
}

async function* pieces(data: Uint8Array, sizes: readonly number[]): AsyncIterable<Uint8Array> {
  let offset = 0;
  for (let index = 0; offset < data.length; index += 1) {
    const size = sizes[index % sizes.length] ?? 1;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

async function rejection(promise: Promise<unknown>): Promise<S3Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof S3Error)) throw new Error(`expected an S3Error, got ${String(outcome)}`);
  return outcome;
}

async function expectRejected(promise: Promise<unknown>, code: S3ErrorCode): Promise<S3Error> {
  const error = await rejection(promise);
  expect(error.code).toBe(code);
  return error;
}

function streamingMode(request: AuthInput, nowMs: number): StreamingMode {
  const result = authenticate(request, docLookup, nowMs);
  if (result === undefined || result.payload.kind !== "streaming") throw new Error("expected a streaming payload mode");
  return result.payload;
}

/** Splittings that cut header lines, CRLFs and signatures at every kind of place. */
const splittings: ReadonlyArray<readonly number[]> = [[1 << 20], [1], [7, 3, 4096], [86], [65536 + 88, 2]];

describe("S3 documentation chunked upload (s3-doc/put-object-chunked)", () => {
  const source = vector("s3-doc/put-object-chunked");
  const chunks = source.expected.chunks ?? [];
  const nowMs = dateMs(source.input.date);
  const body = encodedBody(chunks, `${chunks.at(-1)?.chunkHeaderLine ?? ""}\r\n\r\n`);
  const expectedData = new Uint8Array(source.input.decodedPayload?.count ?? 0).fill(0x61);

  test("seed: canonical request and authenticate (with ',' and ', ' separators)", () => {
    const request = seedRequest(source);
    const seed = source.expected.seed;
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(seed?.authorization ?? "")?.[1]?.split(";") ?? [];
    expect(
      canonicalRequest({ ...request, signedHeaders, payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", normalizePath: false }),
    ).toBe(seed?.canonicalRequest ?? "");
    const mode = streamingMode(request, nowMs);
    expect(mode).toMatchObject({ kind: "streaming", signed: true, trailer: false });
    expect(mode.chain?.seedSignature).toBe(seed?.signature ?? "");
    signaturesChecked += 1;
    request.headers.set("authorization", seed?.authorizationWithSpaces ?? "");
    expect(streamingMode(request, nowMs).chain?.seedSignature).toBe(seed?.signature ?? "");
  });

  test("each chunk's string to sign follows from the previous signature", () => {
    const chain = streamingMode(seedRequest(source), nowMs).chain as ChunkChain;
    let previous = chain.seedSignature;
    for (const chunk of chunks) {
      expect(sha256Hex(chunkData(chunk))).toBe(chunk.dataSha256);
      expect(chunkStringToSign(chain, previous, chunk.dataSha256)).toBe(chunk.stringToSign);
      previous = chunk.signature;
    }
  });

  test("the rebuilt body has the Content-Length the seed signed", () => {
    expect(body.length).toBe(source.expected.encodedBody?.totalLength ?? -1);
    expect(body.length).toBe(Number(headerMap(source.input.headers ?? []).get("content-length")));
  });

  test("end to end: decodeAwsChunked verifies the 3 chunk signatures and yields the 66560 bytes, however the body is split", async () => {
    for (const sizes of splittings) {
      const mode = streamingMode(seedRequest(source), nowMs);
      const decoded = await drain(decodeAwsChunked(pieces(body, sizes), mode, { decodedLengthBytes: expectedData.length }));
      expect(decoded).toEqual(expectedData);
    }
    signaturesChecked += chunks.length;
    ran.push(source.id);
  });

  test("the stream may end right after the final chunk line (no closing CRLF)", async () => {
    const mode = streamingMode(seedRequest(source), nowMs);
    const decoded = await drain(decodeAwsChunked(pieces(body.subarray(0, body.length - 2), [1000]), mode, {}));
    expect(decoded.length).toBe(expectedData.length);
  });

  test("a tampered data byte, a tampered chunk signature or reordered chunks → SignatureDoesNotMatch", async () => {
    const mode = streamingMode(seedRequest(source), nowMs);
    const flipped = Uint8Array.from(body);
    flipped[1000] = 0x62;
    await expectRejected(drain(decodeAwsChunked(pieces(flipped, [4096]), mode, {})), "SignatureDoesNotMatch");
    const badSignature = Buffer.from(Buffer.from(body).toString("latin1").replace("chunk-signature=0055", "chunk-signature=1055"), "latin1");
    await expectRejected(drain(decodeAwsChunked(pieces(badSignature, [4096]), mode, {})), "SignatureDoesNotMatch");
    const unsignedLine = Buffer.from(Buffer.from(body).toString("latin1").replace(/;chunk-signature=0055[0-9a-f]+/, ""), "latin1");
    await expectRejected(drain(decodeAwsChunked(pieces(unsignedLine, [4096]), mode, {})), "SignatureDoesNotMatch");
  });

  test("no byte of a chunk whose signature fails reaches the consumer", async () => {
    const mode = streamingMode(seedRequest(source), nowMs);
    const flipped = Uint8Array.from(body);
    flipped[body.length - 200] = 0x62; // inside the 1024-byte second chunk
    let received = 0;
    const error = await rejection(
      (async () => {
        for await (const part of decodeAwsChunked(pieces(flipped, [512]), mode, {})) received += part.length;
      })(),
    );
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(received).toBe(65536);
  });

  test("a truncated body → IncompleteBody, wherever it is cut", async () => {
    for (const cut of [0, 5, 90, 1000, 65536 + 88, body.length - 90, body.length - 3]) {
      const mode = streamingMode(seedRequest(source), nowMs);
      await expectRejected(drain(decodeAwsChunked(pieces(body.subarray(0, cut), [777]), mode, {})), "IncompleteBody");
    }
  });

  test("decoded length other than x-amz-decoded-content-length → IncompleteBody (short) or InvalidRequest (long)", async () => {
    await expectRejected(drain(decodeAwsChunked(pieces(body, [4096]), streamingMode(seedRequest(source), nowMs), { decodedLengthBytes: 66561 })), "IncompleteBody");
    await expectRejected(drain(decodeAwsChunked(pieces(body, [4096]), streamingMode(seedRequest(source), nowMs), { decodedLengthBytes: 66559 })), "InvalidRequest");
  });

  test("bytes after the final chunk → InvalidRequest", async () => {
    const extended = Buffer.concat([body, encoder.encode("x")]);
    await expectRejected(drain(decodeAwsChunked(pieces(extended, [4096]), streamingMode(seedRequest(source), nowMs), {})), "InvalidRequest");
  });
});

describe("trailer vectors", () => {
  test("s3-doc/put-object-chunked-with-trailer: end to end, with and without the final empty line", async () => {
    const source = vector("s3-doc/put-object-chunked-with-trailer");
    const chunks = source.expected.chunks ?? [];
    const nowMs = dateMs(source.input.date);
    const seed = source.expected.seed;
    // The vector records no Authorization value: build it from the recorded signature and signed headers.
    const request = seedRequest(source);
    const signedHeaders = seed?.canonicalRequest.split("\n").at(-2) ?? "";
    request.headers.set(
      "authorization",
      `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${seed?.signature ?? ""}`,
    );
    const tail = source.expected.encodedBodyTail ?? "";
    expect(tail.endsWith("\r\n\r\n")).toBe(true);
    for (const body of [encodedBody(chunks, tail), encodedBody(chunks, tail.slice(0, -2))]) {
      for (const sizes of splittings) {
        const mode = streamingMode(request, nowMs);
        expect(mode).toMatchObject({ kind: "streaming", signed: true, trailer: true });
        let trailers: Map<string, string> | undefined;
        const decoded = await drain(
          decodeAwsChunked(pieces(body, sizes), mode, { decodedLengthBytes: 66560, onTrailers: (found) => (trailers = found) }),
        );
        expect(decoded).toEqual(new Uint8Array(66560).fill(0x61));
        expect(trailers).toEqual(new Map(source.input.trailers ?? []));
      }
    }
    const chain = streamingMode(request, nowMs).chain as ChunkChain;
    expect(trailerStringToSign(chain, chunks.at(-1)?.signature ?? "", source.expected.trailer?.canonicalTrailers ?? "")).toBe(
      source.expected.trailer?.stringToSign ?? "",
    );
    signaturesChecked += 1 + chunks.length + 1;
    ran.push(source.id);

    // A changed trailer value or a missing trailer signature fails.
    const changed = encodedBody(chunks, tail.replace("sOO8/Q==", "sOO8/R=="));
    await expectRejected(drain(decodeAwsChunked(pieces(changed, [4096]), streamingMode(request, nowMs), {})), "SignatureDoesNotMatch");
    const unsigned = encodedBody(chunks, tail.replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ""));
    await expectRejected(drain(decodeAwsChunked(pieces(unsigned, [4096]), streamingMode(request, nowMs), {})), "SignatureDoesNotMatch");
  });

  test("aws-c-auth/sigv4_trailing_headers_signing_test: a trailer chained after the doc example's final chunk", async () => {
    const source = vector("aws-c-auth/sigv4_trailing_headers_signing_test");
    const base = vector("s3-doc/put-object-chunked");
    const chunks = base.expected.chunks ?? [];
    expect(source.input.previousSignature).toBe(chunks.at(-1)?.signature ?? "");
    // aws-c-auth reuses the doc seed request (no trailer declared), so the trailer mode is set here by hand.
    const seedMode = streamingMode(seedRequest(base), dateMs(base.input.date));
    const mode: StreamingMode = { ...seedMode, trailer: true };
    const trailerLines = (source.input.trailers ?? []).map(([name, value]) => `${name}:${value}\r\n`).join("");
    const tail = `${chunks.at(-1)?.chunkHeaderLine ?? ""}\r\n${trailerLines}x-amz-trailer-signature:${source.expected.trailer?.signature ?? ""}\r\n\r\n`;
    let trailers: Map<string, string> | undefined;
    const decoded = await drain(decodeAwsChunked(pieces(encodedBody(chunks, tail), [3000]), mode, { onTrailers: (found) => (trailers = found) }));
    expect(decoded.length).toBe(66560);
    expect(trailers).toEqual(new Map(source.input.trailers ?? []));
    expect(trailerStringToSign(mode.chain as ChunkChain, source.input.previousSignature ?? "", source.expected.trailer?.canonicalTrailers ?? "")).toBe(
      source.expected.trailer?.stringToSign ?? "",
    );
    signaturesChecked += 1;
    ran.push(source.id);
  });
});

describe("framing refusals and unsigned streaming", () => {
  const nowMs = Date.UTC(2024, 0, 2, 3, 4, 5);
  const lookup: SecretLookup = (id) => (id === "K" ? "S" : undefined);
  const signed = (payloadHash: string) =>
    signRequest({
      method: "PUT",
      rawPath: "/b/k",
      headers: { host: "h", "x-amz-decoded-content-length": "10" },
      credentials: { accessKeyId: "K", secretAccessKey: "S" },
      region: "us-east-1",
      nowMs,
      payloadHash,
    });
  const modeOf = (payloadHash: string): StreamingMode => {
    const result = authenticate(signed(payloadHash), lookup, nowMs);
    if (result?.payload.kind !== "streaming") throw new Error("expected streaming");
    return result.payload;
  };
  const data = [encoder.encode("hello"), encoder.encode("world")];

  test("round trip: encodeAwsChunked → decodeAwsChunked, signed, with and without trailers", async () => {
    const request = signed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    const body = encodeAwsChunked(data, { chain: request.chain, trailers: [["x-amz-checksum-crc32", "hqBywA=="]] });
    let trailers: Map<string, string> | undefined;
    const mode = modeOf("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    const decoded = await drain(decodeAwsChunked(pieces(body, [3]), mode, { decodedLengthBytes: 10, onTrailers: (found) => (trailers = found) }));
    expect(Buffer.from(decoded).toString()).toBe("helloworld");
    expect(trailers?.get("x-amz-checksum-crc32")).toBe("hqBywA==");
    const plain = encodeAwsChunked(data, { chain: signed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").chain });
    expect(Buffer.from(await drain(decodeAwsChunked(pieces(plain, [4]), modeOf("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), {}))).toString()).toBe("helloworld");
  });

  test("STREAMING-UNSIGNED-PAYLOAD-TRAILER: no chunk signatures, trailers returned", async () => {
    const mode = modeOf("STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    expect(mode).toEqual({ kind: "streaming", signed: false, trailer: true });
    const body = encodeAwsChunked(data, { trailers: [["x-amz-checksum-crc32c", "abc="]] });
    let trailers: Map<string, string> | undefined;
    const decoded = await drain(decodeAwsChunked(pieces(body, [2]), mode, { decodedLengthBytes: 10, onTrailers: (found) => (trailers = found) }));
    expect(Buffer.from(decoded).toString()).toBe("helloworld");
    expect(trailers).toEqual(new Map([["x-amz-checksum-crc32c", "abc="]]));
  });

  test("a chunk signed under another request's seed → SignatureDoesNotMatch", async () => {
    const other = signRequest({ ...{ method: "PUT", rawPath: "/b/other", headers: { host: "h" }, credentials: { accessKeyId: "K", secretAccessKey: "S" }, region: "us-east-1", nowMs, payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" } });
    const body = encodeAwsChunked(data, { chain: other.chain });
    await expectRejected(drain(decodeAwsChunked(pieces(body, [64]), modeOf("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), {})), "SignatureDoesNotMatch");
  });

  test("malformed framing → InvalidRequest; oversized chunk → InvalidArgument", async () => {
    const mode = modeOf("STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    const cases: Array<[string, S3ErrorCode]> = [
      ["zz\r\nhello\r\n0\r\n\r\n", "InvalidRequest"],
      ["5\r\nhelloXX0\r\n\r\n", "InvalidRequest"],
      ["5\nhello\r\n0\r\n\r\n", "InvalidRequest"],
      ["5\r\nhello\r\n0\r\nno-colon-line\r\n\r\n", "InvalidRequest"],
      [`${"1".repeat(5000)}\r\n`, "InvalidRequest"],
      [`${(chunkSizeBytesMax + 1).toString(16)}\r\n`, "InvalidArgument"],
      ["5\r\nhel", "IncompleteBody"],
      ["", "IncompleteBody"],
    ];
    for (const [text, code] of cases) {
      await expectRejected(drain(decodeAwsChunked(pieces(encoder.encode(text), [3]), mode, {})), code);
    }
  });

  test("a chunk of exactly the 16 MiB limit is accepted", async () => {
    const big = new Uint8Array(chunkSizeBytesMax).fill(7);
    const body = encodeAwsChunked([big], { trailers: [] });
    const decoded = await drain(decodeAwsChunked(pieces(body, [1 << 20]), modeOf("STREAMING-UNSIGNED-PAYLOAD-TRAILER"), { decodedLengthBytes: chunkSizeBytesMax }));
    expect(decoded.length).toBe(chunkSizeBytesMax);
  });
});

afterAll(() => {
  console.log(
    `SigV4 streaming vectors: ${ran.length} of ${streaming.vectors.length} ran end to end (${ran.join(", ")}); ` +
      `${signaturesChecked} seed/chunk/trailer signatures checked; 0 judged not applicable.`,
  );
});
