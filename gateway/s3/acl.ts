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
 *   once the bucket (and object) are known to exist, unless the ACL asked for
 *   is the one every bucket and object already has (see
 *   `asksOnlyOwnerFullControl`): that is answered 200 and changes nothing.
 */
import { createHash } from "node:crypto";
import type { S3ErrorCode } from "../errors.ts";
import { adminOwnerName } from "./authorization.ts";
import type { OperationContext, Owner } from "./context.ts";
import { readSmallBody } from "./payload.ts";
import { childElement, childElements, decodeXmlBody, escapeXml, parseXml, s3Namespace, xmlBodyBytesMax, type XmlElement } from "./xml.ts";

/** The `x-amz-acl` values an object write (PutObject, CreateMultipartUpload, CopyObject) may carry: both mean what the bucket enforces anyway. */
export const objectWriteCannedAcls: readonly string[] = ["private", "bucket-owner-full-control"];
/** The `x-amz-acl` values CreateBucket may carry. */
export const createBucketCannedAcls: readonly string[] = ["private"];

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
 * 1 MiB, possibly empty) through the usual verifiers: a body whose signature
 * does not hold is refused as such.
 */
export async function readAclBody(context: OperationContext): Promise<Uint8Array> {
  return readSmallBody(context, xmlBodyBytesMax, true);
}

/**
 * Whether a PutBucketAcl/PutObjectAcl asks for nothing but what the bucket
 * enforces: no `x-amz-grant-*` header, an `x-amz-acl` (if any) among
 * `acceptedCannedAcls`, and a body (if any) whose every grant is
 * FULL_CONTROL to `owner` (by ID; an Owner element, if it names one, names
 * `owner` too), with at least one grant. Neither header nor body asks for
 * nothing and is not such a request.
 *
 * Why this is accepted although AWS refuses every PutObjectAcl on a bucket
 * with ACLs disabled: s3cmd `cp`, `mv` and `modify` read the source's ACL
 * and write it back onto the copy, failing the copy on anything but a 501
 * (s3tools/s3cmd#1304: against AWS they need `--acl-private`). Writing back
 * the owner's full control changes nothing here, so it succeeds; every ACL
 * that would grant something is still refused.
 */
export function asksOnlyOwnerFullControl(
  headers: ReadonlyMap<string, string>,
  body: Uint8Array,
  owner: Owner,
  acceptedCannedAcls: readonly string[],
): boolean {
  if (refusedAclHeader(headers, acceptedCannedAcls) !== undefined) return false;
  if (body.byteLength === 0) return headers.has("x-amz-acl");
  // A canned ACL and a document together is an ambiguous request S3 refuses too.
  if (headers.has("x-amz-acl")) return false;
  let root: XmlElement;
  try {
    root = parseXml(decodeXmlBody(body));
  } catch {
    // Whatever it meant, it is not the owner's full control.
    return false;
  }
  if (root.name !== "AccessControlPolicy") return false;
  const ownerElement = childElement(root, "Owner");
  const ownerId = ownerElement === undefined ? undefined : childElement(ownerElement, "ID")?.text.trim();
  if (ownerId !== undefined && ownerId !== "" && ownerId !== owner.id) return false;
  const list = childElement(root, "AccessControlList");
  const grants = list === undefined ? [] : childElements(list, "Grant");
  return grants.length > 0 && grants.every((grant) => grantsOwnerFullControl(grant, owner));
}

function grantsOwnerFullControl(grant: XmlElement, owner: Owner): boolean {
  if (childElement(grant, "Permission")?.text.trim() !== "FULL_CONTROL") return false;
  const grantee = childElement(grant, "Grantee");
  if (grantee === undefined) return false;
  // A CanonicalUser grantee carries ID (and DisplayName); a URI or EmailAddress names someone else.
  if (grantee.children.some((child) => child.name !== "ID" && child.name !== "DisplayName")) return false;
  return childElement(grantee, "ID")?.text.trim() === owner.id;
}
