/** PutBucketAcl: `PUT /bucket?acl`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { asksOnlyOwnerFullControl, bucketOwnerShown, createBucketCannedAcls, readAclBody } from "../acl.ts";
import type { OperationContext } from "../context.ts";

/**
 * ACLs are disabled on every bucket here: after the NoSuchBucket check S3
 * makes first, an ACL that grants anything is AccessControlListNotSupported,
 * and one that restates the owner's full control (`private`, or the document
 * GetBucketAcl shows) is answered 200 and changes nothing (acl.ts says why).
 */
export async function putBucketAcl(context: OperationContext): Promise<S3Response> {
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const body = await readAclBody(context);
  const owner = bucketOwnerShown(context, bucket.owner);
  if (!asksOnlyOwnerFullControl(context.request.headers, body, owner, createBucketCannedAcls)) throw new S3Error("AccessControlListNotSupported");
  return { status: 200, headers: {} };
}
