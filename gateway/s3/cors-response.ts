/**
 * The handler's two CORS duties, over the bucket's stored configuration
 * (cors.ts holds the rules and the matching):
 *
 * - `servePreflight`: a browser's `OPTIONS` preflight, answered before
 *   authentication (browsers never sign one) from the rules alone.
 * - `corsHeadersFor`: the `Access-Control-*` headers added to an ordinary
 *   (signed or anonymous) response whose request carries an `Origin` that a
 *   rule allows for its method. Without `Origin` nothing is read.
 *
 * Parsed configurations are memoized by their text (`parsedConfiguration`):
 * parsing is what costs (about 4 ms for 100 rules, 30 KB, with `xml.ts`),
 * and a memo keyed by the document itself can never serve a stale rule.
 */
import type { ObjectBackend } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { S3Request, S3Response } from "../http.ts";
import { answerPreflight, corsMethods, corsResponseHeaders, findCorsRule, parseCorsConfiguration, type CorsConfiguration } from "./cors.ts";

/** Parsed configurations kept, and the bytes of their texts at most (64 KiB each, so at least 64 fit). */
const memoEntriesMax = 256;
const memoCharactersMax = 4 * 1024 * 1024;
const memo = new Map<string, CorsConfiguration>();
let memoCharacters = 0;

/** `parseCorsConfiguration` of a stored (already validated) document, from the memo when seen before; least recently used out. */
export function parsedConfiguration(stored: string): CorsConfiguration {
  const known = memo.get(stored);
  if (known !== undefined) {
    memo.delete(stored);
    memo.set(stored, known);
    return known;
  }
  const parsed = parseCorsConfiguration(stored);
  memo.set(stored, parsed);
  memoCharacters += stored.length;
  for (const [text] of memo) {
    if (memo.size <= memoEntriesMax && memoCharacters <= memoCharactersMax) break;
    memo.delete(text);
    memoCharacters -= text.length;
  }
  return parsed;
}

/** Answers an `OPTIONS` preflight for `bucket`; throws the S3 error (400, 403 AccessForbidden, 404 NoSuchBucket). */
export async function servePreflight(request: S3Request, bucket: string, backend: ObjectBackend): Promise<S3Response> {
  const stored = await backend.getBucketConfiguration(bucket, "cors");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: bucket });
  const answer = answerPreflight(
    stored === undefined ? undefined : parsedConfiguration(stored),
    request.headers.get("origin"),
    request.headers.get("access-control-request-method"),
    request.headers.get("access-control-request-headers"),
  );
  if ("error" in answer) throw answer.error;
  return { status: answer.status, headers: answer.headers };
}

/**
 * The CORS headers for an ordinary response to `request` on `bucket`: those
 * of the first rule allowing its `Origin` and method, else none. Never
 * throws: a configuration that cannot be read now costs the browser its
 * CORS headers, never the response itself.
 */
export async function corsHeadersFor(request: S3Request, bucket: string, backend: ObjectBackend): Promise<Record<string, string>> {
  const origin = request.headers.get("origin");
  if (origin === undefined || origin === "" || bucket === "" || !corsMethods.includes(request.method)) return {};
  try {
    const stored = await backend.getBucketConfiguration(bucket, "cors");
    if (typeof stored !== "string" || stored === "no-such-bucket") return {};
    const rule = findCorsRule(parsedConfiguration(stored), origin, request.method, []);
    return rule === undefined ? {} : corsResponseHeaders(rule, origin, []);
  } catch {
    return {};
  }
}
