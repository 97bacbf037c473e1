/**
 * What the multipart operations share: the `uploadId` and `partNumber`
 * parameters, the checksum settings of CreateMultipartUpload, the
 * CompleteMultipartUpload document, and S3's answers to the backend's
 * refusals.
 */
import type { ChecksumAlgorithm, ChecksumType, CompletedPart, CompletionRefusal, PartInfo } from "../backend.ts";
import { S3Error } from "../errors.ts";
import { checksumAlgorithms } from "./checksum.ts";
import type { OperationContext } from "./context.ts";
import { childElement, childElements, decodeXmlBody, parseXml } from "./xml.ts";

/** S3's bounds on part numbers. */
export const partNumberMin = 1;
export const partNumberMax = 10_000;
/** The largest part S3 accepts (5 GiB). */
export const partBytesMax = 5 * 1024 * 1024 * 1024;
/**
 * A CompleteMultipartUpload document lists up to 10,000 parts; with an ETag
 * and a checksum each that is about 2 MB, so the bound is above the generic
 * 1 MiB of other XML bodies.
 */
export const completeDocumentBytesMax = 4 * 1024 * 1024;

/** The `uploadId` query parameter, refused when empty or longer than any id this store issues. */
export function uploadIdParameter(context: OperationContext): string {
  const uploadId = context.query.get("uploadId") ?? "";
  if (uploadId === "" || uploadId.length > 256) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  return uploadId;
}

/** The `partNumber` query parameter: an integer from 1 to 10,000 (InvalidArgument otherwise, as S3 answers). */
export function partNumberParameter(context: OperationContext): number {
  const text = context.query.get("partNumber") ?? "";
  const value = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= partNumberMin && value <= partNumberMax)) {
    throw new S3Error("InvalidArgument", `Part number must be an integer between ${partNumberMin} and ${partNumberMax}, inclusive`, {
      ArgumentName: "partNumber",
      ArgumentValue: text,
    });
  }
  return value;
}

/**
 * `x-amz-checksum-algorithm` and `x-amz-checksum-type` of a
 * CreateMultipartUpload. S3's pairing rules: SHA-1 and SHA-256 are COMPOSITE
 * only, CRC64NVME FULL_OBJECT only; without a type, CRC64NVME is FULL_OBJECT
 * and the rest COMPOSITE. A FULL_OBJECT checksum is the parts' CRCs combined
 * (crc-combine.ts) when the upload completes.
 */
export function uploadChecksumFrom(headers: ReadonlyMap<string, string>): { algorithm?: ChecksumAlgorithm; type?: ChecksumType } {
  const algorithmText = headers.get("x-amz-checksum-algorithm")?.trim().toUpperCase();
  const typeText = headers.get("x-amz-checksum-type")?.trim().toUpperCase();
  if (algorithmText === undefined) {
    if (typeText !== undefined) throw new S3Error("InvalidRequest", "x-amz-checksum-type requires x-amz-checksum-algorithm.");
    return {};
  }
  const algorithm = checksumAlgorithms.find((name) => name === algorithmText);
  if (algorithm === undefined) throw new S3Error("InvalidRequest", `Checksum algorithm ${algorithmText} is not supported.`);
  if (typeText !== undefined && typeText !== "COMPOSITE" && typeText !== "FULL_OBJECT") {
    throw new S3Error("InvalidRequest", `Checksum type ${typeText} is not one of COMPOSITE, FULL_OBJECT.`);
  }
  const type: ChecksumType = (typeText as ChecksumType | undefined) ?? (algorithm === "CRC64NVME" ? "FULL_OBJECT" : "COMPOSITE");
  if (type === "FULL_OBJECT" && (algorithm === "SHA1" || algorithm === "SHA256")) {
    throw new S3Error("InvalidRequest", `The ${algorithm} checksum of a multipart upload can only be COMPOSITE.`);
  }
  if (type === "COMPOSITE" && algorithm === "CRC64NVME") {
    throw new S3Error("InvalidRequest", "The CRC64NVME checksum of a multipart upload can only be FULL_OBJECT.");
  }
  return { algorithm, type };
}

/** The element name of a checksum in S3's part lists (`ChecksumCRC32`, …). */
export function checksumElementName(algorithm: ChecksumAlgorithm): string {
  return `Checksum${algorithm}`;
}

/** Parses a CompleteMultipartUpload document: its parts as listed (order is checked by the backend). */
export function parseCompleteDocument(bytes: Uint8Array): CompletedPart[] {
  const text = decodeXmlBody(bytes);
  const root = parseXml(text);
  if (root.name !== "CompleteMultipartUpload") throw new S3Error("MalformedXML", "The root element must be CompleteMultipartUpload.");
  const elements = childElements(root, "Part");
  if (elements.length === 0) throw new S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
  if (elements.length > partNumberMax) throw new S3Error("MalformedXML", `A completion lists at most ${partNumberMax} parts.`);
  return elements.map((element) => {
    const numberText = childElement(element, "PartNumber")?.text.trim() ?? "";
    const partNumber = /^[0-9]{1,5}$/.test(numberText) ? Number(numberText) : Number.NaN;
    if (!(partNumber >= partNumberMin && partNumber <= partNumberMax)) {
      throw new S3Error("InvalidArgument", `Part number must be an integer between ${partNumberMin} and ${partNumberMax}, inclusive`, {
        ArgumentName: "PartNumber",
        ArgumentValue: numberText,
      });
    }
    const etagText = childElement(element, "ETag")?.text.trim();
    if (etagText === undefined || etagText === "") throw new S3Error("MalformedXML", `Part ${partNumber} has no ETag.`);
    const checksums = checksumAlgorithms
      .map((algorithm) => childElement(element, checksumElementName(algorithm))?.text.trim())
      .filter((value): value is string => value !== undefined && value !== "");
    return { partNumber, etag: etagText.replace(/^"|"$/g, ""), ...(checksums[0] === undefined ? {} : { checksum: checksums[0] }) };
  });
}

/** S3's error for a completion the backend refused. */
export function completionError(refusal: CompletionRefusal): S3Error {
  return new S3Error(refusal.refused, refusal.message);
}

export function noSuchUpload(uploadId: string): S3Error {
  return new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
}

/** `x-amz-checksum-<alg>` of a stored part, for UploadPart's reply. */
export function partChecksumHeaders(part: PartInfo): Record<string, string> {
  return part.checksum === undefined ? {} : { [`x-amz-checksum-${part.checksum.algorithm.toLowerCase()}`]: part.checksum.value };
}
