/** GetBucketTagging: `GET /bucket?tagging`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { decodeBucketTags, taggingDocument } from "../tagging.ts";

/** The bucket's tag set; 404 NoSuchTagSet when it has none, as S3 answers. */
export async function getBucketTagging(context: OperationContext): Promise<S3Response> {
  const stored = await context.backend.getBucketConfiguration(context.bucket, "tagging");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (stored === undefined) throw new S3Error("NoSuchTagSet", undefined, { BucketName: context.bucket });
  return { status: 200, headers: xmlHeaders(), body: taggingDocument(decodeBucketTags(stored)) };
}
