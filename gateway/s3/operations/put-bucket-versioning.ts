/** PutBucketVersioning: `PUT /bucket?versioning` with a VersioningConfiguration document. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { childElement, decodeXmlBody, parseXml, xmlBodyBytesMax } from "../xml.ts";

/** What a VersioningConfiguration asks for; `status` undefined leaves the state as it is. */
export interface VersioningRequest {
  readonly status?: "Enabled" | "Suspended";
}

/**
 * Sets Enabled or Suspended. There is no way back to Unversioned, as in S3:
 * the document only has those two values. MFA Delete is not implemented
 * (there is no MFA device to check), so asking for it is a 501 rather than a
 * silent success that would not protect anything.
 */
export async function putBucketVersioning(context: OperationContext): Promise<S3Response> {
  const bytes = await readSmallBody(context, xmlBodyBytesMax, false);
  const request = parseVersioningConfiguration(bytes);
  if (request.status === undefined) {
    const bucket = await context.backend.headBucket(context.bucket);
    if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
    return { status: 200, headers: {} };
  }
  const outcome = await context.backend.putBucketVersioning(context.bucket, request.status);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 200, headers: {} };
}

/** Parses the document; MalformedXML for anything S3's schema refuses, NotImplemented for MFA Delete. */
export function parseVersioningConfiguration(bytes: Uint8Array): VersioningRequest {
  const text = decodeXmlBody(bytes);
  if (text.trim() === "") throw new S3Error("MalformedXML", "The VersioningConfiguration document is empty.");
  const root = parseXml(text);
  if (root.name !== "VersioningConfiguration") throw new S3Error("MalformedXML", "The root element must be VersioningConfiguration.");
  for (const child of root.children) {
    if (child.name !== "Status" && child.name !== "MfaDelete") throw new S3Error("MalformedXML", `Unexpected element ${child.name} in VersioningConfiguration.`);
  }
  if (root.children.filter((child) => child.name === "Status").length > 1 || root.children.filter((child) => child.name === "MfaDelete").length > 1) {
    throw new S3Error("MalformedXML", "Status and MfaDelete may each appear once.");
  }
  const mfaDelete = childElement(root, "MfaDelete")?.text;
  if (mfaDelete !== undefined && mfaDelete !== "Disabled") {
    if (mfaDelete === "Enabled") throw new S3Error("NotImplemented", "MFA Delete is not implemented.");
    throw new S3Error("MalformedXML", "MfaDelete must be Enabled or Disabled.");
  }
  const statusElement = childElement(root, "Status");
  if (statusElement === undefined) {
    if (mfaDelete === undefined) throw new S3Error("MalformedXML", "The VersioningConfiguration names neither Status nor MfaDelete.");
    return {};
  }
  const status = statusElement.text;
  if (status !== "Enabled" && status !== "Suspended") throw new S3Error("MalformedXML", "Status must be Enabled or Suspended.");
  return { status };
}
