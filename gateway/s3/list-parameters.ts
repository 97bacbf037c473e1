/**
 * Query parameters shared by ListObjects (v1) and ListObjectsV2, their
 * validation, and the reply pieces both versions write the same way.
 */
import type { ObjectInfo } from "../backend.ts";
import { S3Error } from "../errors.ts";
import type { Owner } from "./context.ts";
import { xmlElement, xmlText, type XmlNode } from "./xml.ts";

/** The most keys one listing returns, and the default. */
export const listKeysMax = 1000;

/** `max-keys`: default 1000, clamped to 1000; negative or non-integer → InvalidArgument. */
export function parseMaxKeys(value: string | undefined): number {
  if (value === undefined) return listKeysMax;
  if (!/^\d+$/.test(value)) {
    throw new S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range", { ArgumentName: "max-keys", ArgumentValue: value });
  }
  return Math.min(Number(value), listKeysMax);
}

/** `encoding-type`: absent or `url`; anything else → InvalidArgument. */
export function parseEncodingType(value: string | undefined): "url" | undefined {
  if (value === undefined) return undefined;
  if (value.toLowerCase() === "url") return "url";
  throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", { ArgumentName: "encoding-type", ArgumentValue: value });
}

/** The continuation token is base64 of the last key or prefix returned; it stays opaque to clients. */
export function encodeContinuationToken(lastReturned: string): string {
  return Buffer.from(lastReturned, "utf8").toString("base64");
}

/** Decodes a continuation token; InvalidArgument when it is not one this gateway issued. */
export function decodeContinuationToken(token: string): string {
  const invalid = new S3Error("InvalidArgument", "The continuation token provided is incorrect", { ArgumentName: "continuation-token" });
  if (token === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(token) || token.length % 4 !== 0) throw invalid;
  const bytes = Buffer.from(token, "base64");
  // Round-tripping rejects non-canonical encodings of the same bytes.
  if (bytes.toString("base64") !== token) throw invalid;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid;
  }
}

/**
 * URL-encodes a value for `encoding-type=url` replies. Slashes stay readable;
 * everything a form decoder could misread (including `+` and spaces) is escaped.
 */
export function urlEncodeListValue(value: string): string {
  return encodeURIComponent(value).replaceAll("%2F", "/").replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Applies the encoding type to a value written in a listing. */
export function listValue(value: string, encoding: "url" | undefined): string {
  return encoding === "url" ? urlEncodeListValue(value) : value;
}

/** The greater of two keys in S3's (UTF-8 byte = code point) order. */
export function laterKey(first: string, second: string): string {
  return compareKeys(first, second) >= 0 ? first : second;
}

/** Orders keys by UTF-8 bytes, which is code-point order (not UTF-16 unit order). */
export function compareKeys(first: string, second: string): number {
  const a = Buffer.from(first, "utf8");
  const b = Buffer.from(second, "utf8");
  return Buffer.compare(a, b);
}

/** The owner element of a listing. */
export function ownerNode(owner: Owner): XmlNode {
  return xmlElement("Owner", [xmlText("ID", owner.id), xmlText("DisplayName", owner.displayName)]);
}

/** One `<Contents>` entry. */
export function contentsNode(object: ObjectInfo, encoding: "url" | undefined, owner: Owner | undefined): XmlNode {
  return xmlElement("Contents", [
    xmlText("Key", listValue(object.key, encoding)),
    xmlText("LastModified", new Date(object.lastModifiedMs).toISOString()),
    xmlText("ETag", `"${object.etag}"`),
    xmlText("Size", String(object.sizeBytes)),
    owner === undefined ? undefined : ownerNode(owner),
    xmlText("StorageClass", object.storageClass),
  ]);
}

/** The `<CommonPrefixes>` entries. */
export function commonPrefixNodes(prefixes: readonly string[], encoding: "url" | undefined): XmlNode[] {
  return prefixes.map((prefix) => xmlElement("CommonPrefixes", [xmlText("Prefix", listValue(prefix, encoding))]));
}
