/** UploadPartCopy: `PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source` and optionally `x-amz-copy-source-range`. */
import type { ObjectInfo } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { noSuchUpload, partBytesMax, partNumberParameter, uploadIdParameter } from "../multipart.ts";
import { checkCopySourcePreconditions } from "../preconditions.ts";
import { nullVersionId } from "../versioning.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";
import { findSource, parseCopySource } from "./copy-object.ts";

/**
 * Stores bytes of an existing object (all of it, or the range named by
 * `x-amz-copy-source-range: bytes=first-last`) as a part: the source is read
 * and streamed into the part as UploadPart would store a body.
 */
export async function uploadPartCopy(context: OperationContext): Promise<S3Response> {
  const headers = context.request.headers;
  const partNumber = partNumberParameter(context);
  const uploadId = uploadIdParameter(context);
  const source = parseCopySource(headers.get("x-amz-copy-source") ?? "");
  const rangeHeader = headers.get("x-amz-copy-source-range");
  const info = await findSource(context.backend, source);
  checkCopySourcePreconditions(info, headers, context.nowMs);
  const range = rangeHeader === undefined ? { start: 0, endExclusive: info.sizeBytes } : parseCopySourceRange(rangeHeader, info);
  if (range.endExclusive - range.start > partBytesMax) {
    throw new S3Error("InvalidRequest", `The specified copy source is larger than the maximum allowable size for a part: ${partBytesMax}`);
  }
  const part = await context.backend.uploadPart({
    bucket: context.bucket,
    key: context.key,
    uploadId,
    partNumber,
    body: context.backend.readObject(info, range.start, range.endExclusive),
  });
  if (part === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (part === "no-such-upload") throw noSuchUpload(uploadId);
  const replyHeaders: Record<string, string> = xmlHeaders();
  if (info.versionId !== nullVersionId) replyHeaders["x-amz-copy-source-version-id"] = info.versionId;
  return {
    status: 200,
    headers: replyHeaders,
    body: writeXmlDocument(
      xmlElement("CopyPartResult", [xmlText("ETag", `"${part.etag}"`), xmlText("LastModified", new Date(part.lastModifiedMs).toISOString())]),
    ),
  };
}

/**
 * `bytes=first-last` (both inclusive, both required, as S3 requires for
 * this header) within the source; InvalidArgument for any other form,
 * InvalidRange when it reaches past the source's end.
 */
export function parseCopySourceRange(value: string, source: Pick<ObjectInfo, "sizeBytes">): { start: number; endExclusive: number } {
  const match = /^bytes=([0-9]{1,15})-([0-9]{1,15})$/.exec(value.trim());
  if (match === null || Number(match[1]) > Number(match[2])) {
    throw new S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", {
      ArgumentName: "x-amz-copy-source-range",
      ArgumentValue: value,
    });
  }
  const start = Number(match[1]);
  const last = Number(match[2]);
  if (last >= source.sizeBytes) {
    throw new S3Error("InvalidRange", "The requested range is not satisfiable", { RangeRequested: value, ActualObjectSize: String(source.sizeBytes) });
  }
  return { start, endExclusive: last + 1 };
}
