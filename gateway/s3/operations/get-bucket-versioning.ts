/** GetBucketVersioning: `GET /bucket?versioning`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/**
 * The bucket's versioning status. A bucket that was never versioned answers
 * an empty VersioningConfiguration, as S3 does; MfaDelete is never shown
 * because it cannot be enabled here.
 */
export async function getBucketVersioning(context: OperationContext): Promise<S3Response> {
  const versioning = await context.backend.getBucketVersioning(context.bucket);
  if (versioning === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const status = versioning === "Unversioned" ? undefined : xmlText("Status", versioning);
  return { status: 200, headers: xmlHeaders(), body: writeXmlDocument(xmlElement("VersioningConfiguration", [status])) };
}
