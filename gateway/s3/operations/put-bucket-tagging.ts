/** PutBucketTagging: `PUT /bucket?tagging` with a Tagging document. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { bucketTagsMax, encodeBucketTags, parseTaggingDocument } from "../tagging.ts";
import { xmlBodyBytesMax } from "../xml.ts";

/**
 * Replaces the bucket's tag set (at most 50 tags): 204. An empty TagSet
 * leaves the bucket without tags, so GetBucketTagging then answers
 * NoSuchTagSet.
 */
export async function putBucketTagging(context: OperationContext): Promise<S3Response> {
  const tags = parseTaggingDocument(await readSmallBody(context, xmlBodyBytesMax, false), bucketTagsMax);
  const outcome =
    tags.length === 0
      ? await context.backend.deleteBucketConfiguration(context.bucket, "tagging")
      : await context.backend.putBucketConfiguration(context.bucket, "tagging", encodeBucketTags(tags));
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 204, headers: {} };
}
