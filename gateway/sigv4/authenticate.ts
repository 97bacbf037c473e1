/**
 * SigV4 request verification: the `Authorization` header form and the
 * presigned (query) form.
 *
 * `verifyRequest` is the service-neutral core: it takes the service the
 * credential scope must name, whether to normalise the path, and how to find
 * the payload line, so the general AWS test suite (service `service`, path
 * normalisation on) runs through exactly the code S3 requests use.
 * `authenticate` is the S3 entry point: service `s3`, no normalisation, and the
 * payload line from `x-amz-content-sha256` (header form) or `UNSIGNED-PAYLOAD`
 * (presigned).
 */
import { strict as assert } from "node:assert";
import { S3Error } from "../errors.ts";
import { formatAmzDate, parseAmzDate, parseHttpDate } from "./amz-date.ts";
import { canonicalRequest, credentialScope, parseQuery, signingAlgorithm, stringToSign } from "./canonical.ts";
import type { QueryParameter } from "./canonical.ts";
import { signatureHex, signaturesEqual, signingKeyCache } from "./signing-key.ts";

/** The parts of a request that authentication reads. */
export interface AuthInput {
  method: string;
  /** As on the wire, percent-encoded, no query. */
  rawPath: string;
  /** As on the wire, no '?'. */
  rawQuery: string;
  /** Lower-case names. */
  headers: ReadonlyMap<string, string>;
}

/** Returns the secret access key of an access key id, or undefined when there is no such key. */
export type SecretLookup = (accessKeyId: string) => string | undefined;

/** How the body of an authenticated request must be checked. */
export type PayloadMode =
  /** x-amz-content-sha256 is a hex hash: the body must match it. */
  | { kind: "sha256"; expectedHex: string }
  /** UNSIGNED-PAYLOAD, and presigned URLs. */
  | { kind: "unsigned" }
  /**
   * aws-chunked: STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) (signed) or
   * STREAMING-UNSIGNED-PAYLOAD-TRAILER. `chain` is present exactly when signed.
   */
  | { kind: "streaming"; signed: boolean; trailer: boolean; chain?: ChunkChain };

