/** PutObjectTagging: `PUT /bucket/key?tagging[&versionId=…]` with a Tagging document. */
import type { ObjectTag } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { objectTagsMax, parseTaggingDocument } from "../tagging.ts";
import { deleteMarkerError, showsVersionIds, versionIdHeader, versionIdParameter } from "../versioning.ts";
import { xmlBodyBytesMax } from "../xml.ts";

/** Replaces the tag set of the current version or of `versionId` (at most 10 tags). */
export async function putObjectTagging(context: OperationContext): Promise<S3Response> {
  const versionId = versionIdParameter(context);
  const tags = parseTaggingDocument(await readSmallBody(context, xmlBodyBytesMax, false), objectTagsMax);
  return { status: 200, headers: await setTags(context, versionId, tags) };
}

/**
 * Sets `tags` on the version the request names and returns the reply's
 * version header; S3's errors for what it finds instead (shared with
 * DeleteObjectTagging). A delete marker is refused as GET refuses it.
 */
export async function setTags(context: OperationContext, versionId: string | undefined, tags: readonly ObjectTag[]): Promise<Record<string, string>> {
  const outcome = await context.backend.setObjectTags(context.bucket, context.key, versionId, tags);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (outcome === "no-such-key") throw new S3Error("NoSuchKey", undefined, { Key: context.key });
  if (outcome === "no-such-version") throw new S3Error("NoSuchVersion", undefined, { Key: context.key, VersionId: versionId ?? "" });
  if ("deleteMarker" in outcome) throw deleteMarkerError(context, outcome.deleteMarker, versionId !== undefined);
  return versionIdHeader(outcome.versionId, await showsVersionIds(context, outcome.versionId));
}
