/** HeadObject: `HEAD /bucket/key[?versionId=…]`. */
import type { S3Response } from "../../http.ts";
import { checksumModeReplyHeaders } from "../checksum.ts";
import type { OperationContext } from "../context.ts";
import { findObject, partWindowOf, planRead } from "../object-reply.ts";

/** GetObject's status and headers without the body (Content-Length stays). */
export async function headObject(context: OperationContext): Promise<S3Response> {
  const { info, versionHeaders } = await findObject(context);
  const plan = planRead(context, info, await partWindowOf(context, info));
  if (plan.kind === "no-body") return { ...plan.response, headers: { ...plan.response.headers, ...versionHeaders } };
  const checksumHeaders = checksumModeReplyHeaders(context.request.headers, info.checksum, plan.status === 200);
  return { status: plan.status, headers: { ...plan.headers, ...versionHeaders, ...checksumHeaders } };
}
