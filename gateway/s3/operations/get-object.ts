/** GetObject: `GET /bucket/key`. */
import type { S3Response } from "../../http.ts";
import type { OperationContext } from "../context.ts";
import { findObject, planRead } from "../object-reply.ts";

/**
 * Streams the object (or the requested range). The backend's iterable is
 * handed to the adapter as is: bytes flow as the client reads them.
 */
export async function getObject(context: OperationContext): Promise<S3Response> {
  const info = await findObject(context);
  const plan = planRead(context, info);
  if (plan.kind === "no-body") return plan.response;
  if (plan.endBytesExclusive === plan.startBytes) return { status: plan.status, headers: plan.headers };
  return { status: plan.status, headers: plan.headers, body: context.backend.readObject(info, plan.startBytes, plan.endBytesExclusive) };
}
