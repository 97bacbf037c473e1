/** GetBucketPolicy: `GET /bucket?policy`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** The policy JSON exactly as it was put; 404 NoSuchBucketPolicy when none is set. */
export async function getBucketPolicy(context: OperationContext): Promise<S3Response> {
  const stored = await context.backend.getBucketConfiguration(context.bucket, "policy");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (stored === undefined) throw new S3Error("NoSuchBucketPolicy", undefined, { BucketName: context.bucket });
  return { status: 200, headers: { "content-type": "application/json" }, body: stored };
}
