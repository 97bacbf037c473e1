/**
 * The trailer of STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, checked against
 * signatures built here from the documented strings to sign with nothing but
 * node:crypto (no helper from this folder signs anything in this file):
 *
 *   chunk:   AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<sha256("")>\n<sha256(data)>
 *   trailer: AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<final chunk signature>\n<sha256("name:value\n")>
 */
import { describe, expect, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import { S3Error } from "../errors.ts";
import { decodeAwsChunked, type StreamingMode } from "./aws-chunked.ts";

const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const amzDate = "20130524T000000Z";
const scope = "20130524/us-east-1/s3/aws4_request";
const seedSignature = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

const hmac = (key: Buffer | string, data: string): Buffer => createHmac("sha256", key).update(data).digest();
const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, "20130524"), "us-east-1"), "s3"), "aws4_request");
const sign = (toSign: string): string => createHmac("sha256", signingKey).update(toSign).digest("hex");

const mode: StreamingMode = {
  kind: "streaming",
  signed: true,
  trailer: true,
  chain: { signingKey: new Uint8Array(signingKey), amzDate, scope, seedSignature },
};

/** Frames `chunks` and the trailer by hand, every signature computed from the documented strings. */
function body(chunks: Buffer[], trailer: { name: string; value: string }, tamper: { trailerSignature?: string; sentValue?: string } = {}): Uint8Array {
  let previous = seedSignature;
  const parts: Buffer[] = [];
  for (const data of [...chunks, Buffer.alloc(0)]) {
    previous = sign(`AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${sha256("")}\n${sha256(data)}`);
    parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${previous}\r\n`));
    if (data.length > 0) parts.push(data, Buffer.from("\r\n"));
  }
  const trailerSignature =
    tamper.trailerSignature ?? sign(`AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previous}\n${sha256(`${trailer.name}:${trailer.value}\n`)}`);
  parts.push(Buffer.from(`${trailer.name}:${tamper.sentValue ?? trailer.value}\r\nx-amz-trailer-signature:${trailerSignature}\r\n\r\n`));
  return new Uint8Array(Buffer.concat(parts));
}

async function decode(bytes: Uint8Array): Promise<{ data: Buffer; trailers?: Map<string, string>; error?: string }> {
  let trailers: Map<string, string> | undefined;
  const out: Uint8Array[] = [];
  try {
    // Split the wire bytes into uneven pieces so lines and chunks straddle reads.
    async function* wire(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < bytes.length; offset += 37) yield bytes.subarray(offset, offset + 37);
    }
    for await (const piece of decodeAwsChunked(wire(), mode, { onTrailers: (received) => (trailers = received) })) out.push(piece);
  } catch (error) {
    if (!(error instanceof S3Error)) throw error;
    return { data: Buffer.concat(out), error: error.code };
  }
  return { data: Buffer.concat(out), ...(trailers === undefined ? {} : { trailers }) };
}

describe("trailer signature built from the documented string to sign", () => {
  const chunks = [Buffer.alloc(100, "a"), Buffer.alloc(40, "b")];
  const trailer = { name: "x-amz-checksum-crc32", value: "sOO8/Q==" };

  test("accepted, and the trailer is handed over", async () => {
    const decoded = await decode(body(chunks, trailer));
    expect(decoded.error).toBeUndefined();
    expect(decoded.data.equals(Buffer.concat(chunks))).toBe(true);
    expect(decoded.trailers).toEqual(new Map([["x-amz-checksum-crc32", "sOO8/Q=="]]));
  });

  test("a trailer value other than the signed one → SignatureDoesNotMatch", async () => {
    expect((await decode(body(chunks, trailer, { sentValue: "AAAAAA==" }))).error).toBe("SignatureDoesNotMatch");
  });

  test("a wrong trailer signature → SignatureDoesNotMatch", async () => {
    expect((await decode(body(chunks, trailer, { trailerSignature: "0".repeat(64) }))).error).toBe("SignatureDoesNotMatch");
  });

  test("a trailer signed over another chain (not the final chunk's signature) → SignatureDoesNotMatch", async () => {
    const other = sign(`AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${seedSignature}\n${sha256(`${trailer.name}:${trailer.value}\n`)}`);
    expect((await decode(body(chunks, trailer, { trailerSignature: other }))).error).toBe("SignatureDoesNotMatch");
  });

  test("a missing trailer signature → SignatureDoesNotMatch", async () => {
    const bytes = Buffer.from(body(chunks, trailer)).toString("latin1").replace(/x-amz-trailer-signature:[0-9a-f]{64}\r\n/, "");
    expect((await decode(new Uint8Array(Buffer.from(bytes, "latin1")))).error).toBe("SignatureDoesNotMatch");
  });
});
