/** GetBucketPolicyStatus: `GET /bucket?policyStatus`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { isPublicPolicy, parseBucketPolicy } from "../policy.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/** IsPublic by AWS's rule (`isPublicPolicy`); 404 NoSuchBucketPolicy when no policy is set, as S3 answers. */
export async function getBucketPolicyStatus(context: OperationContext): Promise<S3Response> {
  const stored = await context.backend.getBucketConfiguration(context.bucket, "policy");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (stored === undefined) throw new S3Error("NoSuchBucketPolicy", undefined, { BucketName: context.bucket });
  const isPublic = isPublicPolicy(parseBucketPolicy(stored, context.bucket));
  const body = writeXmlDocument(xmlElement("PolicyStatus", [xmlText("IsPublic", String(isPublic))]));
  return { status: 200, headers: xmlHeaders(), body };
}
