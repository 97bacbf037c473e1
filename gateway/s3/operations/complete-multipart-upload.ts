/** CompleteMultipartUpload: `POST /bucket/key?uploadId=U` with a `<CompleteMultipartUpload>` document. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { ChecksumAlgorithm } from "../../backend.ts";
import { checksumAlgorithms, checksumHeaderName, checksumReplyHeaders, decodeChecksumValue } from "../checksum.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { checksumElementName, completeDocumentBytesMax, completionError, noSuchUpload, parseCompleteDocument, uploadIdParameter } from "../multipart.ts";
import { readSmallBody } from "../payload.ts";
import { writeConditionFrom, writeRefusalError } from "../preconditions.ts";
import { showsVersionIds, versionIdHeader } from "../versioning.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/**
 * Makes the listed parts the object (a new version, as a PUT would). The
 * part list is checked against the stored parts: InvalidPart, InvalidPartOrder
 * and EntityTooSmall leave the upload open, as in S3. `If-None-Match: *` and
 * `If-Match` are decided in the commit, like a conditional PutObject. A
 * FULL_OBJECT upload's `x-amz-checksum-<algorithm>` (the client's CRC of the
 * whole) must equal the parts' CRCs combined: BadDigest, nothing committed.
 */
export async function completeMultipartUpload(context: OperationContext): Promise<S3Response> {
  const uploadId = uploadIdParameter(context);
  const condition = writeConditionFrom(context.request.headers);
  const expectedChecksum = expectedChecksumFrom(context.request.headers);
  // Its x-amz-checksum-* header is the object's checksum (FULL_OBJECT), not the document's.
  const parts = parseCompleteDocument(await readSmallBody(context, completeDocumentBytesMax, false, "object's"));
  const outcome = await context.backend.completeMultipartUpload({
    bucket: context.bucket,
    key: context.key,
    uploadId,
    parts,
    ...(condition === undefined ? {} : { condition }),
    ...(expectedChecksum === undefined ? {} : { expectedChecksum }),
  });
  if (outcome === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (outcome === "no-such-upload") throw noSuchUpload(uploadId);
  if (outcome === "precondition-failed" || outcome === "no-such-key") throw writeRefusalError(outcome, context.key, condition ?? {});
  if ("refused" in outcome) throw completionError(outcome);
  const versionHeaders = versionIdHeader(outcome.versionId, await showsVersionIds(context, outcome.versionId));
  const checksum = outcome.checksum;
  return {
    status: 200,
    headers: { ...xmlHeaders(), ...versionHeaders, ...checksumReplyHeaders(checksum) },
    body: writeXmlDocument(
      xmlElement("CompleteMultipartUploadResult", [
        xmlText("Location", `/${context.bucket}/${encodeURIComponent(context.key).replaceAll("%2F", "/")}`),
        xmlText("Bucket", context.bucket),
        xmlText("Key", context.key),
        xmlText("ETag", `"${outcome.etag}"`),
        checksum === undefined ? undefined : xmlText(checksumElementName(checksum.algorithm), checksum.value),
        checksum === undefined ? undefined : xmlText("ChecksumType", checksum.type),
      ]),
    ),
  };
}

/** The object checksum a completion names (one `x-amz-checksum-*` header; InvalidRequest for two, or a malformed value). */
function expectedChecksumFrom(headers: ReadonlyMap<string, string>): { algorithm: ChecksumAlgorithm; value: string } | undefined {
  const named = checksumAlgorithms.filter((algorithm) => headers.has(checksumHeaderName(algorithm)));
  if (named.length === 0) return undefined;
  if (named.length > 1) throw new S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header.");
  const algorithm = named[0]!;
  const value = headers.get(checksumHeaderName(algorithm))!.trim();
  // A COMPOSITE value ends in -<part count>; only a FULL_OBJECT value is a digest to check.
  if (!/-[0-9]+$/.test(value)) decodeChecksumValue(algorithm, value, checksumHeaderName(algorithm));
  return { algorithm, value };
}
