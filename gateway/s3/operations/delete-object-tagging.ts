/** DeleteObjectTagging: `DELETE /bucket/key?tagging[&versionId=…]`. */
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { versionIdParameter } from "../versioning.ts";
import { setTags } from "./put-object-tagging.ts";

/** Removes every tag of the current version or of `versionId`: 204, with the version's id where the bucket shows ids. */
export async function deleteObjectTagging(context: OperationContext): Promise<S3Response> {
  return { status: 204, headers: await setTags(context, versionIdParameter(context), []) };
}