/** What chunk signatures chain from: the seed request's key, date, scope and signature. */
export interface ChunkChain {
  signingKey: Uint8Array;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

/** A request whose signature verified. */
export interface Authenticated {
  accessKeyId: string;
  payload: PayloadMode;
  presigned: boolean;
}

/** Largest clock difference accepted between client and server (S3: 15 minutes). */
export const requestSkewMsMax = 15 * 60 * 1000;
/** Longest validity of a presigned URL (S3: 7 days). */
export const presignedExpiresSecondsMax = 604_800;

const unsupportedMechanismMessage =
  "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";

/** What the payload line callback learns about the request. */
export interface PayloadContext {
  readonly presigned: boolean;
  readonly headers: ReadonlyMap<string, string>;
  readonly query: readonly QueryParameter[];
}

/** How `verifyRequest` checks a request; `authenticate` fills this in for S3. */
export interface VerifyOptions {
  /** The service the credential scope must name (`s3` for S3). */
  readonly service: string;
  /** Remove dot segments and repeated slashes (general AWS services; never S3). */
  readonly normalizePath: boolean;
  /** The canonical request's last line. May throw an S3Error to refuse the request. */
  readonly payloadHash: (context: PayloadContext) => string;
  readonly nowMs: number;
}

/** Everything the verification computed, for callers and tests. */
export interface VerifiedRequest {
  readonly accessKeyId: string;
  readonly presigned: boolean;
  /** `YYYYMMDDTHHMMSSZ` the client signed with. */
  readonly amzDate: string;
  readonly region: string;
  readonly service: string;
  readonly scope: string;
  readonly signingKey: Uint8Array;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  /** Lower-case hex; equal to the one the client sent. */
  readonly signature: string;
}

interface ParsedCredential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

interface ParsedAuthorization {
  credential: ParsedCredential;
  signedHeaders: string[];
  signature: string;
}

type FormatErrorCode = "AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError";

function parseCredential(value: string, errorCode: FormatErrorCode, service: string): ParsedCredential {
  const parts = value.split("/");
  if (parts.length !== 5 || parts.some((part) => part === "")) {
    throw new S3Error(
      errorCode,
      errorCode === "AuthorizationHeaderMalformed"
        ? `The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`
        : `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
    );
  }
  const [accessKeyId, date, region, scopeService, terminal] = parts as [string, string, string, string, string];
  if (!/^\d{8}$/.test(date)) {
    throw new S3Error(errorCode, `Invalid credential date "${date}". It must be in YYYYMMDD format.`);
  }
  if (scopeService !== service) {
    throw new S3Error(errorCode, `Incorrect service "${scopeService}" in the credential scope. This endpoint belongs to "${service}".`);
  }
  if (terminal !== "aws4_request") {
    throw new S3Error(errorCode, `Incorrect terminal "${terminal}" in the credential scope. This endpoint uses "aws4_request".`);
  }
  return { accessKeyId, date, region, service: scopeService };
}

function parseSignedHeaders(value: string, errorCode: FormatErrorCode): string[] {
  const names = value.split(";");
  if (names.some((name) => name === "" || /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(name))) {
    throw new S3Error(errorCode, `SignedHeaders "${value}" is not a ';'-separated list of header names.`);
  }
  return names.map((name) => name.toLowerCase());
}

/**
 * Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. The
 * components may be separated by `,` (as the S3 docs print them) or `, ` (as
 * the SDKs send them), in any order.
 */
function parseAuthorizationHeader(header: string, service: string): ParsedAuthorization {
  const trimmed = header.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm === "AWS") {
    throw new S3Error("InvalidRequest", `Signature Version 2 is not supported. ${unsupportedMechanismMessage}`);
  }
  if (algorithm !== signingAlgorithm) {
    throw new S3Error("InvalidRequest", unsupportedMechanismMessage);
  }
  const components = new Map<string, string>();
  for (const component of trimmed.slice(space < 0 ? trimmed.length : space).split(",")) {
    const piece = component.trim();
    if (piece === "") continue;
    const equals = piece.indexOf("=");
    if (equals <= 0) {
      throw new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; "${piece}" is not a key=value pair.`);
    }
    const key = piece.slice(0, equals).trim();
    if (components.has(key)) {
      throw new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${key} appears twice.`);
    }
    components.set(key, piece.slice(equals + 1).trim());
  }
  const credential = components.get("Credential");
  const signedHeaders = components.get("SignedHeaders");
  const signature = components.get("Signature");
  if (credential === undefined || signedHeaders === undefined || signature === undefined || components.size !== 3) {
    throw new S3Error(
      "AuthorizationHeaderMalformed",
      "The authorization header is malformed; it must hold exactly Credential, SignedHeaders and Signature.",
    );
  }
  return {
    credential: parseCredential(credential, "AuthorizationHeaderMalformed", service),
    signedHeaders: parseSignedHeaders(signedHeaders, "AuthorizationHeaderMalformed"),
    signature,
  };
}

/** The request time from `x-amz-date`, else `Date` (header form only). */
function headerRequestTime(headers: ReadonlyMap<string, string>): { amzDate: string; epochMs: number } {
  const amzDateHeader = headers.get("x-amz-date");
  if (amzDateHeader !== undefined) {
    const epochMs = parseAmzDate(amzDateHeader.trim());
    if (epochMs !== undefined) return { amzDate: amzDateHeader.trim(), epochMs };
  } else {
    const dateHeader = headers.get("date");
    const epochMs = dateHeader === undefined ? undefined : parseHttpDate(dateHeader);
    if (epochMs !== undefined) return { amzDate: formatAmzDate(epochMs), epochMs };
  }
  throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
}

function requireHostSigned(signedHeaders: readonly string[], errorCode: FormatErrorCode): void {
  if (!signedHeaders.includes("host")) {
    throw new S3Error(errorCode, "The host header must be signed (it is missing from SignedHeaders).");
  }
}

function lookupSecret(lookup: SecretLookup, accessKeyId: string): string {
  const secret = lookup(accessKeyId);
  if (secret === undefined) {
    throw new S3Error("InvalidAccessKeyId", undefined, { AWSAccessKeyId: accessKeyId });
  }
  return secret;
}

interface SignatureCheck {
  readonly input: AuthInput;
  readonly credential: ParsedCredential;
  readonly secret: string;
  readonly amzDate: string;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
  readonly normalizePath: boolean;
  readonly presigned: boolean;
  readonly providedSignature: string;
}

function checkSignature(check: SignatureCheck): VerifiedRequest {
  const { credential } = check;
  const scope = credentialScope(credential.date, credential.region, credential.service);
  const signingKey = signingKeyCache.get(check.secret, credential.date, credential.region, credential.service);
  const canonical = canonicalRequest({
    method: check.input.method,
    rawPath: check.input.rawPath,
    rawQuery: check.input.rawQuery,
    headers: check.input.headers,
    signedHeaders: check.signedHeaders,
    payloadHash: check.payloadHash,
    normalizePath: check.normalizePath,
    ...(check.presigned ? { excludeQuery: (name: string) => name === "X-Amz-Signature" } : {}),
  });
  const toSign = stringToSign(check.amzDate, scope, canonical);
  const signature = signatureHex(signingKey, toSign);
  if (!signaturesEqual(signature, check.providedSignature)) {
    // S3 returns what it signed so that a client author can find the difference.
    throw new S3Error("SignatureDoesNotMatch", undefined, {
      AWSAccessKeyId: credential.accessKeyId,
      StringToSign: toSign,
      SignatureProvided: check.providedSignature,
      CanonicalRequest: canonical,
    });
  }
  return {
    accessKeyId: credential.accessKeyId,
    presigned: check.presigned,
    amzDate: check.amzDate,
    region: credential.region,
    service: credential.service,
    scope,
    signingKey,
    signedHeaders: check.signedHeaders,
    payloadHash: check.payloadHash,
    canonicalRequest: canonical,
    stringToSign: toSign,
    signature,
  };
}

function verifyHeaderForm(
  input: AuthInput,
  authorization: string,
  query: readonly QueryParameter[],
  lookup: SecretLookup,
  options: VerifyOptions,
): VerifiedRequest {
  const parsed = parseAuthorizationHeader(authorization, options.service);
  requireHostSigned(parsed.signedHeaders, "AuthorizationHeaderMalformed");
  const time = headerRequestTime(input.headers);
  if (parsed.credential.date !== time.amzDate.slice(0, 8)) {
    throw new S3Error(
      "AuthorizationHeaderMalformed",
      `Invalid credential date "${parsed.credential.date}". This date is not the same as X-Amz-Date: "${time.amzDate.slice(0, 8)}".`,
    );
  }
  const secret = lookupSecret(lookup, parsed.credential.accessKeyId);
  if (Math.abs(options.nowMs - time.epochMs) > requestSkewMsMax) {
    throw new S3Error("RequestTimeTooSkewed", undefined, {
      RequestTime: time.amzDate,
      ServerTime: new Date(options.nowMs).toISOString(),
      MaxAllowedSkewMilliseconds: String(requestSkewMsMax),
    });
  }
  const payloadHash = options.payloadHash({ presigned: false, headers: input.headers, query });
  return checkSignature({
    input,
    credential: parsed.credential,
    secret,
    amzDate: time.amzDate,
    signedHeaders: parsed.signedHeaders,
    payloadHash,
    normalizePath: options.normalizePath,
    presigned: false,
    providedSignature: parsed.signature,
  });
}

const presignedParameterNames = [
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Signature",
] as const;

function verifyQueryForm(
  input: AuthInput,
  query: readonly QueryParameter[],
  lookup: SecretLookup,
  options: VerifyOptions,
): VerifiedRequest {
  const values = new Map<string, string>();
  for (const name of presignedParameterNames) {
    const found = query.filter((parameter) => parameter.name === name);
    if (found.length !== 1 || found[0] === undefined) {
      throw new S3Error(
        "AuthorizationQueryParametersError",
        "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters, each exactly once.",
      );
    }
    values.set(name, found[0].value);
  }
  const value = (name: (typeof presignedParameterNames)[number]): string => values.get(name) ?? "";
  if (value("X-Amz-Algorithm") !== signingAlgorithm) {
    throw new S3Error("AuthorizationQueryParametersError", `X-Amz-Algorithm only supports "${signingAlgorithm}".`);
  }
  const credential = parseCredential(value("X-Amz-Credential"), "AuthorizationQueryParametersError", options.service);
  const signedHeaders = parseSignedHeaders(value("X-Amz-SignedHeaders"), "AuthorizationQueryParametersError");
  requireHostSigned(signedHeaders, "AuthorizationQueryParametersError");
  const amzDate = value("X-Amz-Date");
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === undefined) {
    throw new S3Error(
      "AuthorizationQueryParametersError",
      `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'".`,
    );
  }
  if (credential.date !== amzDate.slice(0, 8)) {
    throw new S3Error(
      "AuthorizationQueryParametersError",
      `Invalid credential date "${credential.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`,
    );
  }
  const expiresText = value("X-Amz-Expires");
  if (!/^\d{1,12}$/.test(expiresText) || Number(expiresText) < 1) {
    throw new S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be a whole number of seconds, at least 1.");
  }
  const expiresSeconds = Number(expiresText);
  if (expiresSeconds > presignedExpiresSecondsMax) {
    throw new S3Error(
      "AccessDenied",
      `X-Amz-Expires must be less than a week (in seconds) that is ${presignedExpiresSecondsMax}.`,
    );
  }
  const secret = lookupSecret(lookup, credential.accessKeyId);
  if (options.nowMs < dateMs - requestSkewMsMax) {
    throw new S3Error("AccessDenied", "Request is not valid yet", {
      "X-Amz-Date": amzDate,
      ServerTime: new Date(options.nowMs).toISOString(),
    });
  }
  const expiresAtMs = dateMs + expiresSeconds * 1000;
  if (options.nowMs > expiresAtMs) {
    throw new S3Error("AccessDenied", "Request has expired", {
      Expires: new Date(expiresAtMs).toISOString(),
      ServerTime: new Date(options.nowMs).toISOString(),
      "X-Amz-Expires": expiresText,
    });
  }
  const payloadHash = options.payloadHash({ presigned: true, headers: input.headers, query });
  return checkSignature({
    input,
    credential,
    secret,
    amzDate,
    signedHeaders,
    payloadHash,
    normalizePath: options.normalizePath,
    presigned: true,
    providedSignature: value("X-Amz-Signature"),
  });
}

