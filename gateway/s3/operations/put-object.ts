/** PutObject: `PUT /bucket/key`. */
import type { StoredHeaders } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { checksumReplyHeaders } from "../checksum.ts";
import type { OperationContext } from "../context.ts";
import { openPayload } from "../payload.ts";
import { parseTaggingHeader } from "../tagging.ts";
import { writeConditionFrom, writeRefusalError } from "../preconditions.ts";
import { showsVersionIds, versionIdHeader } from "../versioning.ts";
import { objectBytesMax, storageClassFromHeader, userMetadataFromHeaders } from "../validation.ts";

/**
 * Stores the body as the object (a new version in an Enabled bucket, the
 * null version otherwise). Headers are validated before a byte is read; the
 * body streams through its verifiers into the backend, which stores nothing
 * if any of them throws. A retry whose token already committed is answered
 * with that version and writes nothing. `If-None-Match: *` / `If-Match` are
 * passed to the backend, which decides them when the write commits.
 */
export async function putObject(context: OperationContext): Promise<S3Response> {
  const headers = context.request.headers;
  const storageClass = storageClassFromHeader(headers.get("x-amz-storage-class"), context.backend.storageClasses);
  const userMetadata = userMetadataFromHeaders(headers);
  const stored = storedHeadersFrom(headers);
  const idempotencyToken = idempotencyTokenFrom(headers);
  const taggingHeader = headers.get("x-amz-tagging");
  const tags = taggingHeader === undefined ? [] : parseTaggingHeader(taggingHeader);
  const condition = writeConditionFrom(headers);
  const payload = openPayload(context, objectBytesMax);
  const outcome = await context.backend.putObject({
    bucket: context.bucket,
    key: context.key,
    body: payload.body,
    headers: stored,
    userMetadata,
    storageClass,
    checksum: payload.checksum,
    ...(tags.length === 0 ? {} : { tags }),
    ...(idempotencyToken === undefined ? {} : { idempotencyToken }),
    ...(condition === undefined ? {} : { condition }),
  });
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  // Refused in the commit (where racing writers are ordered), after the body was read: nothing was stored.
  if (outcome === "precondition-failed" || outcome === "no-such-key") throw writeRefusalError(outcome, context.key, condition ?? {});
  const versionHeaders = versionIdHeader(outcome.versionId, await showsVersionIds(context, outcome.versionId));
  // The body has ended without error here, so the checksum is settled. A
  // retry answered with an earlier commit echoes what that commit stored.
  const checksumHeaders = checksumReplyHeaders(outcome.checksum ?? payload.checksum());
  return { status: 200, headers: { etag: `"${outcome.etag}"`, ...versionHeaders, ...checksumHeaders } };
}

/** The longest idempotency token kept; SDK invocation ids are 36-character UUIDs. */
export const idempotencyTokenCharactersMax = 256;

/**
 * The token that makes a retried PUT land once: `x-cairn-idempotency-token`
 * when the client sets one (InvalidArgument when it is empty or too long),
 * else `amz-sdk-invocation-id`, which the AWS SDKs and boto3 send unchanged
 * on every retry of one call. An unusable invocation id is ignored rather
 * than refused: it is SDK bookkeeping, and the PUT is valid without it.
 */
export function idempotencyTokenFrom(headers: ReadonlyMap<string, string>): string | undefined {
  const explicit = headers.get("x-cairn-idempotency-token");
  if (explicit !== undefined) {
    const token = explicit.trim();
    if (token === "" || token.length > idempotencyTokenCharactersMax) {
      throw new S3Error("InvalidArgument", `x-cairn-idempotency-token must be 1 to ${idempotencyTokenCharactersMax} characters.`, {
        ArgumentName: "x-cairn-idempotency-token",
        ArgumentValue: explicit,
      });
    }
    return token;
  }
  const invocation = headers.get("amz-sdk-invocation-id")?.trim();
  if (invocation === undefined || invocation === "" || invocation.length > idempotencyTokenCharactersMax) return undefined;
  return invocation;
}

/** The standard headers S3 stores with an object. `aws-chunked` is transfer framing, not content coding. */
export function storedHeadersFrom(headers: ReadonlyMap<string, string>): StoredHeaders {
  const encoding = headers.get("content-encoding");
  const contentEncoding =
    encoding === undefined
      ? undefined
      : encoding
          .split(",")
          .map((part) => part.trim())
          .filter((part) => part !== "" && part.toLowerCase() !== "aws-chunked")
          .join(",");
  const result: {
    contentType: string;
    contentEncoding?: string;
    contentDisposition?: string;
    contentLanguage?: string;
    cacheControl?: string;
    expires?: string;
  } = { contentType: headers.get("content-type") ?? "binary/octet-stream" };
  if (contentEncoding !== undefined && contentEncoding !== "") result.contentEncoding = contentEncoding;
  const disposition = headers.get("content-disposition");
  if (disposition !== undefined) result.contentDisposition = disposition;
  const language = headers.get("content-language");
  if (language !== undefined) result.contentLanguage = language;
  const cacheControl = headers.get("cache-control");
  if (cacheControl !== undefined) result.cacheControl = cacheControl;
  const expires = headers.get("expires");
  if (expires !== undefined) result.expires = expires;
  return result;
}
