/** ListObjects (version 1): `GET /bucket`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import { commonPrefixNodes, contentsNode, listValue, parseEncodingType, parseMaxKeys } from "../list-parameters.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/**
 * One page of keys after `marker`. NextMarker is written only when a
 * delimiter was given and the page is truncated, as S3 does; without a
 * delimiter clients continue from the last Key.
 */
export async function listObjects(context: OperationContext): Promise<S3Response> {
  const query = context.query;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const marker = query.get("marker") ?? "";
  const maxKeys = parseMaxKeys(query.get("max-keys"));
  const encoding = parseEncodingType(query.get("encoding-type"));

  const page = await context.backend.listObjects({ bucket: context.bucket, prefix, delimiter, after: marker, maxKeys });
  if (page === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  const isTruncated = maxKeys > 0 && page.isTruncated;
  const nextMarker = isTruncated && delimiter !== "" ? page.lastReturned : undefined;

  const body = writeXmlDocument(
    xmlElement("ListBucketResult", [
      xmlText("Name", context.bucket),
      xmlText("Prefix", listValue(prefix, encoding)),
      xmlText("Marker", listValue(marker, encoding)),
      nextMarker === undefined ? undefined : xmlText("NextMarker", listValue(nextMarker, encoding)),
      xmlText("MaxKeys", String(maxKeys)),
      delimiter === "" ? undefined : xmlText("Delimiter", listValue(delimiter, encoding)),
      encoding === undefined ? undefined : xmlText("EncodingType", encoding),
      xmlText("IsTruncated", String(isTruncated)),
      ...page.objects.map((object) => contentsNode(object, encoding, context.owner)),
      ...commonPrefixNodes(page.commonPrefixes, encoding),
    ]),
  );
  return { status: 200, headers: xmlHeaders(), body };
}
