/** GetObject: `GET /bucket/key[?versionId=…]`. */
import type { S3Response } from "../../http.ts";
import { checksumModeReplyHeaders } from "../checksum.ts";
import type { OperationContext } from "../context.ts";
import { findObject, partWindowOf, planRead } from "../object-reply.ts";

/**
 * Streams the object (or the requested range): bytes flow as the client
 * reads them. The first chunk is read before the status line is sent, so an
 * object whose data cannot be read at all gets its S3 error (503 when too
 * few disks answer) instead of a 200 with a cut-off body.
 */
export async function getObject(context: OperationContext): Promise<S3Response> {
  const { info, versionHeaders } = await findObject(context);
  const plan = planRead(context, info, await partWindowOf(context, info));
  if (plan.kind === "no-body") return { ...plan.response, headers: { ...plan.response.headers, ...versionHeaders } };
  const checksumHeaders = checksumModeReplyHeaders(context.request.headers, info.checksum, plan.status === 200);
  const headers = { ...plan.headers, ...versionHeaders, ...checksumHeaders };
  if (plan.endBytesExclusive === plan.startBytes) return { status: plan.status, headers };
  const iterator = context.backend.readObject(info, plan.startBytes, plan.endBytesExclusive)[Symbol.asyncIterator]();
  const first = await iterator.next();
  return { status: plan.status, headers, body: continueWith(first, iterator) };
}

/** The already-read first result, then the rest of the iterator; closing it early closes the source. */
async function* continueWith(first: IteratorResult<Uint8Array>, iterator: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let done = first.done === true;
  try {
    if (!done) yield first.value;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await iterator.return?.();
  }
}
