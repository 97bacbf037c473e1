/**
 * The SigV4 canonical request and string to sign.
 *
 * S3 rules (the default here): the path is NOT normalised (an object named
 * `a//b/../c` is signed with exactly that path) and each path segment is
 * URI-encoded exactly once. A verifier does not know how the client spelled
 * the path on the wire (`/test$file.text` and `/test%24file.text` name the same
 * key), so it percent-decodes what it received and encodes it again by the one
 * rule. The general AWS services additionally remove dot segments and repeated
 * slashes; `normalizePath` turns that on for the general test suite only.
 */
import { createHash } from "node:crypto";

/** SHA-256 of the empty string, hex: the payload line of an empty body and of every chunk's "previous" hash. */
export const emptySha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The only algorithm this gateway verifies (SigV2 and SigV4a are refused). */
export const signingAlgorithm = "AWS4-HMAC-SHA256";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");
const hexDigits = "0123456789ABCDEF";

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e // ~
  );
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes `text` to bytes. Characters that are not part of a valid
 * `%XY` escape are taken literally (as UTF-8), so raw UTF-8 and a stray `%`
 * survive. With `plusIsSpace` (query strings), `+` means a space, as form
 * encoding and most S3 servers read it.
 */
export function percentDecode(text: string, plusIsSpace: boolean): Uint8Array {
  const bytes: number[] = [];
  let index = 0;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code === 0x25 && index + 2 < text.length) {
      const high = hexValue(text.charCodeAt(index + 1));
      const low = hexValue(text.charCodeAt(index + 2));
      if (high >= 0 && low >= 0) {
        bytes.push(high * 16 + low);
        index += 3;
        continue;
      }
    }
    if (plusIsSpace && code === 0x2b) {
      bytes.push(0x20);
      index += 1;
      continue;
    }
    if (code < 0x80) {
      bytes.push(code);
      index += 1;
      continue;
    }
    const codePoint = text.codePointAt(index) ?? code;
    const character = String.fromCodePoint(codePoint);
    for (const byte of utf8Encoder.encode(character)) bytes.push(byte);
    index += character.length;
  }
  return Uint8Array.from(bytes);
}

/**
 * URI-encodes bytes the SigV4 way: `A-Z a-z 0-9 - . _ ~` stay, everything else
 * becomes `%XY` with upper-case hex; `/` stays only when `keepSlash`.
 */
export function uriEncode(bytes: Uint8Array, keepSlash: boolean): string {
  let out = "";
  for (const byte of bytes) {
    if (isUnreserved(byte) || (keepSlash && byte === 0x2f)) {
      out += String.fromCharCode(byte);
    } else {
      out += "%" + hexDigits[byte >> 4] + hexDigits[byte & 0x0f];
    }
  }
  return out;
}

function encodeSegment(rawSegment: string): string {
  // A `%2F` inside a segment stays encoded: decoding it would move a segment boundary.
  return uriEncode(percentDecode(rawSegment, false), false);
}

/**
 * The canonical URI of a path as received on the wire (still percent-encoded).
 * Without `normalizePath` (S3): every segment decoded and encoded once, nothing
 * else changes. With it (general AWS services): `.` and `..` segments and empty
 * segments are removed first, keeping a trailing slash.
 */
export function canonicalUri(rawPath: string, normalizePath: boolean): string {
  const path = rawPath.startsWith("/") ? rawPath : `/${rawPath}`;
  const segments = path.split("/").slice(1);
  if (!normalizePath) {
    return "/" + segments.map(encodeSegment).join("/");
  }
  const kept: string[] = [];
  for (const segment of segments) {
    const decoded = utf8Decoder.decode(percentDecode(segment, false));
    if (decoded === "" || decoded === ".") continue;
    if (decoded === "..") {
      kept.pop();
      continue;
    }
    kept.push(encodeSegment(segment));
  }
  const last = segments.at(-1);
  const trailingSlash = kept.length > 0 && (last === "" || last === "." || last === "..");
  return "/" + kept.join("/") + (trailingSlash ? "/" : "");
}

