/** UploadPart: `PUT /bucket/key?partNumber=N&uploadId=U`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { noSuchUpload, partBytesMax, partChecksumHeaders, partNumberParameter, uploadIdParameter } from "../multipart.ts";
import { openPayload } from "../payload.ts";

/**
 * Stores one part, streamed through the same verifiers as a PUT's body
 * (signatures, Content-MD5, `x-amz-checksum-*`); a part uploaded again under
 * its number replaces the earlier one.
 */
export async function uploadPart(context: OperationContext): Promise<S3Response> {
  const partNumber = partNumberParameter(context);
  const uploadId = uploadIdParameter(context);
  const payload = openPayload(context, partBytesMax);
  const part = await context.backend.uploadPart({
    bucket: context.bucket,
    key: context.key,
    uploadId,
    partNumber,
    body: payload.body,
    checksum: payload.checksum,
  });
  if (part === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  if (part === "no-such-upload") throw noSuchUpload(uploadId);
  return { status: 200, headers: { etag: `"${part.etag}"`, ...partChecksumHeaders(part) } };
}
