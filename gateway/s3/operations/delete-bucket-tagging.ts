/** DeleteBucketTagging: `DELETE /bucket?tagging`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** Removes the bucket's tag set: 204, whether or not it had one. */
export async function deleteBucketTagging(context: OperationContext): Promise<S3Response> {
  const outcome = await context.backend.deleteBucketConfiguration(context.bucket, "tagging");
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 204, headers: {} };
}
