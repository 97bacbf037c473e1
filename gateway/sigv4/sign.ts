/**
 * The client side of SigV4, for tests and tools: sign a request (header form)
 * or presign a URL (query form). The gateway itself only verifies; these let
 * tests build valid requests and then break them one field at a time.
 */
import { strict as assert } from "node:assert";
import { formatAmzDate } from "./amz-date.ts";
import type { AuthInput, ChunkChain } from "./authenticate.ts";
import { canonicalRequest, credentialScope, emptySha256Hex, signingAlgorithm, stringToSign, uriEncode } from "./canonical.ts";
import { signatureHex, signingKeyCache } from "./signing-key.ts";

/** An access key pair. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What to sign. Header names may be in any case; `host` is required. */
export interface SignRequestOptions {
  readonly method: string;
  /** As it will be sent: percent-encoded, no query. */
  readonly rawPath: string;
  /** As it will be sent, no '?' (default ""). */
  readonly rawQuery?: string;
  readonly headers: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  readonly credentials: SigningCredentials;
  readonly region: string;
  /** Default "s3". */
  readonly service?: string;
  /** The signing time; becomes x-amz-date (or X-Amz-Date). */
  readonly nowMs: number;
  /**
   * Header form: the x-amz-content-sha256 value and payload line (default
   * UNSIGNED-PAYLOAD; for other services the hash of an empty body). For S3 the
   * header is added when absent.
   */
  readonly payloadHash?: string;
  /** Lower-case names to sign (default: every header, after the signer's own are added). */
  readonly signedHeaders?: readonly string[];
  /** Header form: `", "` as the SDKs send (default) or `","` as the S3 docs print. */
  readonly authorizationSeparator?: "," | ", ";
  /** General AWS services only. Default false (S3). */
  readonly normalizePath?: boolean;
}

/** Options of `presignUrl`: those of `signRequest` plus the validity. */
export interface PresignUrlOptions extends Omit<SignRequestOptions, "authorizationSeparator"> {
  /** X-Amz-Expires, 1..604800. */
  readonly expiresSeconds: number;
}

/** A signed request, ready to hand to `authenticate`, with what the signer computed. */
export interface SignedRequest extends AuthInput {
  headers: Map<string, string>;
  readonly signature: string;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  /** The seed for aws-chunked chunk signatures (see `encodeAwsChunked`). */
  readonly chain: ChunkChain;
}

function lowerCaseHeaders(headers: SignRequestOptions["headers"]): Map<string, string> {
  const entries: Iterable<readonly [string, string]> = headers instanceof Map ? headers.entries() : Object.entries(headers);
  const out = new Map<string, string>();
  for (const [name, value] of entries) out.set(name.toLowerCase(), value);
  assert(out.has("host"), "a request to sign needs a host header");
  return out;
}

function encodeQueryPart(text: string): string {
  return uriEncode(new TextEncoder().encode(text), false);
}

function appendQuery(rawQuery: string, additions: ReadonlyArray<readonly [string, string]>): string {
  const added = additions.map(([name, value]) => `${encodeQueryPart(name)}=${encodeQueryPart(value)}`).join("&");
  return rawQuery === "" ? added : `${rawQuery}&${added}`;
}

/** Signs a request with the Authorization header (the header form). */
export function signRequest(options: SignRequestOptions): SignedRequest {
  const service = options.service ?? "s3";
  const headers = lowerCaseHeaders(options.headers);
  const amzDate = formatAmzDate(options.nowMs);
  headers.set("x-amz-date", amzDate);
  const payloadHash =
    options.payloadHash ?? headers.get("x-amz-content-sha256") ?? (service === "s3" ? "UNSIGNED-PAYLOAD" : emptySha256Hex);
  if (service === "s3") headers.set("x-amz-content-sha256", payloadHash);
  headers.delete("authorization");
  const signedHeaders = [...(options.signedHeaders ?? headers.keys())].map((name) => name.toLowerCase()).sort();
  const date = amzDate.slice(0, 8);
  const scope = credentialScope(date, options.region, service);
  const signingKey = signingKeyCache.get(options.credentials.secretAccessKey, date, options.region, service);
  const rawQuery = options.rawQuery ?? "";
  const canonical = canonicalRequest({
    method: options.method,
    rawPath: options.rawPath,
    rawQuery,
    headers,
    signedHeaders,
    payloadHash,
    normalizePath: options.normalizePath ?? false,
  });
  const toSign = stringToSign(amzDate, scope, canonical);
  const signature = signatureHex(signingKey, toSign);
  const separator = options.authorizationSeparator ?? ", ";
  headers.set(
    "authorization",
    `${signingAlgorithm} Credential=${options.credentials.accessKeyId}/${scope}${separator}SignedHeaders=${signedHeaders.join(";")}${separator}Signature=${signature}`,
  );
  return {
    method: options.method,
    rawPath: options.rawPath,
    rawQuery,
    headers,
    signature,
    canonicalRequest: canonical,
    stringToSign: toSign,
    chain: { signingKey, amzDate, scope, seedSignature: signature },
  };
}

/** Presigns a URL (the query form): the returned rawQuery carries the X-Amz-* parameters. */
export function presignUrl(options: PresignUrlOptions): SignedRequest {
  const service = options.service ?? "s3";
  const headers = lowerCaseHeaders(options.headers);
  const amzDate = formatAmzDate(options.nowMs);
  const date = amzDate.slice(0, 8);
  const scope = credentialScope(date, options.region, service);
  const signedHeaders = [...(options.signedHeaders ?? headers.keys())].map((name) => name.toLowerCase()).sort();
  const payloadHash = options.payloadHash ?? (service === "s3" ? "UNSIGNED-PAYLOAD" : emptySha256Hex);
  const authParameters: Array<readonly [string, string]> = [
    ["X-Amz-Algorithm", signingAlgorithm],
    ["X-Amz-Credential", `${options.credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(options.expiresSeconds)],
    ["X-Amz-SignedHeaders", signedHeaders.join(";")],
  ];
  // S3 reads a presigned payload hash other than UNSIGNED-PAYLOAD from the query, as some SDKs send it.
  if (service === "s3" && payloadHash !== "UNSIGNED-PAYLOAD") authParameters.push(["X-Amz-Content-Sha256", payloadHash]);
  const rawQuery = appendQuery(options.rawQuery ?? "", authParameters);
  const signingKey = signingKeyCache.get(options.credentials.secretAccessKey, date, options.region, service);
  const canonical = canonicalRequest({
    method: options.method,
    rawPath: options.rawPath,
    rawQuery,
    headers,
    signedHeaders,
    payloadHash,
    normalizePath: options.normalizePath ?? false,
  });
  const toSign = stringToSign(amzDate, scope, canonical);
  const signature = signatureHex(signingKey, toSign);
  return {
    method: options.method,
    rawPath: options.rawPath,
    rawQuery: appendQuery(rawQuery, [["X-Amz-Signature", signature]]),
    headers,
    signature,
    canonicalRequest: canonical,
    stringToSign: toSign,
    chain: { signingKey, amzDate, scope, seedSignature: signature },
  };
}