/**
 * Verifies a SigV4 signature for any service: the lower-level function under
 * `authenticate`, also run directly by the general AWS test suite. Returns
 * undefined for an anonymous request. Throws S3Error as `authenticate` does.
 */
export function verifyRequest(input: AuthInput, lookup: SecretLookup, options: VerifyOptions): VerifiedRequest | undefined {
  const authorization = input.headers.get("authorization");
  const query = parseQuery(input.rawQuery);
  const hasQueryV4 = query.some((parameter) => parameter.name === "X-Amz-Signature" || parameter.name === "X-Amz-Algorithm");
  const hasQueryV2 =
    query.some((parameter) => parameter.name === "AWSAccessKeyId") && query.some((parameter) => parameter.name === "Signature");
  if (authorization !== undefined && (hasQueryV4 || hasQueryV2)) {
    throw new S3Error(
      "InvalidArgument",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
    );
  }
  if (authorization !== undefined) return verifyHeaderForm(input, authorization, query, lookup, options);
  if (hasQueryV4) return verifyQueryForm(input, query, lookup, options);
  if (hasQueryV2) {
    throw new S3Error("InvalidRequest", `Signature Version 2 presigned URLs are not supported. ${unsupportedMechanismMessage}`);
  }
  return undefined;
}

const hexSha256Pattern = /^[0-9a-fA-F]{64}$/;

