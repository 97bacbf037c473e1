/** DeleteBucket: `DELETE /bucket`. */
import { assertNever } from "../../../runtime/index.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

/** Deletes an empty bucket: 204; BucketNotEmpty or NoSuchBucket otherwise. */
export async function deleteBucket(context: OperationContext): Promise<S3Response> {
  const outcome = await context.backend.deleteBucket(context.bucket);
  switch (outcome) {
    case "deleted":
      return { status: 204, headers: {} };
    case "not-found":
      throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
    case "not-empty":
      throw new S3Error("BucketNotEmpty", undefined, { BucketName: context.bucket });
    default:
      return assertNever(outcome);
  }
}
