/** DeleteObject: `DELETE /bucket/key[?versionId=…]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { WriteCondition } from "../../backend.ts";
import type { OperationContext } from "../context.ts";
import { writeConditionFrom, writeRefusalError } from "../preconditions.ts";
import { versionIdParameter } from "../versioning.ts";

/**
 * 204 whether or not the key or version existed; NoSuchBucket when the bucket
 * does not. Without `versionId` a versioned bucket gets a delete marker (its
 * id comes back in `x-amz-version-id`, with `x-amz-delete-marker: true`); with
 * one, exactly that version goes, and the reply says whether it was a marker.
 *
 * `If-Match` (an ETag, or `*` for "any current object") makes the delete
 * conditional, as S3 has allowed since 2025: decided against the current
 * version where the key's writes are serialized, 412 PreconditionFailed when
 * it does not hold and 404 NoSuchKey when there is no current object
 * (nothing, or a delete marker); nothing is deleted then. S3 evaluates it on
 * the current version only, so it is refused with a `versionId`.
 */
export async function deleteObject(context: OperationContext): Promise<S3Response> {
  const versionId = versionIdParameter(context);
  const condition = deleteConditionFrom(context.request.headers, versionId);
  const outcome = await context.backend.deleteObject(context.bucket, context.key, versionId, condition);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (outcome === "precondition-failed" || outcome === "no-such-key") throw writeRefusalError(outcome, context.key, condition ?? {});
  const headers: Record<string, string> = {};
  if (outcome.versionId !== undefined) headers["x-amz-version-id"] = outcome.versionId;
  if (outcome.deleteMarker) headers["x-amz-delete-marker"] = "true";
  return { status: 204, headers };
}

/** A delete's If-Match as a condition (If-None-Match means nothing on a delete and is not read). */
export function deleteConditionFrom(headers: ReadonlyMap<string, string>, versionId: string | undefined): WriteCondition | undefined {
  const ifMatch = headers.get("if-match");
  if (ifMatch === undefined) return undefined;
  if (versionId !== undefined) {
    throw new S3Error("InvalidArgument", "If-Match applies to the current version of an object; it cannot be combined with versionId.", {
      ArgumentName: "If-Match",
      ArgumentValue: ifMatch,
    });
  }
  return writeConditionFrom(new Map([["if-match", ifMatch]]));
}
