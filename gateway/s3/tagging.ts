/**
 * S3 tags: the `<Tagging>` document (PutObjectTagging, PutBucketTagging and
 * their GET replies), the `x-amz-tagging` header of PutObject (URL query
 * encoding), and S3's rules for a tag set:
 *
 * - at most 10 tags on an object version, 50 on a bucket;
 * - a key of 1 to 128 and a value of 0 to 256 Unicode characters (code
 *   points), made of letters, digits, white space and `_ . : / = + - @`
 *   (S3's pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`);
 * - keys unique in the set; no key beginning with `aws:` (reserved to AWS).
 *
 * Every breach is InvalidTag (400); a document that is not the Tagging schema
 * is MalformedXML; a malformed header is InvalidArgument. Pure functions only.
 */
import type { ObjectTag } from "../backend.ts";
import { S3Error } from "../errors.ts";
import { childElement, childElements, decodeXmlBody, parseXml, writeXmlDocument, xmlElement, xmlText } from "./xml.ts";

/** S3's bound on an object version's tags. */
export const objectTagsMax = 10;
/** S3's bound on a bucket's tags. */
export const bucketTagsMax = 50;
export const tagKeyCharactersMax = 128;
export const tagValueCharactersMax = 256;

const tagCharacters = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Checks a tag set against S3's rules; throws InvalidTag. */
export function assertValidTags(tags: readonly ObjectTag[], tagsMax: number): void {
  if (tags.length > tagsMax) {
    throw new S3Error("InvalidTag", tagsMax === objectTagsMax ? "Object tags cannot be greater than 10" : `Bucket tag count cannot be greater than ${tagsMax}`);
  }
  const keys = new Set<string>();
  for (const tag of tags) {
    const keyCharacters = [...tag.key].length;
    if (keyCharacters === 0 || !tagCharacters.test(tag.key)) {
      throw new S3Error("InvalidTag", "The TagKey you have provided is invalid", { TagKey: tag.key });
    }
    if (keyCharacters > tagKeyCharactersMax) {
      throw new S3Error("InvalidTag", `The TagKey you have provided is too long, max ${tagKeyCharactersMax}`, { TagKey: tag.key });
    }
    if (tag.key.toLowerCase().startsWith("aws:")) {
      throw new S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:", { TagKey: tag.key });
    }
    if (!tagCharacters.test(tag.value)) {
      throw new S3Error("InvalidTag", "The TagValue you have provided is invalid", { TagKey: tag.key, TagValue: tag.value });
    }
    if ([...tag.value].length > tagValueCharactersMax) {
      throw new S3Error("InvalidTag", `The TagValue you have provided is too long, max ${tagValueCharactersMax}`, { TagKey: tag.key, TagValue: tag.value });
    }
    if (keys.has(tag.key)) throw new S3Error("InvalidTag", "Cannot provide multiple Tags with the same key", { TagKey: tag.key });
    keys.add(tag.key);
  }
}

/**
 * Parses a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`
 * document and checks it (`assertValidTags` with `tagsMax`).
 */
export function parseTaggingDocument(bytes: Uint8Array, tagsMax: number): ObjectTag[] {
  const text = decodeXmlBody(bytes);
  if (text.trim() === "") throw new S3Error("MalformedXML", "The Tagging document is empty.");
  const root = parseXml(text);
  if (root.name !== "Tagging") throw new S3Error("MalformedXML", "The root element must be Tagging.");
  const tagSets = childElements(root, "TagSet");
  if (tagSets.length !== 1 || root.children.length !== 1) throw new S3Error("MalformedXML", "Tagging holds exactly one TagSet.");
  const tagSet = tagSets[0]!;
  const tags: ObjectTag[] = [];
  for (const element of tagSet.children) {
    if (element.name !== "Tag") throw new S3Error("MalformedXML", `Unexpected element ${element.name} in TagSet.`);
    // Refuse before reading on: a document of thousands of tags is not worth parsing further.
    if (tags.length === tagsMax) assertValidTags([...tags, { key: "x", value: "" }], tagsMax);
    const keys = childElements(element, "Key");
    const values = childElements(element, "Value");
    if (keys.length !== 1 || values.length > 1 || element.children.length !== keys.length + values.length) {
      throw new S3Error("MalformedXML", "A Tag holds one Key and at most one Value.");
    }
    tags.push({ key: keys[0]!.text, value: childElement(element, "Value")?.text ?? "" });
  }
  assertValidTags(tags, tagsMax);
  return tags;
}

/**
 * Parses `x-amz-tagging: k1=v1&k2=v2` (URL query encoding, `+` for a space)
 * and checks it as an object's tag set. An empty header is no tags.
 */
export function parseTaggingHeader(value: string): ObjectTag[] {
  const tags: ObjectTag[] = [];
  const malformed = (): S3Error =>
    new S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.", {
      ArgumentName: "x-amz-tagging",
      ArgumentValue: value,
    });
  for (const piece of value.split("&")) {
    if (piece === "") continue;
    const equals = piece.indexOf("=");
    const rawKey = equals < 0 ? piece : piece.slice(0, equals);
    const rawValue = equals < 0 ? "" : piece.slice(equals + 1);
    let key: string;
    let tagValue: string;
    try {
      key = decodeURIComponent(rawKey.replaceAll("+", " "));
      tagValue = decodeURIComponent(rawValue.replaceAll("+", " "));
    } catch {
      throw malformed();
    }
    if (tags.some((tag) => tag.key === key)) throw malformed();
    tags.push({ key, value: tagValue });
    if (tags.length > objectTagsMax) break;
  }
  assertValidTags(tags, objectTagsMax);
  return tags;
}

/** The `<Tagging>` reply of GetObjectTagging and GetBucketTagging. */
export function taggingDocument(tags: readonly ObjectTag[]): string {
  return writeXmlDocument(
    xmlElement("Tagging", [xmlElement("TagSet", tags.map((tag) => xmlElement("Tag", [xmlText("Key", tag.key), xmlText("Value", tag.value)])))]),
  );
}

/**
 * A bucket's tag set as the configuration store keeps it: compact JSON with
 * a format version, `{"v":1,"tags":[{"key":…,"value":…}]}`. At most 50 tags
 * of 128 + 256 characters, 4 UTF-8 bytes each, plus framing: under 80 KiB,
 * the store's bound for "tagging".
 */
export function encodeBucketTags(tags: readonly ObjectTag[]): string {
  return JSON.stringify({ v: 1, tags: tags.map((tag) => ({ key: tag.key, value: tag.value })) });
}

/** Reads what `encodeBucketTags` stored; anything else is a bug or corruption, not a client error. */
export function decodeBucketTags(stored: string): ObjectTag[] {
  const parsed = JSON.parse(stored) as { v?: unknown; tags?: unknown };
  if (parsed.v !== 1 || !Array.isArray(parsed.tags)) throw new Error(`stored bucket tagging has an unknown format: ${stored.slice(0, 64)}`);
  return (parsed.tags as { key: string; value: string }[]).map((tag) => ({ key: tag.key, value: tag.value }));
}
