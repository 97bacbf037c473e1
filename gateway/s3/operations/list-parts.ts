/** ListParts: `GET /bucket/key?uploadId=U[&max-parts=N][&part-number-marker=M]`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { ownerNode } from "../list-parameters.ts";
import { checksumElementName, noSuchUpload, partNumberMax, uploadIdParameter } from "../multipart.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/** S3's default and largest page of parts. */
const partsPerPageMax = 1000;

export async function listParts(context: OperationContext): Promise<S3Response> {
  const uploadId = uploadIdParameter(context);
  const maxParts = integerParameter(context, "max-parts", partsPerPageMax, partsPerPageMax);
  const marker = integerParameter(context, "part-number-marker", 0, partNumberMax);
  const page = await context.backend.listParts(context.bucket, context.key, uploadId, marker, maxParts);
  if (page === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (page === "no-such-upload") throw noSuchUpload(uploadId);
  const algorithm = page.upload.checksumAlgorithm;
  return {
    status: 200,
    headers: xmlHeaders(),
    body: writeXmlDocument(
      xmlElement("ListPartsResult", [
        xmlText("Bucket", context.bucket),
        xmlText("Key", context.key),
        xmlText("UploadId", uploadId),
        xmlText("PartNumberMarker", String(marker)),
        page.nextPartNumberMarker === undefined ? undefined : xmlText("NextPartNumberMarker", String(page.nextPartNumberMarker)),
        xmlText("MaxParts", String(maxParts)),
        xmlText("IsTruncated", String(page.isTruncated)),
        ...page.parts.map((part) =>
          xmlElement("Part", [
            xmlText("PartNumber", String(part.partNumber)),
            xmlText("LastModified", new Date(part.lastModifiedMs).toISOString()),
            xmlText("ETag", `"${part.etag}"`),
            xmlText("Size", String(part.sizeBytes)),
            part.checksum === undefined ? undefined : xmlText(checksumElementName(part.checksum.algorithm), part.checksum.value),
          ]),
        ),
        xmlElement("Initiator", [xmlText("ID", context.owner.id), xmlText("DisplayName", context.owner.displayName)]),
        ownerNode(context.owner),
        xmlText("StorageClass", page.upload.storageClass),
        algorithm === undefined ? undefined : xmlText("ChecksumAlgorithm", algorithm),
        page.upload.checksumType === undefined ? undefined : xmlText("ChecksumType", page.upload.checksumType),
      ]),
    ),
  };
}

/** A non-negative integer query parameter up to `max` (larger values are clamped, as S3 clamps max-parts). */
function integerParameter(context: OperationContext, name: string, fallback: number, max: number): number {
  const text = context.query.get(name);
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,10}$/.test(text)) {
    throw new S3Error("InvalidArgument", `${name} must be a non-negative integer.`, { ArgumentName: name, ArgumentValue: text });
  }
  return Math.min(Number(text), max);
}
