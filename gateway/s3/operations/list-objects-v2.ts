/** ListObjectsV2: `GET /bucket?list-type=2`. */
import { S3Error } from "../../errors.ts";
import type { S3Response } from "../../http.ts";
import { xmlHeaders, type OperationContext } from "../context.ts";
import {
  commonPrefixNodes,
  contentsNode,
  decodeContinuationToken,
  encodeContinuationToken,
  laterKey,
  listValue,
  parseEncodingType,
  parseMaxKeys,
} from "../list-parameters.ts";
import { writeXmlDocument, xmlElement, xmlText } from "../xml.ts";

/** One page of keys and common prefixes; the continuation token is opaque to the client. */
export async function listObjectsV2(context: OperationContext): Promise<S3Response> {
  const query = context.query;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const maxKeys = parseMaxKeys(query.get("max-keys"));
  const encoding = parseEncodingType(query.get("encoding-type"));
  const fetchOwner = query.get("fetch-owner") === "true";
  const startAfter = query.get("start-after");
  const token = query.get("continuation-token");
  const continuedAfter = token === undefined ? undefined : decodeContinuationToken(token);
  const after = laterKey(startAfter ?? "", continuedAfter ?? "");

  const page = await context.backend.listObjects({ bucket: context.bucket, prefix, delimiter, after, maxKeys });
  if (page === "no-such-bucket") throw new S3Error("NoSuchBucket", undefined, { BucketName: context.bucket });
  // With max-keys=0 nothing is returned, so there is nothing to continue from.
  const isTruncated = maxKeys > 0 && page.isTruncated;
  const nextToken = isTruncated && page.lastReturned !== undefined ? encodeContinuationToken(page.lastReturned) : undefined;

  const body = writeXmlDocument(
    xmlElement("ListBucketResult", [
      xmlText("Name", context.bucket),
      xmlText("Prefix", listValue(prefix, encoding)),
      delimiter === "" ? undefined : xmlText("Delimiter", listValue(delimiter, encoding)),
      xmlText("MaxKeys", String(maxKeys)),
      encoding === undefined ? undefined : xmlText("EncodingType", encoding),
      xmlText("KeyCount", String(page.objects.length + page.commonPrefixes.length)),
      xmlText("IsTruncated", String(isTruncated)),
      token === undefined ? undefined : xmlText("ContinuationToken", token),
      nextToken === undefined ? undefined : xmlText("NextContinuationToken", nextToken),
      startAfter === undefined ? undefined : xmlText("StartAfter", listValue(startAfter, encoding)),
      ...page.objects.map((object) => contentsNode(object, encoding, fetchOwner ? context.owner : undefined)),
      ...commonPrefixNodes(page.commonPrefixes, encoding),
    ]),
  );
  return { status: 200, headers: xmlHeaders(), body };
}
