import { describe, expect, test } from "bun:test";
import { formatAmzDate, parseAmzDate, parseHttpDate } from "./amz-date.ts";
import { canonicalHeaderValue, canonicalQuery, canonicalUri, parseQuery, percentDecode, uriEncode } from "./canonical.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("canonicalUri (S3: decode, then encode each segment once, no normalisation)", () => {
  const cases: Array<[string, string]> = [
    ["/", "/"],
    ["", "/"],
    ["/test$file.text", "/test%24file.text"],
    ["/test%24file.text", "/test%24file.text"],
    ["/a b/ሴ", "/a%20b/%E1%88%B4"],
    ["/a%20b/%e1%88%b4", "/a%20b/%E1%88%B4"],
    ["/my-object//example//photo.user", "/my-object//example//photo.user"],
    ["/./a/../b/", "/./a/../b/"],
    ["/slash%2Finside", "/slash%2Finside"],
    ["/plus+sign", "/plus%2Bsign"],
    ["/bad%zzescape%", "/bad%25zzescape%25"],
    ["/-._~AZaz09", "/-._~AZaz09"],
  ];
  for (const [raw, expected] of cases) {
    test(`${JSON.stringify(raw)} → ${expected}`, () => expect(canonicalUri(raw, false)).toBe(expected));
  }
});

describe("canonicalUri with normalisation (general AWS services only)", () => {
  const cases: Array<[string, string]> = [
    ["/example/..", "/"],
    ["/example1/example2/../..", "/"],
    ["//", "/"],
    ["/./", "/"],
    ["/./example", "/example"],
    ["//example//", "/example/"],
    ["/a/b/..", "/a/"],
    ["/a/./b/.", "/a/b/"],
  ];
  for (const [raw, expected] of cases) {
    test(`${JSON.stringify(raw)} → ${expected}`, () => expect(canonicalUri(raw, true)).toBe(expected));
  }
});

describe("canonicalQuery", () => {
  test("sorted by encoded name then value; value-less key as key=", () => {
    expect(canonicalQuery("prefix=J&max-keys=2&lifecycle&b=2&b=1")).toBe("b=1&b=2&lifecycle=&max-keys=2&prefix=J");
  });
  test("strict encoding of names and values, '/' included; '+' read as a space", () => {
    expect(canonicalQuery("delimiter=/&prefix=a+b&x=%2b&%E2%82%AC=%7e")).toBe("%E2%82%AC=~&delimiter=%2F&prefix=a%20b&x=%2B");
  });
  test("sorting uses byte order of the encoded form (upper case before lower case)", () => {
    expect(canonicalQuery("a=1&B=2&_=3")).toBe("B=2&_=3&a=1");
  });
  test("exclusion by decoded name, empty pieces dropped", () => {
    expect(canonicalQuery("X-Amz-Signature=abc&&a=1&", (name) => name === "X-Amz-Signature")).toBe("a=1");
  });
  test("parseQuery decodes and keeps wire order", () => {
    expect(parseQuery("b=%2F&a&c=x+y")).toEqual([
      { name: "b", value: "/" },
      { name: "a", value: "" },
      { name: "c", value: "x y" },
    ]);
  });
});

describe("encoding primitives", () => {
  test("uriEncode keeps the unreserved set and optionally '/'", () => {
    expect(uriEncode(bytes("a/b c~*"), true)).toBe("a/b%20c~%2A");
    expect(uriEncode(bytes("a/b"), false)).toBe("a%2Fb");
  });
  test("percentDecode takes invalid escapes literally and raw UTF-8 as is", () => {
    expect(percentDecode("%41%4", false)).toEqual(bytes("A%4"));
    expect(percentDecode("é+", false)).toEqual(bytes("é+"));
    expect(percentDecode("é+", true)).toEqual(bytes("é "));
  });
  test("canonicalHeaderValue trims and collapses whitespace runs, obs-fold included", () => {
    expect(canonicalHeaderValue('  "a   b\\t c"  ')).toBe('"a b\\t c"');
    expect(canonicalHeaderValue("value1\n  value2\n     value3")).toBe("value1 value2 value3");
    expect(canonicalHeaderValue("a\t\tb")).toBe("a b");
  });
});

describe("dates", () => {
  test("amz-date round trip and rejection of impossible dates", () => {
    const epochMs = Date.UTC(2013, 4, 24, 0, 0, 0);
    expect(formatAmzDate(epochMs)).toBe("20130524T000000Z");
    expect(parseAmzDate("20130524T000000Z")).toBe(epochMs);
    expect(formatAmzDate(epochMs + 999)).toBe("20130524T000000Z");
    for (const bad of ["20130230T000000Z", "20131324T000000Z", "20130524T240000Z", "20130524T000000", "2013-05-24T00:00:00Z", ""]) {
      expect(parseAmzDate(bad)).toBeUndefined();
    }
  });
  test("HTTP Date header", () => {
    expect(parseHttpDate("Fri, 24 May 2013 00:00:00 GMT")).toBe(Date.UTC(2013, 4, 24));
    expect(parseHttpDate("2013-05-24")).toBeUndefined();
  });
});