/** One query parameter, decoded. */
export interface QueryParameter {
  readonly name: string;
  readonly value: string;
}

/**
 * Splits a raw query string into decoded parameters, in wire order. A key
 * without `=` has the value "". Empty pieces (`a=1&&b=2`) are dropped.
 */
export function parseQuery(rawQuery: string): QueryParameter[] {
  const parameters: QueryParameter[] = [];
  for (const piece of rawQuery.split("&")) {
    if (piece === "") continue;
    const equals = piece.indexOf("=");
    const rawName = equals < 0 ? piece : piece.slice(0, equals);
    const rawValue = equals < 0 ? "" : piece.slice(equals + 1);
    parameters.push({
      name: utf8Decoder.decode(percentDecode(rawName, true)),
      value: utf8Decoder.decode(percentDecode(rawValue, true)),
    });
  }
  return parameters;
}

/**
 * The canonical query string: every parameter except those `exclude` names
 * (by decoded name), name and value decoded then encoded strictly (`/` too),
 * sorted by encoded name then encoded value, a value-less key as `key=`.
 */
export function canonicalQuery(rawQuery: string, exclude?: (name: string) => boolean): string {
  const encoded: Array<readonly [string, string]> = [];
  for (const piece of rawQuery.split("&")) {
    if (piece === "") continue;
    const equals = piece.indexOf("=");
    const rawName = equals < 0 ? piece : piece.slice(0, equals);
    const rawValue = equals < 0 ? "" : piece.slice(equals + 1);
    const nameBytes = percentDecode(rawName, true);
    if (exclude !== undefined && exclude(utf8Decoder.decode(nameBytes))) continue;
    // Encode the decoded bytes directly: a round trip through a JS string
    // would turn invalid UTF-8 into U+FFFD and sign something else.
    encoded.push([uriEncode(nameBytes, false), uriEncode(percentDecode(rawValue, true), false)]);
  }
  // Encoded names and values are ASCII, so string order is byte order.
  encoded.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return encoded.map(([name, value]) => `${name}=${value}`).join("&");
}

/**
 * A header value as signed: leading and trailing whitespace removed and every
 * inner run of whitespace (including an obs-fold line break) made one space.
 */
export function canonicalHeaderValue(value: string): string {
  return value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "").replace(/[ \t\r\n]+/g, " ");
}

/** What a canonical request is built from. */
export interface CanonicalRequestParts {
  readonly method: string;
  /** As on the wire, percent-encoded, no query. */
  readonly rawPath: string;
  /** As on the wire, no `?`. */
  readonly rawQuery: string;
  /** Lower-case names; repeated headers already joined with ",". */
  readonly headers: ReadonlyMap<string, string>;
  /** Lower-case names in the order the signer listed them. */
  readonly signedHeaders: readonly string[];
  /** The last line: hex SHA-256, `UNSIGNED-PAYLOAD` or a `STREAMING-…` marker. */
  readonly payloadHash: string;
  /** General AWS services only; S3 never normalises. */
  readonly normalizePath: boolean;
  /** Query parameters left out (by decoded name), e.g. `X-Amz-Signature`. */
  readonly excludeQuery?: (name: string) => boolean;
}

/**
 * Builds the canonical request. A signed header that is absent from the
 * request is signed with an empty value, so the signature simply fails.
 */
export function canonicalRequest(parts: CanonicalRequestParts): string {
  let headerBlock = "";
  for (const name of parts.signedHeaders) {
    headerBlock += `${name}:${canonicalHeaderValue(parts.headers.get(name) ?? "")}\n`;
  }
  return [
    parts.method,
    canonicalUri(parts.rawPath, parts.normalizePath),
    canonicalQuery(parts.rawQuery, parts.excludeQuery),
    headerBlock,
    parts.signedHeaders.join(";"),
    parts.payloadHash,
  ].join("\n");
}

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The credential scope `date/region/service/aws4_request`. */
export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

/** The string to sign for a request (header or presigned form). */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${signingAlgorithm}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}