interface S3Payload {
  readonly line: string;
  readonly mode: "sha256" | "unsigned" | "streaming-signed" | "streaming-signed-trailer" | "streaming-unsigned-trailer";
}

function unsupportedContentSha256(value: string, why: string): S3Error {
  return new S3Error("InvalidArgument", `x-amz-content-sha256 ${why}`, {
    ArgumentName: "x-amz-content-sha256",
    ArgumentValue: value,
  });
}

/** Reads the S3 payload line: `x-amz-content-sha256` (header form) or `UNSIGNED-PAYLOAD` (presigned). */
function s3PayloadLine(context: PayloadContext): S3Payload {
  if (context.presigned) {
    // Some signers hoist x-amz-content-sha256 into the query; it is then signed like any parameter.
    const hoisted = context.query.filter((parameter) => parameter.name.toLowerCase() === "x-amz-content-sha256");
    const value = hoisted.length === 1 && hoisted[0] !== undefined ? hoisted[0].value : "UNSIGNED-PAYLOAD";
    if (hoisted.length > 1) throw unsupportedContentSha256(value, "appears more than once.");
    if (value === "UNSIGNED-PAYLOAD") return { line: value, mode: "unsigned" };
    if (hexSha256Pattern.test(value)) return { line: value, mode: "sha256" };
    throw unsupportedContentSha256(value, "must be UNSIGNED-PAYLOAD or a SHA-256 hex value for a presigned URL.");
  }
  const value = context.headers.get("x-amz-content-sha256");
  if (value === undefined) {
    throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  }
  switch (value) {
    case "UNSIGNED-PAYLOAD":
      return { line: value, mode: "unsigned" };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
      return { line: value, mode: "streaming-signed" };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
      return { line: value, mode: "streaming-signed-trailer" };
    case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
      return { line: value, mode: "streaming-unsigned-trailer" };
    default:
      if (hexSha256Pattern.test(value)) return { line: value, mode: "sha256" };
      throw unsupportedContentSha256(
        value,
        "must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a SHA-256 hex value.",
      );
  }
}

