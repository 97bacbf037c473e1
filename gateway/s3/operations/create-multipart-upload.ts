/** CreateMultipartUpload: `POST /bucket/key?uploads`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { uploadChecksumFrom } from "../multipart.ts";
import { parseTaggingHeader } from "../tagging.ts";
import { storageClassFromHeader, userMetadataFromHeaders } from "../validation.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";
import { storedHeadersFrom } from "./put-object.ts";

/**
 * Starts an upload. The object's headers, user metadata, storage class and
 * checksum algorithm are fixed now (as in S3) and applied at completion.
 */
export async function createMultipartUpload(context: OperationContext): Promise<S3Response> {
  const headers = context.request.headers;
  const storageClass = storageClassFromHeader(headers.get("x-amz-storage-class"), context.backend.storageClasses);
  const checksum = uploadChecksumFrom(headers);
  const tagging = headers.get("x-amz-tagging");
  const tags = tagging === undefined ? [] : parseTaggingHeader(tagging);
  const upload = await context.backend.createMultipartUpload({
    bucket: context.bucket,
    key: context.key,
    headers: storedHeadersFrom(headers),
    userMetadata: userMetadataFromHeaders(headers),
    storageClass,
    ...(checksum.algorithm === undefined ? {} : { checksumAlgorithm: checksum.algorithm }),
    ...(checksum.type === undefined ? {} : { checksumType: checksum.type }),
    ...(tags.length === 0 ? {} : { tags }),
  });
  if (upload === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const replyHeaders: Record<string, string> = xmlHeaders();
  if (upload.checksumAlgorithm !== undefined) replyHeaders["x-amz-checksum-algorithm"] = upload.checksumAlgorithm;
  if (upload.checksumType !== undefined) replyHeaders["x-amz-checksum-type"] = upload.checksumType;
  return {
    status: 200,
    headers: replyHeaders,
    body: writeXmlDocument(
      xmlElement("InitiateMultipartUploadResult", [
        xmlText("Bucket", context.bucket),
        xmlText("Key", context.key),
        xmlText("UploadId", upload.uploadId),
      ]),
    ),
  };
}
