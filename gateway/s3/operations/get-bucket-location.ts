/** GetBucketLocation: `GET /bucket?location`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { writeXmlDocument, xmlText } from "../xml.ts";

/** The bucket's region; empty for us-east-1, as S3 answers. */
export async function getBucketLocation(context: OperationContext): Promise<S3Response> {
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const constraint = context.region === "us-east-1" ? "" : context.region;
  return { status: 200, headers: xmlHeaders(), body: writeXmlDocument(xmlText("LocationConstraint", constraint)) };
}
