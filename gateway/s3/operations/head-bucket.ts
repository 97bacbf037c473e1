/** HeadBucket: `HEAD /bucket`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** 200 when the bucket exists, NoSuchBucket (404, no body) when not. */
export async function headBucket(context: OperationContext): Promise<S3Response> {
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 200, headers: { "x-amz-bucket-region": context.region } };
}
