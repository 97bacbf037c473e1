import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  compareKeys,
  decodeContinuationToken,
  encodeContinuationToken,
  laterKey,
  parseEncodingType,
  parseMaxKeys,
  urlEncodeListValue,
} from "./list-parameters.ts";

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
}

describe("max-keys", () => {
  test("defaults to 1000 and clamps to 1000", () => {
    expect(parseMaxKeys(undefined)).toBe(1000);
    expect(parseMaxKeys("0")).toBe(0);
    expect(parseMaxKeys("7")).toBe(7);
    expect(parseMaxKeys("5000")).toBe(1000);
    expect(parseMaxKeys("99999999999999999999999")).toBe(1000);
  });

  test("negative or non-integer values are InvalidArgument", () => {
    for (const value of ["-1", "1.5", "abc", "", " 5", "0x10"]) expect(codeOf(() => parseMaxKeys(value))).toBe("InvalidArgument");
  });
});

describe("encoding-type", () => {
  test("only url is accepted", () => {
    expect(parseEncodingType(undefined)).toBeUndefined();
    expect(parseEncodingType("url")).toBe("url");
    expect(codeOf(() => parseEncodingType("base64"))).toBe("InvalidArgument");
  });

  test("url encoding escapes what a form decoder could misread and keeps slashes", () => {
    expect(urlEncodeListValue("a b+c/d&e=f?é")).toBe("a%20b%2Bc/d%26e%3Df%3F%C3%A9");
    expect(urlEncodeListValue("it's (x)*!")).toBe("it%27s%20%28x%29%2A%21");
    expect(decodeURIComponent(urlEncodeListValue("k\u0001ey"))).toBe("k\u0001ey");
  });
});

describe("continuation tokens", () => {
  test("round trip", () => {
    for (const key of ["a", "dir/", "é/😀", "with space+plus"]) expect(decodeContinuationToken(encodeContinuationToken(key))).toBe(key);
  });

  test("tokens that do not decode are InvalidArgument", () => {
    for (const token of ["", "not base64!", "abc", "YQ=", "YR==", Buffer.from([0xff, 0xfe]).toString("base64")]) {
      expect(codeOf(() => decodeContinuationToken(token))).toBe("InvalidArgument");
    }
  });
});

describe("key order", () => {
  test("orders by UTF-8 bytes, not UTF-16 units", () => {
    // U+E000 (EE 80 80) vs U+1F600 (F0 ...): UTF-16 compares 0xE000 > 0xD83D, bytes say less.
    expect("\uE000" > "😀").toBe(true);
    expect(compareKeys("\uE000", "😀")).toBeLessThan(0);
    expect(laterKey("a", "b")).toBe("b");
    expect(laterKey("", "x")).toBe("x");
  });
});
