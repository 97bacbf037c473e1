/**
 * S3 additional checksums ("Checking object integrity"): CRC32, CRC32C,
 * CRC64NVME, SHA1, SHA256.
 *
 * A request names at most one checksum, in one of three ways:
 * - a header `x-amz-checksum-<alg>: <base64>` (the value arrives first);
 * - `x-amz-trailer: x-amz-checksum-<alg>` with an aws-chunked
 *   `STREAMING-*-TRAILER` body (the value arrives after the last byte);
 * - `x-amz-sdk-checksum-algorithm: <ALG>` only names the algorithm and must
 *   agree with the header or trailer that carries the value.
 *
 * The checksum is computed over the decoded bytes as they stream and compared
 * once the body has ended; a mismatch throws BadDigest out of the body
 * iterable, so the backend stores nothing (see backend.ts).
 *
 * Value encodings (base64 of big-endian bytes):
 *
 * | algorithm | bytes | computed by                     |
 * |-----------|-------|---------------------------------|
 * | CRC32     | 4     | `@node-rs/crc32` `crc32`        |
 * | CRC32C    | 4     | `@node-rs/crc32` `crc32c`       |
 * | CRC64NVME | 8     | `checksum-crc64nvme.ts`         |
 * | SHA1      | 20    | node:crypto                     |
 * | SHA256    | 32    | node:crypto                     |
 *
 * Multipart (issue 6, not built yet) reuses `createChecksumHasher` per part
 * and `compositeChecksum` for CompleteMultipartUpload: the checksum of the
 * concatenated raw part checksums, written `<base64>-<part count>`.
 */
import { strict as assert } from "node:assert";
import { createHash, type Hash } from "node:crypto";
import { crc32, crc32c } from "@node-rs/crc32";
import type { ChecksumAlgorithm, ObjectChecksum } from "../backend.ts";
import { S3Error } from "../errors.ts";
import { Crc64Nvme } from "./checksum-crc64nvme.ts";
import { combineCrcDigests, isCombinable } from "./crc-combine.ts";

export const checksumAlgorithms: readonly ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

const digestBytesByAlgorithm: Readonly<Record<ChecksumAlgorithm, number>> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
};

/** The header (and trailer) name carrying an algorithm's value, lower-case. */
export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/**
 * Algorithms S3 added later (2025) that this store does not compute yet:
 * refused with NotImplemented rather than stored unverified.
 */
const unimplementedAlgorithms: readonly string[] = ["MD5", "SHA512", "XXHASH64", "XXHASH3", "XXHASH128"];

function notImplementedAlgorithm(algorithm: string): S3Error {
  return new S3Error("NotImplemented", `The ${algorithm} checksum algorithm is not implemented; use CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.`);
}

/** The algorithm a `x-amz-checksum-<alg>` name stands for, or undefined. */
export function algorithmOfHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.trim().toLowerCase();
  return checksumAlgorithms.find((algorithm) => checksumHeaderName(algorithm) === lower);
}

/** An incremental checksum of one algorithm. */
export interface ChecksumHasher {
  update(bytes: Uint8Array): void;
  /** The raw big-endian digest; call once. */
  digest(): Uint8Array;
}

class CrcHasher implements ChecksumHasher {
  #state = 0;
  readonly #crc: (input: Uint8Array, initialState?: number) => number;
  constructor(crc: (input: Uint8Array, initialState?: number) => number) {
    this.#crc = crc;
  }
  update(bytes: Uint8Array): void {
    this.#state = this.#crc(bytes, this.#state);
  }
  digest(): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.#state >>> 0);
    return out;
  }
}

class NodeHashHasher implements ChecksumHasher {
  readonly #hash: Hash;
  constructor(name: "sha1" | "sha256") {
    this.#hash = createHash(name);
  }
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }
  digest(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
  }
}

export function createChecksumHasher(algorithm: ChecksumAlgorithm): ChecksumHasher {
  switch (algorithm) {
    case "CRC32":
      return new CrcHasher(crc32);
    case "CRC32C":
      return new CrcHasher(crc32c);
    case "CRC64NVME":
      return new Crc64Nvme();
    case "SHA1":
      return new NodeHashHasher("sha1");
    case "SHA256":
      return new NodeHashHasher("sha256");
    default: {
      const unreachable: never = algorithm;
      throw new Error(`unknown checksum algorithm ${String(unreachable)}`);
    }
  }
}

/** The base64 checksum of `bytes` (tests, tools, small documents). */
export function checksumOf(algorithm: ChecksumAlgorithm, bytes: Uint8Array): string {
  const hasher = createChecksumHasher(algorithm);
  hasher.update(bytes);
  return Buffer.from(hasher.digest()).toString("base64");
}

