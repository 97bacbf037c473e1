import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  assertValidTags,
  bucketTagsMax,
  decodeBucketTags,
  encodeBucketTags,
  objectTagsMax,
  parseTaggingDocument,
  parseTaggingHeader,
  taggingDocument,
} from "./tagging.ts";
import { parseXml } from "./xml.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function failure(run: () => unknown): [string, string] {
  try {
    run();
  } catch (error) {
    if (error instanceof S3Error) return [error.code, error.message];
    throw error;
  }
  throw new Error("expected an S3Error");
}

const document = (tags: string): Uint8Array => bytes(`<Tagging><TagSet>${tags}</TagSet></Tagging>`);
const tag = (key: string, value: string): string => `<Tag><Key>${key}</Key><Value>${value}</Value></Tag>`;

describe("tag rules", () => {
  test("S3's bounds and characters: keys 1-128, values 0-256 characters, letters, digits, spaces and _ . : / = + - @", () => {
    const many = (count: number) => Array.from({ length: count }, (_, index) => ({ key: `k${index}`, value: "v" }));
    expect(() => assertValidTags(many(objectTagsMax), objectTagsMax)).not.toThrow();
    expect(failure(() => assertValidTags(many(objectTagsMax + 1), objectTagsMax))).toEqual(["InvalidTag", "Object tags cannot be greater than 10"]);
    expect(() => assertValidTags(many(bucketTagsMax), bucketTagsMax)).not.toThrow();
    expect(failure(() => assertValidTags(many(bucketTagsMax + 1), bucketTagsMax))[0]).toBe("InvalidTag");

    const fine = [
      { key: "a".repeat(128), value: "b".repeat(256) },
      // Characters, not bytes or UTF-16 units: 128 astral letters are 256 units and 512 bytes.
      { key: "𝒜".repeat(128), value: "日".repeat(256) },
      { key: "Project Name_1.2:3/4=5+6-7@8", value: "" },
      { key: "ünïcödé ５", value: "ünïcödé ٣" },
    ];
    expect(() => assertValidTags(fine, objectTagsMax)).not.toThrow();
    expect(failure(() => assertValidTags([{ key: "a".repeat(129), value: "" }], 10))[1]).toBe("The TagKey you have provided is too long, max 128");
    expect(failure(() => assertValidTags([{ key: "a", value: "b".repeat(257) }], 10))[1]).toBe("The TagValue you have provided is too long, max 256");
    expect(failure(() => assertValidTags([{ key: "", value: "v" }], 10))[1]).toBe("The TagKey you have provided is invalid");
    for (const bad of ["a#b", "a&b", "a\u0000", "<x>", "a*b", "a,b", "a\"b"]) {
      expect(failure(() => assertValidTags([{ key: bad, value: "v" }], 10))[0]).toBe("InvalidTag");
      expect(failure(() => assertValidTags([{ key: "k", value: bad }], 10))[1]).toBe("The TagValue you have provided is invalid");
    }
    expect(failure(() => assertValidTags([{ key: "k", value: "1" }, { key: "k", value: "2" }], 10))[1]).toBe("Cannot provide multiple Tags with the same key");
    // Keys are case-sensitive: these differ.
    expect(() => assertValidTags([{ key: "k", value: "1" }, { key: "K", value: "2" }], 10)).not.toThrow();
    expect(failure(() => assertValidTags([{ key: "AWS:cost", value: "1" }], 10))[1]).toBe("Your TagKey cannot be prefixed with aws:");
  });
});

