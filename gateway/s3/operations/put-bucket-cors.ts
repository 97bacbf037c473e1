/** PutBucketCors: `PUT /bucket?cors` with a CORSConfiguration document. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { corsDocumentBytesMax, parseCorsConfiguration } from "../cors.ts";
import { readSmallBody } from "../payload.ts";
import { decodeXmlBody } from "../xml.ts";

/**
 * Replaces the bucket's CORS configuration: 200. The document is checked
 * (cors.ts) and stored as the client sent it (at most 64 KiB, S3's bound and
 * the configuration store's), so what GetBucketCors and the matcher read is
 * exactly what was accepted.
 */
export async function putBucketCors(context: OperationContext): Promise<S3Response> {
  const bytes = await readSmallBody(context, corsDocumentBytesMax, false);
  const text = decodeXmlBody(bytes);
  parseCorsConfiguration(text);
  const outcome = await context.backend.putBucketConfiguration(context.bucket, "cors", text);
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return { status: 200, headers: {} };
}
