/**
 * The handler's two CORS duties, over the bucket's stored configuration
 * (cors.ts holds the rules and the matching):
 *
 * - `servePreflight`: a browser's `OPTIONS` preflight, answered before
 *   authentication (browsers never sign one) from the rules alone.
 * - `corsHeadersFor`: the `Access-Control-*` headers added to an ordinary
 *   (signed or anonymous) response whose request carries an `Origin` that a
 *   rule allows for its method. Without `Origin` nothing is read.
 */
import type { ObjectBackend } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { S3Request, S3Response } from "../http.ts";
import { answerPreflight, corsMethods, corsResponseHeaders, findCorsRule, parseCorsConfiguration } from "./cors.ts";

/** Answers an `OPTIONS` preflight for `bucket`; throws the S3 error (400, 403 AccessForbidden, 404 NoSuchBucket). */
export async function servePreflight(request: S3Request, bucket: string, backend: ObjectBackend): Promise<S3Response> {
  const stored = await backend.getBucketConfiguration(bucket, "cors");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: bucket });
  const answer = answerPreflight(
    stored === undefined ? undefined : parseCorsConfiguration(stored),
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
    const rule = findCorsRule(parseCorsConfiguration(stored), origin, request.method, []);
    return rule === undefined ? {} : corsResponseHeaders(rule, origin, []);
  } catch {
    return {};
  }
}
