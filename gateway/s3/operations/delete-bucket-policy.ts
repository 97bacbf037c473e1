/** DeleteBucketPolicy: `DELETE /bucket?policy`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** Removes the policy (none set is fine); 204 as S3 answers. */
export async function deleteBucketPolicy(context: OperationContext): Promise<S3Response> {
  const outcome = await context.backend.deleteBucketConfiguration(context.bucket, "policy");
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  context.forgetBucketAccess();
  return { status: 204, headers: {} };
}
