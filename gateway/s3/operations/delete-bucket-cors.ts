/** DeleteBucketCors: `DELETE /bucket?cors`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** Removes the bucket's CORS configuration: 204, whether or not it had one. */
export async function deleteBucketCors(context: OperationContext): Promise<S3Response> {
  const outcome = await context.backend.deleteBucketConfiguration(context.bucket, "cors");
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 204, headers: {} };
}
