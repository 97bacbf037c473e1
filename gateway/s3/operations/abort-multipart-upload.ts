/** AbortMultipartUpload: `DELETE /bucket/key?uploadId=U`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { noSuchUpload, uploadIdParameter } from "../multipart.ts";

/** Ends the upload; its parts are freed in the background. */
export async function abortMultipartUpload(context: OperationContext): Promise<S3Response> {
  const uploadId = uploadIdParameter(context);
  const outcome = await context.backend.abortMultipartUpload(context.bucket, context.key, uploadId);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (outcome === "no-such-upload") throw noSuchUpload(uploadId);
  return { status: 204, headers: {} };
}
