/**
 * ACLs as S3 answers them on a bucket whose Object Ownership is
 * `BucketOwnerEnforced` (ACLs disabled), the only setting Cairn's buckets
 * have (CreateBucket accepts no other `x-amz-object-ownership`).
 *
 * - Writes may carry a canned ACL that changes nothing: `private` or
 *   `bucket-owner-full-control` on an object write, `private` on
 *   CreateBucket. Any other canned ACL, or any `x-amz-grant-*` header, is
 *   refused before a body byte is read (the router decides it):
 *   AccessControlListNotSupported on object writes,
 *   InvalidBucketAclWithObjectOwnership on CreateBucket.
 * - Reading an ACL (GetBucketAcl, GetObjectAcl) always answers one grant:
 *   FULL_CONTROL to the bucket's owner, who owns every object too.
 * - Setting one (PutBucketAcl, PutObjectAcl) is AccessControlListNotSupported,
 *   once the bucket (and object) are known to exist.
 */
import { createHash } from "node:crypto";
import type { S3ErrorCode } from "../errors.ts";
import { adminOwnerName } from "./authorization.ts";
import type { OperationContext, Owner } from "./context.ts";
import { readSmallBody } from "./payload.ts";
import { escapeXml, s3Namespace, xmlBodyBytesMax } from "./xml.ts";

/** The `x-amz-acl` values an object write (PutObject, CreateMultipartUpload, CopyObject) may carry: both mean what the bucket enforces anyway. */
const objectWriteCannedAcls: readonly string[] = ["private", "bucket-owner-full-control"];
/** The `x-amz-acl` values CreateBucket may carry. */
const createBucketCannedAcls: readonly string[] = ["private"];

/** How a write's ACL headers are judged: the canned ACLs it may carry and the error for anything else. */
export interface AclHeaderRule {
  readonly acceptedCannedAcls: readonly string[];
  readonly refusal: Extract<S3ErrorCode, "AccessControlListNotSupported" | "InvalidBucketAclWithObjectOwnership">;
}

export const objectWriteAclRule: AclHeaderRule = { acceptedCannedAcls: objectWriteCannedAcls, refusal: "AccessControlListNotSupported" };
export const createBucketAclRule: AclHeaderRule = { acceptedCannedAcls: createBucketCannedAcls, refusal: "InvalidBucketAclWithObjectOwnership" };

/**
 * The first header (lower-case name) that asks for an ACL the bucket cannot
 * have: an `x-amz-acl` outside `accepted`, or any `x-amz-grant-*`. Undefined
 * when the request asks for none.
 */
export function refusedAclHeader(headers: ReadonlyMap<string, string>, accepted: readonly string[]): string | undefined {
  for (const [name, value] of headers) {
    if (name === "x-amz-acl" && !accepted.includes(value.trim())) return name;
    if (name.startsWith("x-amz-grant-")) return name;
  }
  return undefined;
}

/**
 * The owner an ACL names for a bucket recorded as owned by `ownerName`
 * (undefined: the admins', as everywhere in authorization).
 *
 * This gateway shows an owner as an id derived from the requester's access
 * key (handler.ts, ListBuckets and the listings), not from the user: a user
 * table maps keys to names, never names to keys. So the bucket's owner
 * reading its ACL sees exactly the Owner its ListBuckets shows; anyone else
 * a policy lets read it (or an admin reading another user's bucket) sees the
 * owner's name, with an id derived from that name, rather than being told it
 * owns the bucket itself.
 */
export function bucketOwnerShown(context: Pick<OperationContext, "requester" | "owner">, ownerName: string | undefined): Owner {
  const name = ownerName ?? adminOwnerName;
  if (context.requester.kind === "user" && context.requester.name === name) return context.owner;
  return { id: createHash("sha256").update(`cairn-owner-name:${name}`).digest("hex"), displayName: name };
}

/**
 * The AccessControlPolicy document of every bucket and object here: the
 * owner, and one FULL_CONTROL grant to it. Written by hand because the
 * Grantee carries the `xsi:type` attribute (`xml.ts` writes no attributes),
 * which botocore, the SDKs and s3cmd read to tell a CanonicalUser grant from
 * a Group one.
 */
export function accessControlPolicyDocument(owner: Owner): string {
  const id = escapeXml(owner.id);
  const displayName = escapeXml(owner.displayName);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    `<AccessControlPolicy xmlns="${s3Namespace}">`,
    `<Owner><ID>${id}</ID><DisplayName>${displayName}</DisplayName></Owner>`,
    "<AccessControlList><Grant>",
    '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">',
    `<ID>${id}</ID><DisplayName>${displayName}</DisplayName>`,
    "</Grantee><Permission>FULL_CONTROL</Permission>",
    "</Grant></AccessControlList>",
    "</AccessControlPolicy>",
  ].join("");
}

/**
 * Reads a PutBucketAcl/PutObjectAcl body (an AccessControlPolicy, at most
 * 1 MiB) through the usual verifiers and drops it: the request is refused
 * whatever it says, but a body whose signature does not hold is refused as
 * such, and the connection is left clean for the next request.
 */
export async function discardAclBody(context: OperationContext): Promise<void> {
  await readSmallBody(context, xmlBodyBytesMax, true);
}
