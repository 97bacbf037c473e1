/** DeleteObject: `DELETE /bucket/key`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** 204 whether or not the key existed; NoSuchBucket when the bucket does not. */
export async function deleteObject(context: OperationContext): Promise<S3Response> {
  const outcome = await context.backend.deleteObject(context.bucket, context.key);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 204, headers: {} };
}
