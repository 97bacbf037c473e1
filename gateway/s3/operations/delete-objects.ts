/**
 * DeleteObjects: `POST /bucket?delete` with a `<Delete>` document (keys, optionally with VersionId, or
 * with an ETag that makes that key's delete conditional, as DeleteObject's If-Match: a refusal is that
 * key's `<Error>`, PreconditionFailed or NoSuchKey).
 */
import { mapBounded } from "../../../runtime/index.ts";
import { S3Error, s3ErrorFromFault } from "../../errors.ts";
import { FaultError } from "../../backend.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { readSmallBody } from "../payload.ts";
import { writeRefusalError } from "../preconditions.ts";
import { keyBytesMax, utf8ByteLength } from "../validation.ts";
import { deleteConditionFrom } from "./delete-object.ts";
import { isWellFormedVersionId } from "../versioning.ts";
import { childElement, childElements, decodeXmlBody, parseXml, writeXmlDocument, xmlBodyBytesMax, xmlElement, type XmlNode, xmlText } from "../xml.ts";

/** S3's limit on keys per request. */
export const deleteObjectsKeysMax = 1000;

/** Deletes run this many at a time: enough to overlap round trips, bounded so one request cannot flood the backend. */
const deletesInFlightMax = 16;

interface DeleteEntry {
  readonly key: string;
  readonly versionId?: string;
  /** The `<ETag>` of a conditional delete, as written. */
  readonly etag?: string;
}

/** How one entry ended: deleted (with what the backend reported) or an error. */
type DeleteOutcome = {
  readonly entry: DeleteEntry;
  readonly error?: S3Error;
  readonly deleteMarker?: boolean;
  readonly deleteMarkerVersionId?: string;
};

/** Deletes up to 1000 keys or versions; the reply lists what was deleted (unless Quiet) and what failed. */
export async function deleteObjects(context: OperationContext): Promise<S3Response> {
  const headers = context.request.headers;
  const hasChecksum = [...headers.keys()].some((name) => name.startsWith("x-amz-checksum-")) ||
    (headers.get("x-amz-trailer") ?? "").toLowerCase().startsWith("x-amz-checksum-");
  // S3 requires an integrity check on this request; Content-MD5 is verified by readSmallBody.
  // TODO(issue 6): verify the x-amz-checksum-* value too.
  if (!headers.has("content-md5") && !hasChecksum) {
    throw new S3Error("InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*");
  }
  const bytes = await readSmallBody(context, xmlBodyBytesMax, false);
  const { quiet, entries } = parseDeleteDocument(bytes);
  const bucket = await context.backend.headBucket(context.bucket);
  if (bucket === undefined) throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });

  const outcomes = await mapBounded(entries, deletesInFlightMax, (entry) => deleteOne(context, entry));
  const nodes: XmlNode[] = [];
  for (const outcome of outcomes) {
    if (outcome.error === undefined) {
      if (!quiet) nodes.push(deletedNode(outcome));
      continue;
    }
    nodes.push(
      xmlElement("Error", [
        xmlText("Key", outcome.entry.key),
        versionNode(outcome.entry),
        xmlText("Code", outcome.error.code),
        xmlText("Message", outcome.error.message),
      ]),
    );
  }
  return { status: 200, headers: xmlHeaders(), body: writeXmlDocument(xmlElement("DeleteResult", nodes)) };
}

/**
 * A `<Deleted>` entry as S3 writes it: DeleteMarker says whether a delete
 * marker was created (simple delete) or removed (delete by version);
 * DeleteMarkerVersionId is that marker's id.
 */
function deletedNode(outcome: DeleteOutcome): XmlNode {
  const marker = outcome.deleteMarker === true;
  return xmlElement("Deleted", [
    xmlText("Key", outcome.entry.key),
    versionNode(outcome.entry),
    marker ? xmlText("DeleteMarker", "true") : undefined,
    marker && outcome.deleteMarkerVersionId !== undefined ? xmlText("DeleteMarkerVersionId", outcome.deleteMarkerVersionId) : undefined,
  ]);
}

function versionNode(entry: DeleteEntry): XmlNode | undefined {
  return entry.versionId === undefined ? undefined : xmlText("VersionId", entry.versionId);
}

async function deleteOne(context: OperationContext, entry: DeleteEntry): Promise<DeleteOutcome> {
  if (utf8ByteLength(entry.key) > keyBytesMax) return { entry, error: new S3Error("KeyTooLongError") };
  if (entry.versionId !== undefined && !isWellFormedVersionId(entry.versionId)) {
    return { entry, error: new S3Error("InvalidArgument", "Invalid version id specified") };
  }
  // DeleteObjects has no permission of its own: each key needs s3:DeleteObject (s3:DeleteObjectVersion by version).
  if (!context.mayAccessKey(entry.versionId === undefined ? "s3:DeleteObject" : "s3:DeleteObjectVersion", entry.key)) {
    return { entry, error: new S3Error("AccessDenied") };
  }
  try {
    const condition = entry.etag === undefined ? undefined : deleteConditionFrom(new Map([["if-match", entry.etag]]), entry.versionId);
    const outcome = await context.backend.deleteObject(context.bucket, entry.key, entry.versionId, condition);
    if (outcome === "no-such-bucket") return { entry, error: new S3Error("NoSuchBucket") };
    if (outcome === "precondition-failed" || outcome === "no-such-key") return { entry, error: writeRefusalError(outcome, entry.key, condition ?? {}) };
    return {
      entry,
      deleteMarker: outcome.deleteMarker,
      ...(outcome.versionId === undefined ? {} : { deleteMarkerVersionId: outcome.versionId }),
    };
  } catch (error) {
    if (error instanceof FaultError) return { entry, error: s3ErrorFromFault(error.value) };
    // A malformed <ETag> (or one beside a VersionId) is that key's error, as its header would be DeleteObject's.
    if (error instanceof S3Error) return { entry, error };
    throw error;
  }
}

/** Parses the `<Delete>` document; MalformedXML for anything S3 would refuse. */
export function parseDeleteDocument(bytes: Uint8Array): { quiet: boolean; entries: DeleteEntry[] } {
  const text = decodeXmlBody(bytes);
  const root = parseXml(text);
  if (root.name !== "Delete") throw new S3Error("MalformedXML", "The root element must be Delete.");
  const quietElement = childElement(root, "Quiet");
  const quietText = quietElement?.text.trim().toLowerCase();
  if (quietText !== undefined && quietText !== "true" && quietText !== "false") throw new S3Error("MalformedXML", "Quiet must be true or false.");
  const objects = childElements(root, "Object");
  if (objects.length === 0) throw new S3Error("MalformedXML", "The Delete document names no Object.");
  if (objects.length > deleteObjectsKeysMax) throw new S3Error("MalformedXML", `At most ${deleteObjectsKeysMax} objects may be deleted per request.`);
  const entries = objects.map((object): DeleteEntry => {
    const key = childElement(object, "Key");
    if (key === undefined || key.text === "") throw new S3Error("MalformedXML", "Every Object needs a non-empty Key.");
    const version = childElement(object, "VersionId");
    const etag = childElement(object, "ETag");
    return { key: key.text, ...(version === undefined ? {} : { versionId: version.text }), ...(etag === undefined ? {} : { etag: etag.text }) };
  });
  return { quiet: quietText === "true", entries };
}

