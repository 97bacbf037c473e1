/** ListMultipartUploads: `GET /bucket?uploads` with prefix, delimiter, key-marker, upload-id-marker, max-uploads. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { commonPrefixNodes, listValue, ownerNode, parseEncodingType } from "../list-parameters.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/** S3's default and largest page of uploads. */
const uploadsPerPageMax = 1000;

export async function listMultipartUploads(context: OperationContext): Promise<S3Response> {
  const query = context.query;
  const encoding = parseEncodingType(query.get("encoding-type"));
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const keyMarker = query.get("key-marker") ?? "";
  // S3 ignores upload-id-marker without key-marker.
  const uploadIdMarker = keyMarker === "" ? "" : (query.get("upload-id-marker") ?? "");
  const maxText = query.get("max-uploads");
  if (maxText !== undefined && !/^[0-9]{1,10}$/.test(maxText)) {
    throw new S3Error("InvalidArgument", "max-uploads must be a non-negative integer.", { ArgumentName: "max-uploads", ArgumentValue: maxText });
  }
  const maxUploads = maxText === undefined ? uploadsPerPageMax : Math.min(Number(maxText), uploadsPerPageMax);
  const page = await context.backend.listMultipartUploads({ bucket: context.bucket, prefix, delimiter, keyMarker, uploadIdMarker, maxUploads });
  if (page === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  return {
    status: 200,
    headers: xmlHeaders(),
    body: writeXmlDocument(
      xmlElement("ListMultipartUploadsResult", [
        xmlText("Bucket", context.bucket),
        xmlText("KeyMarker", listValue(keyMarker, encoding)),
        xmlText("UploadIdMarker", uploadIdMarker),
        page.nextKeyMarker === undefined ? undefined : xmlText("NextKeyMarker", listValue(page.nextKeyMarker, encoding)),
        page.nextUploadIdMarker === undefined ? undefined : xmlText("NextUploadIdMarker", page.nextUploadIdMarker),
        encoding === undefined ? undefined : xmlText("EncodingType", encoding),
        xmlText("Prefix", listValue(prefix, encoding)),
        delimiter === "" ? undefined : xmlText("Delimiter", listValue(delimiter, encoding)),
        xmlText("MaxUploads", String(maxUploads)),
        xmlText("IsTruncated", String(page.isTruncated)),
        ...page.uploads.map((upload) =>
          xmlElement("Upload", [
            xmlText("Key", listValue(upload.key, encoding)),
            xmlText("UploadId", upload.uploadId),
            xmlElement("Initiator", [xmlText("ID", context.owner.id), xmlText("DisplayName", context.owner.displayName)]),
            ownerNode(context.owner),
            xmlText("StorageClass", upload.storageClass),
            xmlText("Initiated", new Date(upload.initiatedMs).toISOString()),
            upload.checksumAlgorithm === undefined ? undefined : xmlText("ChecksumAlgorithm", upload.checksumAlgorithm),
          ]),
        ),
        ...commonPrefixNodes(page.commonPrefixes, encoding),
      ]),
    ),
  };
}
