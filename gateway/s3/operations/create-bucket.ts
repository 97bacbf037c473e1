/** CreateBucket: `PUT /bucket` with an optional CreateBucketConfiguration body. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { ownerNameOf, ownsBucket } from "../authorization.ts";
import type { OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { childElement, decodeXmlBody, parseXml, xmlBodyBytesMax } from "../xml.ts";

/** Creates the bucket; BucketAlreadyOwnedByYou when it exists. */
export async function createBucket(context: OperationContext): Promise<S3Response> {
  const bytes = await readSmallBody(context, xmlBodyBytesMax, true);
  if (bytes.byteLength > 0) checkConfiguration(decodeXmlBody(bytes), context.region);
  const outcome = await context.backend.createBucket(context.bucket, ownerNameOf(context.requester));
  context.forgetBucketAccess();
  if (outcome === "exists") {
    // S3's two answers: the requester's own bucket, or a name someone else holds.
    const existing = await context.backend.headBucket(context.bucket);
    if (existing !== undefined && !ownsBucket(context.requester, existing.owner)) {
      throw new S3Error("BucketAlreadyExists", undefined, { BucketName: context.bucket });
    }
    throw new S3Error("BucketAlreadyOwnedByYou", undefined, { BucketName: context.bucket });
  }
  return { status: 200, headers: { location: `/${context.bucket}` } };
}

/**
 * Accepts a configuration naming this gateway's region (or none). A bucket
 * cannot be placed elsewhere, so another region is refused as S3 refuses a
 * constraint that does not match the endpoint.
 */
function checkConfiguration(text: string, region: string): void {
  const root = parseXml(text);
  if (root.name !== "CreateBucketConfiguration") throw new S3Error("MalformedXML", "The root element must be CreateBucketConfiguration.");
  const constraint = childElement(root, "LocationConstraint");
  if (constraint === undefined) return;
  const requested = constraint.text.trim();
  // us-east-1 is written as an empty constraint, as in S3.
  if (requested === "" || requested === region) return;
  throw new S3Error("InvalidLocationConstraint", `The location constraint '${requested}' does not match this endpoint's region '${region}'.`, {
    LocationConstraint: requested,
  });
}
