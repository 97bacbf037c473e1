/**
 * Raw signed requests for cases real clients never produce (a short body, a
 * skewed clock, malformed XML). Signed with the AWS SDK's own signer
 * (`@smithy/signature-v4`), independent of the gateway's verifier.
 */
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { ServerProcess } from "./server.ts";

export interface RawRequest {
  method: string;
  /** Path with the query, e.g. `/bucket/key?delete`. Already percent-encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Sign as if the client's clock were this far off. */
  clockOffsetMs?: number;
  /** Defaults to the hex SHA-256 of the body. */
  payloadHash?: string;
  secretAccessKey?: string;
}

function signer(server: ServerProcess, secretAccessKey?: string): SignatureV4 {
  return new SignatureV4({
    service: "s3",
    region: "us-east-1",
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secretAccessKey ?? server.secretAccessKey },
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
}

function toHttpRequest(server: ServerProcess, request: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array | string }): HttpRequest {
  const url = new URL(`${server.endpoint}${request.path}`);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(url.search)) query[name] = value;
  return new HttpRequest({
    method: request.method,
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path: decodeURIComponent(url.pathname),
    query,
    headers: { host: url.host, ...(request.headers ?? {}) },
    body: request.body,
  });
}

/** Signs a request with the SigV4 Authorization header and returns the headers to send. */
export async function signedHeaders(server: ServerProcess, request: RawRequest): Promise<Record<string, string>> {
  const body = request.body ?? "";
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const payloadHash = request.payloadHash ?? new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  const httpRequest = toHttpRequest(server, { ...request, headers: { ...(request.headers ?? {}), "x-amz-content-sha256": payloadHash } });
  const signed = await signer(server, request.secretAccessKey).sign(httpRequest, {
    signingDate: new Date(Date.now() + (request.clockOffsetMs ?? 0)),
  });
  return signed.headers as Record<string, string>;
}

/** Sends a signed request with fetch. */
export async function signedFetch(server: ServerProcess, request: RawRequest): Promise<Response> {
  const headers = await signedHeaders(server, request);
  delete headers.host;
  return fetch(`${server.endpoint}${request.path}`, { method: request.method, headers, body: request.body ?? null });
}

/** A presigned URL, as `aws s3 presign` or the SDK's presigner would make it. */
export async function presignedUrl(server: ServerProcess, request: { method: string; path: string; expiresInSeconds: number; signedAtMs?: number }): Promise<string> {
  // As the SDK's presigner does: the payload line of a presigned URL is
  // UNSIGNED-PAYLOAD, and that header is neither signed nor hoisted.
  const payloadHeader = "x-amz-content-sha256";
  const toSign = toHttpRequest(server, { ...request, headers: { [payloadHeader]: "UNSIGNED-PAYLOAD" } });
  const presigned = await signer(server).presign(toSign, {
    expiresIn: request.expiresInSeconds,
    signingDate: new Date(request.signedAtMs ?? Date.now()),
    unsignableHeaders: new Set([payloadHeader]),
    unhoistableHeaders: new Set([payloadHeader]),
  });
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(presigned.query ?? {})) query.append(name, String(value));
  return `${server.endpoint}${request.path.split("?")[0]}?${query.toString()}`;
}

/** Reads the S3 error code out of an XML error body. */
export { errorCodeOf as errorCode } from "../../gateway/testing/sdk-failure.ts";
