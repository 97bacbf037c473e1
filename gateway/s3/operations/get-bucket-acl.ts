/** GetBucketAcl: `GET /bucket?acl`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { accessControlPolicyDocument, bucketOwnerShown } from "../acl.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";

/**
 * The bucket's ACL as S3 shows it with ACLs disabled: its owner with
 * FULL_CONTROL and nothing else. NoSuchBucket for a bucket that does not exist.
 */
export async function getBucketAcl(context: OperationContext): Promise<S3Response> {
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 200, headers: xmlHeaders(), body: accessControlPolicyDocument(bucketOwnerShown(context, bucket.owner)) };
}
