/** PutBucketPolicy: `PUT /bucket?policy` with the policy JSON as the body. */
import { bucketConfigurationBytesMax } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { parseBucketPolicy } from "../policy.ts";

/** Checks the document (MalformedPolicy with the reason) and stores it as sent; 204 as S3 answers. */
export async function putBucketPolicy(context: OperationContext): Promise<S3Response> {
  const bytes = await readSmallBody(context, bucketConfigurationBytesMax.policy, false);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new S3Error("MalformedPolicy", "Policies must be valid UTF-8 JSON");
  }
  // Stored as sent (GetBucketPolicy returns it), checked here with the same parser authorization reads it with.
  parseBucketPolicy(text, context.bucket);
  const outcome = await context.backend.putBucketConfiguration(context.bucket, "policy", text);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  context.forgetBucketAccess();
  return { status: 204, headers: {} };
}