/**
 * Verifies the request's SigV4 signature (Authorization header or presigned query). Returns undefined
 * for an anonymous request (no Authorization header and no X-Amz-Signature/X-Amz-Algorithm query).
 * Throws S3Error: AccessDenied (presigned URL expired: message "Request has expired"; not yet valid;
 * X-Amz-Expires over 604800; no usable date), SignatureDoesNotMatch, InvalidAccessKeyId,
 * RequestTimeTooSkewed (|now - x-amz-date| > 15 min, header auth), AuthorizationHeaderMalformed /
 * AuthorizationQueryParametersError (bad format, wrong service, host not signed), InvalidRequest
 * (missing x-amz-content-sha256; Signature V2 or another algorithm), InvalidArgument (unsupported
 * x-amz-content-sha256 value; header and query auth together).
 */
export function authenticate(input: AuthInput, lookup: SecretLookup, nowMs: number): Authenticated | undefined {
  // A holder object, because assignments inside the callback are invisible to narrowing.
  const seen: { payload?: S3Payload } = {};
  const verified = verifyRequest(input, lookup, {
    service: "s3",
    normalizePath: false,
    nowMs,
    payloadHash: (context) => {
      seen.payload = s3PayloadLine(context);
      return seen.payload.line;
    },
  });
  if (verified === undefined) return undefined;
  const payload = seen.payload;
  assert(payload !== undefined, "a verified request has read its payload line");
  const chain: ChunkChain = {
    signingKey: verified.signingKey,
    amzDate: verified.amzDate,
    scope: verified.scope,
    seedSignature: verified.signature,
  };
  const mode: PayloadMode = ((): PayloadMode => {
    switch (payload.mode) {
      case "sha256":
        return { kind: "sha256", expectedHex: payload.line.toLowerCase() };
      case "unsigned":
        return { kind: "unsigned" };
      case "streaming-signed":
        return { kind: "streaming", signed: true, trailer: false, chain };
      case "streaming-signed-trailer":
        return { kind: "streaming", signed: true, trailer: true, chain };
      case "streaming-unsigned-trailer":
        return { kind: "streaming", signed: false, trailer: true };
    }
  })();
  return { accessKeyId: verified.accessKeyId, payload: mode, presigned: verified.presigned };
}
