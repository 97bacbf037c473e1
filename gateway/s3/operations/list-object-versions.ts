/** ListObjectVersions: `GET /bucket?versions`. */
import type { DeleteMarkerInfo, ObjectInfo } from "../../backend.ts";
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type Owner, type OperationContext } from "../context.ts";
import { commonPrefixNodes, listValue, ownerNode, parseEncodingType, parseMaxKeys } from "../list-parameters.ts";
import { isWellFormedVersionId } from "../versioning.ts";
import { writeXmlDocument, xmlElement, xmlText, type XmlNode } from "../xml.ts";

/**
 * One page of versions and delete markers in key order, newest first within
 * a key, after (`key-marker`, `version-id-marker`). NextKeyMarker and
 * NextVersionIdMarker name the last entry returned when the page is
 * truncated (a common prefix has no version id, so only NextKeyMarker).
 */
export async function listObjectVersions(context: OperationContext): Promise<S3Response> {
  const query = context.query;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const keyMarker = query.get("key-marker") ?? "";
  const versionIdMarker = query.get("version-id-marker") ?? "";
  const maxKeys = parseMaxKeys(query.get("max-keys"));
  const encoding = parseEncodingType(query.get("encoding-type"));
  if (versionIdMarker !== "" && keyMarker === "") {
    throw new S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.", {
      ArgumentName: "version-id-marker",
      ArgumentValue: versionIdMarker,
    });
  }
  if (versionIdMarker !== "" && !isWellFormedVersionId(versionIdMarker)) {
    throw new S3Error("InvalidArgument", "Invalid version id specified", { ArgumentName: "version-id-marker", ArgumentValue: versionIdMarker });
  }

  const page = await context.backend.listObjectVersions({ bucket: context.bucket, prefix, delimiter, keyMarker, versionIdMarker, maxKeys });
  if (page === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const isTruncated = maxKeys > 0 && page.isTruncated;
  const nextKeyMarker = isTruncated ? page.nextKeyMarker : undefined;
  const nextVersionIdMarker = isTruncated ? page.nextVersionIdMarker : undefined;

  const body = writeXmlDocument(
    xmlElement("ListVersionsResult", [
      xmlText("Name", context.bucket),
      xmlText("Prefix", listValue(prefix, encoding)),
      xmlText("KeyMarker", listValue(keyMarker, encoding)),
      xmlText("VersionIdMarker", versionIdMarker),
      nextKeyMarker === undefined ? undefined : xmlText("NextKeyMarker", listValue(nextKeyMarker, encoding)),
      nextVersionIdMarker === undefined ? undefined : xmlText("NextVersionIdMarker", nextVersionIdMarker),
      xmlText("MaxKeys", String(maxKeys)),
      delimiter === "" ? undefined : xmlText("Delimiter", listValue(delimiter, encoding)),
      encoding === undefined ? undefined : xmlText("EncodingType", encoding),
      xmlText("IsTruncated", String(isTruncated)),
      ...page.entries.map((entry) =>
        entry.kind === "version"
          ? versionNode(entry.info, entry.isLatest, encoding, context.owner)
          : deleteMarkerNode(entry.marker, entry.isLatest, encoding, context.owner),
      ),
      ...commonPrefixNodes(page.commonPrefixes, encoding),
    ]),
  );
  return { status: 200, headers: xmlHeaders(), body };
}

/** One `<Version>` entry. */
function versionNode(info: ObjectInfo, isLatest: boolean, encoding: "url" | undefined, owner: Owner): XmlNode {
  return xmlElement("Version", [
    xmlText("Key", listValue(info.key, encoding)),
    xmlText("VersionId", info.versionId),
    xmlText("IsLatest", String(isLatest)),
    xmlText("LastModified", new Date(info.lastModifiedMs).toISOString()),
    xmlText("ETag", `"${info.etag}"`),
    xmlText("Size", String(info.sizeBytes)),
    ownerNode(owner),
    xmlText("StorageClass", info.storageClass),
  ]);
}

/** One `<DeleteMarker>` entry. */
function deleteMarkerNode(marker: DeleteMarkerInfo, isLatest: boolean, encoding: "url" | undefined, owner: Owner): XmlNode {
  return xmlElement("DeleteMarker", [
    xmlText("Key", listValue(marker.key, encoding)),
    xmlText("VersionId", marker.versionId),
    xmlText("IsLatest", String(isLatest)),
    xmlText("LastModified", new Date(marker.lastModifiedMs).toISOString()),
    ownerNode(owner),
  ]);
}
