/** PutObjectAcl: `PUT /bucket/key?acl[&versionId=…]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { discardAclBody } from "../acl.ts";
import type { OperationContext } from "../context.ts";
import { findObject } from "../object-reply.ts";

/**
 * Always refused with AccessControlListNotSupported (ACLs are disabled on
 * every bucket here), after the checks S3 makes first: NoSuchBucket,
 * NoSuchKey, NoSuchVersion. Any body is read and dropped.
 */
export async function putObjectAcl(context: OperationContext): Promise<S3Response> {
  await findObject(context);
  await discardAclBody(context);
  throw new S3Error("AccessControlListNotSupported");
}
