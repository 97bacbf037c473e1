/** ListBuckets: `GET /`. */
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { ownsBucket } from "../authorization.ts";
import { ownerNode } from "../list-parameters.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/** Lists the requester's buckets (an admin's: every bucket), sorted by name, with their creation dates. */
export async function listBuckets(context: OperationContext): Promise<S3Response> {
  const buckets = (await context.backend.listBuckets()).filter((bucket) => ownsBucket(context.requester, bucket.owner));
  const sorted = [...buckets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const body = writeXmlDocument(
    xmlElement("ListAllMyBucketsResult", [
      ownerNode(context.owner),
      xmlElement(
        "Buckets",
        sorted.map((bucket) =>
          xmlElement("Bucket", [xmlText("Name", bucket.name), xmlText("CreationDate", new Date(bucket.createdMs).toISOString())]),
        ),
      ),
    ]),
  );
  return { status: 200, headers: xmlHeaders(), body };
}
