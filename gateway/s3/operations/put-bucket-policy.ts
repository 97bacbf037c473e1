/** PutBucketPolicy: routed, not built yet; answers 501 NotImplemented (never a wrong success) until it is. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";

export async function putBucketPolicy(_context: OperationContext): Promise<S3Response> {
  throw new S3Error("NotImplemented", "The PutBucketPolicy operation is not implemented.");
}