describe("the Tagging document", () => {
  test("parses tags in order, entities decoded; a missing Value is empty", () => {
    expect(parseTaggingDocument(document(tag("b", "2") + tag("a", "1&#x20;&#50;") + "<Tag><Key>c</Key></Tag>"), objectTagsMax)).toEqual([
      { key: "b", value: "2" },
      { key: "a", value: "1 2" },
      { key: "c", value: "" },
    ]);
    expect(parseTaggingDocument(document(""), objectTagsMax)).toEqual([]);
    expect(parseTaggingDocument(bytes(`<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n <TagSet>\n  ${tag("k", "v")}\n </TagSet>\n</Tagging>`), objectTagsMax)).toEqual([
      { key: "k", value: "v" },
    ]);
  });

  test("anything outside the schema is MalformedXML; rule breaches are InvalidTag", () => {
    for (const bad of [
      "",
      "<Tags/>",
      "<Tagging/>",
      "<Tagging><TagSet/><TagSet/></Tagging>",
      "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
      "<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>",
      "<Tagging><TagSet><Other/></TagSet></Tagging>",
      "<Tagging><TagSet><Tag><Key>a</Key><Extra/></Tag></TagSet></Tagging>",
      "<Tagging><TagSet>",
    ]) {
      expect(failure(() => parseTaggingDocument(bytes(bad), objectTagsMax))[0]).toBe("MalformedXML");
    }
    expect(failure(() => parseTaggingDocument(new Uint8Array([0x3c, 0xff, 0x3e]), objectTagsMax))[0]).toBe("MalformedXML");
    const eleven = Array.from({ length: 11 }, (_, index) => tag(`k${index}`, "v")).join("");
    expect(failure(() => parseTaggingDocument(document(eleven), objectTagsMax))).toEqual(["InvalidTag", "Object tags cannot be greater than 10"]);
    expect(parseTaggingDocument(document(eleven), bucketTagsMax)).toHaveLength(11);
    expect(failure(() => parseTaggingDocument(document(tag("a", "1") + tag("a", "2")), objectTagsMax))[0]).toBe("InvalidTag");
  });

  test("the reply document round-trips through the parser, escaping included", () => {
    const tags = [{ key: "z", value: "" }, { key: "a b", value: "ü/@:=+-._" }];
    const reply = taggingDocument(tags);
    expect(reply.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>')).toBe(true);
    expect(parseTaggingDocument(bytes(reply), objectTagsMax)).toEqual(tags);
    expect(parseXml(taggingDocument([])).children.map((child) => child.name)).toEqual(["TagSet"]);
  });

  test("a bucket's tags are stored as versioned JSON within the store's 80 KiB bound, even at S3's limits", () => {
    const largest = Array.from({ length: bucketTagsMax }, (_, index) => ({ key: `${String(index).padStart(3, "0")}${"𝒜".repeat(125)}`, value: "𝒜".repeat(256) }));
    assertValidTags(largest, bucketTagsMax);
    const stored = encodeBucketTags(largest);
    expect(Buffer.byteLength(stored, "utf8")).toBeLessThanOrEqual(80 * 1024);
    expect(decodeBucketTags(stored)).toEqual(largest);
    expect(() => decodeBucketTags('{"v":2,"tags":[]}')).toThrow();
  });
});

describe("the x-amz-tagging header", () => {
  test("URL query encoding: & between tags, = between key and value, %XX and + decoded", () => {
    expect(parseTaggingHeader("a=1&b=2")).toEqual([{ key: "a", value: "1" }, { key: "b", value: "2" }]);
    expect(parseTaggingHeader("Project%20Name=x%2By+z&empty=&bare")).toEqual([
      { key: "Project Name", value: "x+y z" },
      { key: "empty", value: "" },
      { key: "bare", value: "" },
    ]);
    expect(parseTaggingHeader("k=%C3%BC%2F%40")).toEqual([{ key: "k", value: "ü/@" }]);
    expect(parseTaggingHeader("")).toEqual([]);
  });

  test("a malformed escape or a repeated key is InvalidArgument; S3's tag rules are InvalidTag", () => {
    expect(failure(() => parseTaggingHeader("a=%zz"))[0]).toBe("InvalidArgument");
    expect(failure(() => parseTaggingHeader("a=%C3"))[0]).toBe("InvalidArgument");
    expect(failure(() => parseTaggingHeader("a=1&a=2"))[0]).toBe("InvalidArgument");
    expect(failure(() => parseTaggingHeader("a=%23"))[0]).toBe("InvalidTag");
    expect(failure(() => parseTaggingHeader(Array.from({ length: 11 }, (_, index) => `k${index}=v`).join("&")))[0]).toBe("InvalidTag");
    expect(failure(() => parseTaggingHeader("=v"))[0]).toBe("InvalidTag");
  });
});
