/** DeleteObject: `DELETE /bucket/key[?versionId=…]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { versionIdParameter } from "../versioning.ts";

/**
 * 204 whether or not the key or version existed; NoSuchBucket when the bucket
 * does not. Without `versionId` a versioned bucket gets a delete marker (its
 * id comes back in `x-amz-version-id`, with `x-amz-delete-marker: true`); with
 * one, exactly that version goes, and the reply says whether it was a marker.
 */
export async function deleteObject(context: OperationContext): Promise<S3Response> {
  const versionId = versionIdParameter(context);
  const outcome = await context.backend.deleteObject(context.bucket, context.key, versionId);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const headers: Record<string, string> = {};
  if (outcome.versionId !== undefined) headers["x-amz-version-id"] = outcome.versionId;
  if (outcome.deleteMarker) headers["x-amz-delete-marker"] = "true";
  return { status: 204, headers };
}
