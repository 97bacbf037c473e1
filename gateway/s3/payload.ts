/**
 * The request-body pipeline. Everything streams: a body is never held whole
 * except the small XML documents of bucket operations, which are bounded.
 *
 *   raw body → (client went away? → IncompleteBody)
 *            → payload mode: sha256 → count then verifySha256 | streaming → decodeAwsChunked then count
 *                            | unsigned → count
 *            → x-amz-checksum-* from a header or the trailer (BadDigest at the end)
 *            → Content-MD5 (BadDigest at the end)
 *
 * Any error thrown here travels out of the consumer (`backend.putObject`,
 * which then stores nothing) and becomes the S3 error reply.
 */
import { createHash } from "node:crypto";
import type { ObjectChecksum } from "../backend.ts";
import { S3Error } from "../errors.ts";
import { decodeAwsChunked, verifySha256 } from "../sigv4/index.ts";
import { checksumRequestFrom, verifyChecksum } from "./checksum.ts";
import type { OperationContext } from "./context.ts";
import { objectBytesMax, parseLengthHeader } from "./validation.ts";

/** The body's declared decoded length and the decoded byte stream. */
export interface Payload {
  readonly declaredBytes: number;
  readonly body: AsyncIterable<Uint8Array>;
  /** Trailing headers of a streaming upload, filled once the body has been read. */
  readonly trailers: Map<string, string>;
  /**
   * The verified checksum the request carried (header or trailer), or
   * undefined when it carried none. Call only after `body` ended without error.
   */
  readonly checksum: () => ObjectChecksum | undefined;
}

/**
 * The decoded length the client declared: `x-amz-decoded-content-length` for
 * aws-chunked uploads, else `Content-Length`. MissingContentLength when absent.
 */
export function declaredLengthBytes(context: OperationContext, limitBytes: number): number {
  const headers = context.request.headers;
  const streaming = context.auth.payload.kind === "streaming";
  const name = streaming ? "x-amz-decoded-content-length" : "content-length";
  const declared = parseLengthHeader(name, headers.get(name));
  if (declared === undefined) throw new S3Error("MissingContentLength");
  if (declared > limitBytes) {
    throw limitBytes === objectBytesMax
      ? new S3Error("EntityTooLarge", undefined, { ProposedSize: String(declared), MaxSizeAllowed: String(objectBytesMax) })
      : new S3Error("MaxMessageLengthExceeded", undefined, { MaxMessageLengthBytes: String(limitBytes) });
  }
  return declared;
}

/**
 * Builds the decoded, verified body stream for the request's payload mode. With `checksumHeaders`
 * "object's", an `x-amz-checksum-*` header describes the object the request makes, not this body
 * (CompleteMultipartUpload's whole-object value), and is left to the operation.
 */
export function openPayload(context: OperationContext, limitBytes: number, checksumHeaders: "body's" | "object's" = "body's"): Payload {
  const declaredBytes = declaredLengthBytes(context, limitBytes);
  const trailers = new Map<string, string>();
  const mode = context.auth.payload;
  // Header checks come before a byte is read, so a malformed value is refused without reading the body.
  const checksumRequest = checksumHeaders === "object's" ? undefined : checksumRequestFrom(context.request.headers, mode.kind === "streaming" && mode.trailer);
  const md5 = contentMd5(context.request.headers);
  const raw = reportClientGone(context.request.body);
  let body: AsyncIterable<Uint8Array>;
  switch (mode.kind) {
    case "sha256":
      // Count before hashing so a short body reads as IncompleteBody, not as a hash mismatch.
      body = verifySha256(countExactly(raw, declaredBytes), mode.expectedHex);
      break;
    case "unsigned":
      body = countExactly(raw, declaredBytes);
      break;
    case "streaming":
      body = countExactly(
        decodeAwsChunked(raw, mode, {
          decodedLengthBytes: declaredBytes,
          onTrailers: (received) => {
            for (const [name, value] of received) trailers.set(name, value);
          },
        }),
        declaredBytes,
      );
      break;
    default: {
      const unreachable: never = mode;
      throw new Error(`unknown payload mode ${JSON.stringify(unreachable)}`);
    }
  }
  let checksum: () => ObjectChecksum | undefined = () => undefined;
  if (checksumRequest !== undefined) {
    const verifying = verifyChecksum(body, checksumRequest, trailers);
    body = verifying.body;
    checksum = verifying.verified.result;
  }
  return { declaredBytes, body: md5 === undefined ? body : verifyMd5(body, md5), trailers, checksum };
}

/**
 * Reads a small body whole (bucket operations' XML), at most `limitBytes`.
 * With `optional`, a request that declares no length and is not chunked has
 * an empty body rather than MissingContentLength.
 */
export async function readSmallBody(
  context: OperationContext,
  limitBytes: number,
  optional: boolean,
  checksumHeaders: "body's" | "object's" = "body's",
): Promise<Uint8Array> {
  const headers = context.request.headers;
  if (optional && context.auth.payload.kind !== "streaming" && !headers.has("content-length") && !headers.has("transfer-encoding")) {
    return new Uint8Array(0);
  }
  const { declaredBytes, body } = openPayload(context, limitBytes, checksumHeaders);
  const out = new Uint8Array(declaredBytes);
  let filled = 0;
  for await (const chunk of body) {
    // countExactly has already refused anything past the declared length.
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  return out;
}

/**
 * The base64 MD5 the client sent, decoded to 16 bytes; undefined when absent,
 * InvalidDigest when it is not base64 of 16 bytes.
 */
export function contentMd5(headers: ReadonlyMap<string, string>): Uint8Array | undefined {
  const value = headers.get("content-md5");
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/]{22}==$/.test(trimmed)) throw new S3Error("InvalidDigest", undefined, { "Content-MD5": value });
  return new Uint8Array(Buffer.from(trimmed, "base64"));
}

/** Wraps the adapter's body so that a transport failure reads as IncompleteBody. */
async function* reportClientGone(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    if (error instanceof S3Error) throw error;
    throw new S3Error("IncompleteBody", "The request body ended before the declared length (the connection was closed).");
  }
}

/** Passes bytes through, failing when the stream is shorter or longer than `expectedBytes`. */
export async function* countExactly(body: AsyncIterable<Uint8Array>, expectedBytes: number): AsyncGenerator<Uint8Array> {
  let seenBytes = 0;
  for await (const chunk of body) {
    seenBytes += chunk.byteLength;
    if (seenBytes > expectedBytes) {
      throw new S3Error("InvalidRequest", `The request body is longer than the declared length of ${expectedBytes} bytes.`);
    }
    if (chunk.byteLength > 0) yield chunk;
  }
  if (seenBytes < expectedBytes) {
    throw new S3Error("IncompleteBody", `Received ${seenBytes} of the ${expectedBytes} declared bytes.`);
  }
}

/** Passes bytes through and checks their MD5 once the stream ends (BadDigest on mismatch). */
export async function* verifyMd5(body: AsyncIterable<Uint8Array>, expected: Uint8Array): AsyncGenerator<Uint8Array> {
  const hash = createHash("md5");
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = hash.digest();
  if (!actual.equals(expected)) {
    throw new S3Error("BadDigest", undefined, {
      ExpectedDigest: Buffer.from(expected).toString("base64"),
      CalculatedDigest: actual.toString("base64"),
    });
  }
}