/**
 * The COMPOSITE checksum of a multipart object from its parts' FULL_OBJECT
 * values (base64, in part order): the checksum of their concatenated raw
 * digests, then `-<part count>`.
 */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partValues: readonly string[]): ObjectChecksum {
  const hasher = createChecksumHasher(algorithm);
  for (const value of partValues) hasher.update(decodeChecksumValue(algorithm, value, checksumHeaderName(algorithm)));
  return { algorithm, type: "COMPOSITE", value: `${Buffer.from(hasher.digest()).toString("base64")}-${partValues.length}` };
}

/**
 * The FULL_OBJECT checksum of a multipart object from its parts' values (base64, in part order) and
 * sizes: the CRC of the whole body, combined from the parts' CRCs without reading a byte
 * (crc-combine.ts). Only the CRCs combine; S3 pairs SHA-1 and SHA-256 with COMPOSITE only.
 */
export function fullObjectChecksum(algorithm: ChecksumAlgorithm, parts: readonly { readonly value: string; readonly sizeBytes: number }[]): ObjectChecksum {
  assert(isCombinable(algorithm), `a FULL_OBJECT ${algorithm} checksum cannot be combined from parts`);
  const digest = combineCrcDigests(
    algorithm,
    parts.map((part) => ({ digest: decodeChecksumValue(algorithm, part.value, checksumHeaderName(algorithm)), lengthBytes: part.sizeBytes })),
  );
  return { algorithm, type: "FULL_OBJECT", value: Buffer.from(digest).toString("base64") };
}

/** Decodes a client's base64 value; InvalidRequest unless it is canonical base64 of the algorithm's digest length. */
export function decodeChecksumValue(algorithm: ChecksumAlgorithm, value: string, source: string): Uint8Array {
  const trimmed = value.trim();
  const bytes = Buffer.from(trimmed, "base64");
  // Round-tripping refuses non-base64 characters and wrong padding, which Buffer would skip silently.
  if (bytes.length !== digestBytesByAlgorithm[algorithm] || bytes.toString("base64") !== trimmed) {
    throw new S3Error("InvalidRequest", `Value for ${source} header is invalid.`);
  }
  return new Uint8Array(bytes);
}

/** Where the request's checksum value comes from. */
export type ChecksumSource =
  | { readonly kind: "header"; readonly value: string }
  | { readonly kind: "trailer"; readonly name: string };

export interface ChecksumRequest {
  readonly algorithm: ChecksumAlgorithm;
  readonly source: ChecksumSource;
}

/**
 * The checksum a request asks to be verified, from its headers; undefined
 * when it names none. `trailerMode` is whether the body is a
 * `STREAMING-*-TRAILER` aws-chunked body (only those can carry trailers).
 * Throws InvalidRequest for two checksums, a malformed value, an unknown or
 * disagreeing algorithm, or a trailer a body of this kind cannot carry.
 */
export function checksumRequestFrom(headers: ReadonlyMap<string, string>, trailerMode: boolean): ChecksumRequest | undefined {
  const found: ChecksumRequest[] = [];
  for (const [name, value] of headers) {
    if (!name.startsWith("x-amz-checksum-")) continue;
    // x-amz-checksum-mode belongs to GET/HEAD; x-amz-checksum-type / -algorithm to CreateMultipartUpload.
    if (name === "x-amz-checksum-mode") continue;
    if (name === "x-amz-checksum-type") {
      if (value.trim().toUpperCase() !== "FULL_OBJECT") {
        throw new S3Error("InvalidRequest", "A single-part upload's checksum type can only be FULL_OBJECT.");
      }
      continue;
    }
    const algorithm = algorithmOfHeader(name);
    if (algorithm === undefined) throw unknownAlgorithm(name);
    decodeChecksumValue(algorithm, value, name);
    found.push({ algorithm, source: { kind: "header", value: value.trim() } });
  }
  const trailerHeader = headers.get("x-amz-trailer");
  if (trailerHeader !== undefined) {
    const names = trailerHeader
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== "");
    if (!trailerMode && names.length > 0) {
      throw new S3Error(
        "InvalidRequest",
        "x-amz-trailer needs a STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body.",
      );
    }
    for (const name of names) {
      const algorithm = algorithmOfHeader(name);
      if (algorithm === undefined) throw unknownAlgorithm(name);
      found.push({ algorithm, source: { kind: "trailer", name } });
    }
  }
  if (found.length > 1) {
    throw new S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.");
  }
  const sdkAlgorithm = headers.get("x-amz-sdk-checksum-algorithm")?.trim().toUpperCase();
  const request = found[0];
  if (sdkAlgorithm !== undefined) {
    if (unimplementedAlgorithms.includes(sdkAlgorithm)) throw notImplementedAlgorithm(sdkAlgorithm);
    if (!checksumAlgorithms.includes(sdkAlgorithm as ChecksumAlgorithm)) {
      throw new S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.");
    }
    if (request === undefined) {
      throw new S3Error(
        "InvalidRequest",
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.",
      );
    }
    if (request.algorithm !== sdkAlgorithm) {
      throw new S3Error("InvalidRequest", `x-amz-sdk-checksum-algorithm ${sdkAlgorithm} differs from the checksum sent (${request.algorithm}).`);
    }
  }
  return request;
}

