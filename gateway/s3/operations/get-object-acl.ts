/** GetObjectAcl: `GET /bucket/key?acl[&versionId=…]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { accessControlPolicyDocument, bucketOwnerShown } from "../acl.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { findObject } from "../object-reply.ts";

/**
 * The ACL of the current version or of `versionId`: with ACLs disabled the
 * bucket's owner owns every object, so it is the owner with FULL_CONTROL.
 * The version is found as GetObject finds it (NoSuchBucket, NoSuchKey,
 * NoSuchVersion, a delete marker's 404/405).
 */
export async function getObjectAcl(context: OperationContext): Promise<S3Response> {
  await findObject(context);
  const bucket = await context.backend.headBucket(context.bucket);
  // The bucket held the object a moment ago: gone now, it was deleted in between.
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 200, headers: xmlHeaders(), body: accessControlPolicyDocument(bucketOwnerShown(context, bucket.owner)) };
}
