/** GetBucketCors: `GET /bucket?cors`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { corsConfigurationDocument, parseCorsConfiguration } from "../cors.ts";

/** The bucket's CORS rules in S3's canonical form; 404 NoSuchCORSConfiguration when none is set. */
export async function getBucketCors(context: OperationContext): Promise<S3Response> {
  const stored = await context.backend.getBucketConfiguration(context.bucket, "cors");
  if (stored === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (stored === undefined) throw new S3Error("NoSuchCORSConfiguration", undefined, { BucketName: context.bucket });
  return { status: 200, headers: xmlHeaders(), body: corsConfigurationDocument(parseCorsConfiguration(stored)) };
}