/** NotImplemented for an algorithm S3 knows but this store does not compute, else InvalidRequest. */
function unknownAlgorithm(name: string): S3Error {
  const suffix = name.slice("x-amz-checksum-".length).toUpperCase();
  if (name.startsWith("x-amz-checksum-") && unimplementedAlgorithms.includes(suffix)) return notImplementedAlgorithm(suffix);
  return new S3Error("InvalidRequest", `${name} is not a checksum this store knows.`);
}

/** The outcome of `verifyChecksum`, readable once the body has ended without error. */
export interface VerifiedChecksum {
  /** The verified checksum; throws (a bug) if read before the body ended. */
  result(): ObjectChecksum;
}

/**
 * Passes the decoded body through, computing the requested checksum; when
 * the body ends, compares it with the header value or the trailer (read from
 * `trailers`, which the aws-chunked decoder fills before the stream ends).
 * Throws BadDigest on a mismatch and InvalidRequest when a declared trailer
 * did not arrive or is malformed. Bytes reach the consumer before the check,
 * which must therefore not make them visible until the stream has ended
 * without error (backend.ts's contract).
 */
export function verifyChecksum(
  body: AsyncIterable<Uint8Array>,
  request: ChecksumRequest,
  trailers: ReadonlyMap<string, string>,
): { body: AsyncIterable<Uint8Array>; verified: VerifiedChecksum } {
  let settled: ObjectChecksum | undefined;
  async function* verifying(): AsyncGenerator<Uint8Array> {
    const hasher = createChecksumHasher(request.algorithm);
    for await (const chunk of body) {
      hasher.update(chunk);
      yield chunk;
    }
    const computed = Buffer.from(hasher.digest()).toString("base64");
    const name = checksumHeaderName(request.algorithm);
    let sent: string;
    if (request.source.kind === "header") {
      sent = request.source.value;
    } else {
      const trailer = trailers.get(request.source.name);
      if (trailer === undefined) {
        throw new S3Error("InvalidRequest", `The trailer ${request.source.name} named in x-amz-trailer was not received.`);
      }
      decodeChecksumValue(request.algorithm, trailer, name);
      sent = trailer.trim();
    }
    if (sent !== computed) {
      throw new S3Error("BadDigest", `The ${request.algorithm} you specified did not match the calculated checksum.`, {
        [`Expected${request.algorithm}`]: sent,
        [`Calculated${request.algorithm}`]: computed,
      });
    }
    settled = { algorithm: request.algorithm, value: computed, type: "FULL_OBJECT" };
  }
  return {
    body: verifying(),
    verified: {
      result: () => {
        assert(settled !== undefined, "the checksum is read only after the body ended without error");
        return settled;
      },
    },
  };
}

/**
 * The reply headers for a stored checksum: `x-amz-checksum-<alg>` and
 * `x-amz-checksum-type`. Empty when there is none.
 */
export function checksumReplyHeaders(checksum: ObjectChecksum | undefined): Record<string, string> {
  if (checksum === undefined) return {};
  return { [checksumHeaderName(checksum.algorithm)]: checksum.value, "x-amz-checksum-type": checksum.type };
}

/**
 * The checksum headers of a GET/HEAD reply: the stored checksum when the
 * request asks for it (`x-amz-checksum-mode: ENABLED`) and the reply carries
 * the whole object; a range's bytes do not match the whole-object value, so
 * S3 leaves it out of partial replies, and so does this.
 */
export function checksumModeReplyHeaders(
  requestHeaders: ReadonlyMap<string, string>,
  checksum: ObjectChecksum | undefined,
  wholeObject: boolean,
): Record<string, string> {
  const mode = requestHeaders.get("x-amz-checksum-mode");
  if (mode === undefined || mode.trim().toUpperCase() !== "ENABLED" || !wholeObject) return {};
  return checksumReplyHeaders(checksum);
}
