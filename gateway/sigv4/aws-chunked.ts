/**
 * aws-chunked bodies (`Content-Encoding: aws-chunked`), signed or not, with or
 * without trailing headers.
 *
 * | part              | bytes                                                            |
 * |-------------------|------------------------------------------------------------------|
 * | data chunk        | `hex(size)[;chunk-signature=<64 hex>]\r\n` + size bytes + `\r\n` |
 * | final chunk       | `0[;chunk-signature=<64 hex>]\r\n`                               |
 * | then, no trailer  | `\r\n` (or end of stream)                                        |
 * | then, trailer     | `name:value\r\n` per trailer, then (signed) `x-amz-trailer-signature:<64 hex>\r\n`, then `\r\n` (or end of stream) |
 *
 * Chunk string to sign: `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n<sha256("")>\n<sha256(data)>`,
 * the previous signature being the seed (the request's own) for the first chunk.
 * Trailer string to sign: `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<final chunk signature>\n<sha256(trailer lines, each "name:value\n")>`.
 *
 * A chunk is held whole (at most `chunkSizeBytesMax`) until its signature is
 * checked, so no unverified byte ever reaches the consumer.
 */
import { createHash } from "node:crypto";
import { strict as assert } from "node:assert";
import { S3Error } from "../errors.ts";
import type { ChunkChain, PayloadMode } from "./authenticate.ts";
import { emptySha256Hex, sha256Hex } from "./canonical.ts";
import { signatureHex, signaturesEqual } from "./signing-key.ts";

/** Largest chunk accepted; bounds the memory one upload holds. */
export const chunkSizeBytesMax = 16 * 1024 * 1024;
/** Longest chunk header or trailer line (a signed header line is about 90 bytes). */
export const chunkLineBytesMax = 4096;
/** Total bytes of the trailer section, and how many trailer lines. */
export const trailerSectionBytesMax = 16 * 1024;
export const trailerLinesMax = 64;

/** The streaming payload mode, as `authenticate` returns it. */
export type StreamingMode = Extract<PayloadMode, { kind: "streaming" }>;

/** The string to sign for one chunk. */
export function chunkStringToSign(chain: ChunkChain, previousSignature: string, dataSha256Hex: string): string {
  return `AWS4-HMAC-SHA256-PAYLOAD\n${chain.amzDate}\n${chain.scope}\n${previousSignature}\n${emptySha256Hex}\n${dataSha256Hex}`;
}

/** The string to sign for the trailer section; `canonicalTrailers` is the lines `name:value\n`. */
export function trailerStringToSign(chain: ChunkChain, finalChunkSignature: string, canonicalTrailers: string): string {
  return `AWS4-HMAC-SHA256-TRAILER\n${chain.amzDate}\n${chain.scope}\n${finalChunkSignature}\n${sha256Hex(canonicalTrailers)}`;
}

/** Signs one chunk given the previous signature. */
export function signChunk(chain: ChunkChain, previousSignature: string, data: Uint8Array): string {
  return signatureHex(chain.signingKey, chunkStringToSign(chain, previousSignature, sha256Hex(data)));
}

/** Signs the trailer section given the final (0-byte) chunk's signature. */
export function signTrailer(chain: ChunkChain, finalChunkSignature: string, trailers: ReadonlyArray<readonly [string, string]>): string {
  return signatureHex(chain.signingKey, trailerStringToSign(chain, finalChunkSignature, canonicalTrailerLines(trailers)));
}

function canonicalTrailerLines(trailers: ReadonlyArray<readonly [string, string]>): string {
  return trailers.map(([name, value]) => `${name.trim().toLowerCase()}:${value.trim()}\n`).join("");
}

const utf8Decoder = new TextDecoder("utf-8");

function framingError(detail: string): S3Error {
  return new S3Error("InvalidRequest", `Malformed aws-chunked body: ${detail}`);
}

function incompleteBody(): S3Error {
  return new S3Error("IncompleteBody", "The aws-chunked body ended before its final chunk.");
}

/**
 * Reads lines and exact byte counts from an async stream of pieces without
 * copying the bytes of a chunk: it hands out views into the pieces it got.
 * Assumes the source does not reuse a piece's memory after yielding it (true
 * for web streams and for `Bun.serve` request bodies).
 */
class PieceReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #piece: Uint8Array = new Uint8Array(0);
  #offset = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Makes bytes available; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#piece.length) {
      if (this.#ended) return false;
      const next = await this.#iterator.next();
      if (next.done === true) {
        this.#ended = true;
        return false;
      }
      this.#piece = next.value;
      this.#offset = 0;
    }
    return true;
  }

  /**
   * Reads one line ending in CRLF and returns it without the CRLF; undefined
   * if the stream ends before any byte of the line. A line that ends without
   * CRLF is IncompleteBody; a longer one than `lineBytesMax` is malformed.
   */
  async readLine(lineBytesMax: number): Promise<string | undefined> {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      if (!(await this.#fill())) {
        if (length === 0) return undefined;
        throw incompleteBody();
      }
      const newline = this.#piece.indexOf(0x0a, this.#offset);
      const end = newline < 0 ? this.#piece.length : newline + 1;
      const part = this.#piece.subarray(this.#offset, end);
      this.#offset = end;
      parts.push(part);
      length += part.length;
      if (length > lineBytesMax + 2) throw framingError(`a line is longer than ${lineBytesMax} bytes`);
      if (newline >= 0) break;
    }
    const line = utf8Decoder.decode(parts.length === 1 && parts[0] !== undefined ? parts[0] : concat(parts, length));
    if (!line.endsWith("\r\n")) throw framingError("a line ends with LF instead of CRLF");
    return line.slice(0, -2);
  }

  /** Reads exactly `count` bytes as views; IncompleteBody when the stream ends first. */
  async readExact(count: number): Promise<Uint8Array[]> {
    const parts: Uint8Array[] = [];
    let remaining = count;
    while (remaining > 0) {
      if (!(await this.#fill())) throw incompleteBody();
      const take = Math.min(remaining, this.#piece.length - this.#offset);
      parts.push(this.#piece.subarray(this.#offset, this.#offset + take));
      this.#offset += take;
      remaining -= take;
    }
    return parts;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

interface ChunkHeader {
  sizeBytes: number;
  signature: string | undefined;
}

function parseChunkHeader(line: string): ChunkHeader {
  const [sizeText = "", ...extensions] = line.split(";");
  if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw framingError(`"${line.slice(0, 80)}" is not a chunk size line`);
  const sizeBytes = Number.parseInt(sizeText, 16);
  if (sizeBytes > chunkSizeBytesMax) {
    throw new S3Error("InvalidArgument", `aws-chunked chunk of ${sizeBytes} bytes exceeds the ${chunkSizeBytesMax}-byte limit.`);
  }
  let signature: string | undefined;
  for (const extension of extensions) {
    const equals = extension.indexOf("=");
    const name = (equals < 0 ? extension : extension.slice(0, equals)).trim();
    if (name !== "chunk-signature") continue;
    if (signature !== undefined) throw framingError("a chunk carries two signatures");
    signature = extension.slice(equals + 1).trim();
  }
  return { sizeBytes, signature };
}

function verifyOrThrow(computedHex: string, providedHex: string | undefined, what: string): void {
  if (providedHex === undefined) {
    throw new S3Error("SignatureDoesNotMatch", `The ${what} signature is missing.`);
  }
  if (!signaturesEqual(computedHex, providedHex)) {
    throw new S3Error("SignatureDoesNotMatch", `The ${what} signature we calculated does not match the signature you provided.`);
  }
}

/**
 * Removes aws-chunked framing, verifying every chunk signature (and the trailer signature) for signed
 * streaming, checking that the decoded length equals `decodedLengthBytes` when given
 * (x-amz-decoded-content-length), and returning trailing headers (e.g. x-amz-checksum-crc32) through
 * `onTrailers` (called once, before the stream ends, when `mode.trailer`; names lower-case). Streams:
 * memory bounded by one chunk (chunk sizes over 16 MiB are refused). Throws S3Error
 * (SignatureDoesNotMatch for a bad or missing chunk/trailer signature, IncompleteBody for a short
 * stream or fewer decoded bytes than declared, InvalidRequest for malformed framing or more bytes than
 * declared, InvalidArgument for an oversized chunk).
 */
export async function* decodeAwsChunked(
  body: AsyncIterable<Uint8Array>,
  mode: StreamingMode,
  options: { decodedLengthBytes?: number; onTrailers?: (trailers: Map<string, string>) => void },
): AsyncIterable<Uint8Array> {
  const chain = mode.chain;
  assert(!mode.signed || chain !== undefined, "signed aws-chunked decoding needs the seed chain");
  const reader = new PieceReader(body);
  let previousSignature = chain?.seedSignature ?? "";
  let decodedBytes = 0;

  for (;;) {
    const line = await reader.readLine(chunkLineBytesMax);
    if (line === undefined) throw incompleteBody();
    const header = parseChunkHeader(line);
    const data = await reader.readExact(header.sizeBytes);
    if (header.sizeBytes > 0) {
      const ending = await reader.readExact(2);
      const endingBytes = concat(ending, 2);
      if (endingBytes[0] !== 0x0d || endingBytes[1] !== 0x0a) throw framingError("chunk data is not followed by CRLF");
    }
    if (mode.signed && chain !== undefined) {
      const hash = createHash("sha256");
      for (const part of data) hash.update(part);
      const computed = signatureHex(chain.signingKey, chunkStringToSign(chain, previousSignature, hash.digest("hex")));
      verifyOrThrow(computed, header.signature, "chunk");
      previousSignature = computed;
    }
    decodedBytes += header.sizeBytes;
    if (options.decodedLengthBytes !== undefined && decodedBytes > options.decodedLengthBytes) {
      throw new S3Error(
        "InvalidRequest",
        `The aws-chunked body holds more than x-amz-decoded-content-length (${options.decodedLengthBytes}) bytes.`,
      );
    }
    if (header.sizeBytes === 0) break;
    for (const part of data) yield part;
  }

  if (mode.trailer) {
    const trailers = await readTrailers(reader, mode, chain, previousSignature);
    if (options.onTrailers !== undefined) options.onTrailers(trailers);
  } else {
    // The final CRLF; some clients end the stream right after the final chunk line.
    const line = await reader.readLine(chunkLineBytesMax);
    if (line !== undefined && line !== "") throw framingError("unexpected data after the final chunk");
  }
  if (!(await reader.atEnd())) throw framingError("unexpected data after the final chunk");
  if (options.decodedLengthBytes !== undefined && decodedBytes !== options.decodedLengthBytes) {
    throw new S3Error(
      "IncompleteBody",
      `The aws-chunked body decoded to ${decodedBytes} bytes, but x-amz-decoded-content-length is ${options.decodedLengthBytes}.`,
    );
  }
}

async function readTrailers(
  reader: PieceReader,
  mode: StreamingMode,
  chain: ChunkChain | undefined,
  finalChunkSignature: string,
): Promise<Map<string, string>> {
  const trailers = new Map<string, string>();
  const ordered: Array<readonly [string, string]> = [];
  let trailerSignature: string | undefined;
  let sectionBytes = 0;
  for (let lineCount = 0; ; lineCount += 1) {
    if (lineCount > trailerLinesMax) throw framingError(`more than ${trailerLinesMax} trailer lines`);
    const line = await reader.readLine(chunkLineBytesMax);
    if (line === undefined || line === "") break;
    sectionBytes += line.length + 2;
    if (sectionBytes > trailerSectionBytesMax) throw framingError(`trailers exceed ${trailerSectionBytesMax} bytes`);
    const colon = line.indexOf(":");
    if (colon <= 0) throw framingError(`trailer line "${line.slice(0, 80)}" has no name`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "x-amz-trailer-signature") {
      if (trailerSignature !== undefined) throw framingError("two trailer signatures");
      trailerSignature = value;
      continue;
    }
    // A trailer after the signature would not be covered by it.
    if (trailerSignature !== undefined) throw framingError("a trailer follows x-amz-trailer-signature");
    if (trailers.has(name)) throw framingError(`trailer ${name} appears twice`);
    trailers.set(name, value);
    ordered.push([name, value]);
  }
  if (mode.signed && chain !== undefined) {
    const computed = signatureHex(
      chain.signingKey,
      trailerStringToSign(chain, finalChunkSignature, canonicalTrailerLines(ordered)),
    );
    verifyOrThrow(computed, trailerSignature, "trailer");
  }
  return trailers;
}

/**
 * For tests and tools: frames `chunks` as aws-chunked, signing them when
 * `chain` is given, then the final 0-byte chunk and (when `trailers` is given)
 * the trailer section. Empty entries in `chunks` are skipped (a 0-byte chunk
 * would end the body).
 */
export function encodeAwsChunked(
  chunks: readonly Uint8Array[],
  options: { chain?: ChunkChain; trailers?: ReadonlyArray<readonly [string, string]> } = {},
): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const crlf = encoder.encode("\r\n");
  let previous = options.chain?.seedSignature ?? "";
  const frame = (data: Uint8Array): void => {
    let line = data.length.toString(16);
    if (options.chain !== undefined) {
      previous = signChunk(options.chain, previous, data);
      line += `;chunk-signature=${previous}`;
    }
    parts.push(encoder.encode(`${line}\r\n`));
    if (data.length > 0) parts.push(data, crlf);
  };
  for (const chunk of chunks) if (chunk.length > 0) frame(chunk);
  frame(new Uint8Array(0));
  if (options.trailers !== undefined) {
    let section = options.trailers.map(([name, value]) => `${name}:${value}\r\n`).join("");
    if (options.chain !== undefined) {
      section += `x-amz-trailer-signature:${signTrailer(options.chain, previous, options.trailers)}\r\n`;
    }
    parts.push(encoder.encode(section));
  }
  parts.push(crlf);
  return concat(parts, parts.reduce((sum, part) => sum + part.length, 0));
}

/**
 * Passes the body through, hashing it; at the end throws S3Error("XAmzContentSHA256Mismatch") if the
 * SHA-256 differs from expectedHex. The bytes reach the consumer before the check, so the consumer
 * must not make them visible until the stream has ended without error.
 */
export async function* verifySha256(body: AsyncIterable<Uint8Array>, expectedHex: string): AsyncIterable<Uint8Array> {
  const hash = createHash("sha256");
  for await (const piece of body) {
    hash.update(piece);
    yield piece;
  }
  const computedHex = hash.digest("hex");
  if (!signaturesEqual(computedHex, expectedHex)) {
    throw new S3Error("XAmzContentSHA256Mismatch", undefined, {
      ClientComputedContentSHA256: expectedHex,
      S3ComputedContentSHA256: computedHex,
    });
  }
}
