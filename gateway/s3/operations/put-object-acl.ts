/** PutObjectAcl: `PUT /bucket/key?acl[&versionId=…]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { asksOnlyOwnerFullControl, bucketOwnerShown, objectWriteCannedAcls, readAclBody } from "../acl.ts";
import type { OperationContext } from "../context.ts";
import { findObject } from "../object-reply.ts";

/**
 * ACLs are disabled on every bucket here: after the checks S3 makes first
 * (NoSuchBucket, NoSuchKey, NoSuchVersion), an ACL that grants anything is
 * AccessControlListNotSupported, and one that restates the owner's full
 * control (`private`, `bucket-owner-full-control`, or the document
 * GetObjectAcl shows) is answered 200 and changes nothing (acl.ts says why).
 */
export async function putObjectAcl(context: OperationContext): Promise<S3Response> {
  await findObject(context);
  const bucket = await context.backend.headBucket(context.bucket);
  // The bucket held the object a moment ago: gone now, it was deleted in between.
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const body = await readAclBody(context);
  const owner = bucketOwnerShown(context, bucket.owner);
  if (!asksOnlyOwnerFullControl(context.request.headers, body, owner, objectWriteCannedAcls)) throw new S3Error("AccessControlListNotSupported");
  return { status: 200, headers: {} };
}
