/** PutBucketAcl: `PUT /bucket?acl`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { discardAclBody } from "../acl.ts";
import type { OperationContext } from "../context.ts";

/**
 * Always refused with AccessControlListNotSupported (ACLs are disabled on
 * every bucket here), after the NoSuchBucket check S3 makes first. Any body
 * is read and dropped.
 */
export async function putBucketAcl(context: OperationContext): Promise<S3Response> {
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  await discardAclBody(context);
  throw new S3Error("AccessControlListNotSupported");
}
