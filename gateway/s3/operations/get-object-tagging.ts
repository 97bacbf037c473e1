/** GetObjectTagging: `GET /bucket/key?tagging[&versionId=…]`. */
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { findObject } from "../object-reply.ts";
import { taggingDocument } from "../tagging.ts";

/**
 * The tag set of the current version or of `versionId` (an empty TagSet when
 * it has none). A delete marker answers as GET does: 404 NoSuchKey for the
 * current version, 405 MethodNotAllowed when named by id.
 */
export async function getObjectTagging(context: OperationContext): Promise<S3Response> {
  const { info, versionHeaders } = await findObject(context);
  return { status: 200, headers: { ...xmlHeaders(), ...versionHeaders }, body: taggingDocument(info.tags ?? []) };
}
