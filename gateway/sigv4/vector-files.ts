/**
 * Test support: loads the SigV4 test vectors from `/work/shared/sigv4-vectors`
 * (`../shared` next to the repository) and turns their request text into
 * `AuthInput`. Used only by the `*.test.ts` files of this folder. A missing
 * vector folder throws: the tests must fail, never pass on no data.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { AuthInput } from "./authenticate.ts";

/** The folder the vectors live in, relative to this file. */
export const vectorFolderUrl = new URL("../../../shared/sigv4-vectors/", import.meta.url);

/** Reads and parses one vector file; throws with the path when it is missing or not JSON. */
export function loadVectorFile<T>(fileName: string): T {
  const url = new URL(fileName, vectorFolderUrl);
  let text: string;
  try {
    text = readFileSync(url, "utf8");
  } catch (error) {
    throw new Error(`SigV4 vector file ${fileURLToPath(url)} could not be read: ${String(error)}`);
  }
  return JSON.parse(text) as T;
}

/** A general-suite vector (only the fields the tests read). */
export interface GeneralVector {
  id: string;
  suite: string;
  auth: "header" | "query";
  input: {
    method: string;
    rawPath: string;
    rawQuery: string;
    headers: Array<[string, string]>;
    body: string;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    date: string;
    region: string;
    service: string;
    normalizePath: boolean;
    omitSessionToken?: boolean;
  };
  expected: {
    canonicalRequest: string;
    stringToSign: string;
    signature: string;
    authorization?: string;
    signedRequest: string | null;
  };
  alternateExpected?: { canonicalRequest: string; stringToSign: string; signature: string; authorization: string };
}

/** An S3 single-chunk or presigned vector. */
export interface S3Vector {
  id: string;
  input: {
    credentials: { accessKeyId: string; secretAccessKey: string };
    date: string;
    method: string;
    rawPath: string;
    rawPathAlternatives?: string[];
    rawQuery: string;
    headers: Array<[string, string]>;
    body: string;
    expiresInSeconds?: number;
  };
  expected: { canonicalRequest: string; stringToSign: string; signature: string; authorization?: string };
}

/** A chunk of a streaming vector. */
export interface StreamingChunk {
  size: number;
  data: { byte?: string; count: number };
  dataSha256: string;
  stringToSign: string;
  signature: string;
  chunkHeaderLine: string;
}

/** A streaming vector (seed + chunks, or a lone trailer signature). */
export interface StreamingVector {
  id: string;
  input: {
    credentials: { accessKeyId: string; secretAccessKey: string };
    date: string;
    method?: string;
    rawPath?: string;
    rawQuery?: string;
    headers?: Array<[string, string]>;
    decodedPayload?: { byte: string; count: number; chunkSizes: number[] };
    trailers?: Array<[string, string]>;
    previousSignature?: string;
  };
  expected: {
    seed?: { canonicalRequest: string; stringToSign: string; signature: string; authorization?: string; authorizationWithSpaces?: string };
    chunks?: StreamingChunk[];
    trailer?: { canonicalTrailers: string; stringToSign: string; signature: string };
    encodedBody?: { totalLength: number };
    encodedBodyTail?: string;
  };
}

/** Every vector file's outer shape. */
export interface VectorFile<V> {
  parameters: Record<string, string>;
  vectors: V[];
}

/** Lower-cases header names and joins repeated headers with "," (as `S3Request.headers` does). */
export function headerMap(headers: ReadonlyArray<readonly [string, string]>): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const previous = map.get(key);
    map.set(key, previous === undefined ? value : `${previous},${value}`);
  }
  return map;
}

/** A request parsed from the vectors' HTTP text, plus its body. */
export interface ParsedRequestText extends AuthInput {
  headers: Map<string, string>;
  body: string;
}

/**
 * Parses the HTTP/1.1 request text stored in the vectors (LF line endings).
 * The request target may contain a literal space (`/example space/`), so the
 * method is the first word and the version the last. Field values lose their
 * surrounding whitespace as an HTTP server strips it; an obs-fold continuation
 * line is appended after a "\n", as the vectors' `input.headers` record it.
 */
export function parseRequestText(text: string): ParsedRequestText {
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? "" : text.slice(blank + 2);
  const lines = head.split("\n");
  const requestLine = lines[0] ?? "";
  const firstSpace = requestLine.indexOf(" ");
  const lastSpace = requestLine.lastIndexOf(" ");
  const method = requestLine.slice(0, firstSpace);
  const target = requestLine.slice(firstSpace + 1, lastSpace);
  const question = target.indexOf("?");
  const rawPath = question < 0 ? target : target.slice(0, question);
  const rawQuery = question < 0 ? "" : target.slice(question + 1);
  const fields: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const last = fields.at(-1);
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== undefined) {
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(":");
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { method, rawPath, rawQuery, headers: headerMap(fields), body };
}
