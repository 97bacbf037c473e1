import { describe, expect, test } from "bun:test";
import { parseRange } from "./range.ts";

describe("parseRange", () => {
  test("no header reads the whole object", () => {
    expect(parseRange(undefined, 10)).toEqual({ kind: "whole" });
  });

  test("bytes=a-b", () => {
    expect(parseRange("bytes=0-0", 10)).toEqual({ kind: "partial", startBytes: 0, endBytesInclusive: 0 });
    expect(parseRange("bytes=2-5", 10)).toEqual({ kind: "partial", startBytes: 2, endBytesInclusive: 5 });
    expect(parseRange("bytes=9-9", 10)).toEqual({ kind: "partial", startBytes: 9, endBytesInclusive: 9 });
  });

  test("the end is clamped to size - 1", () => {
    expect(parseRange("bytes=5-100", 10)).toEqual({ kind: "partial", startBytes: 5, endBytesInclusive: 9 });
    expect(parseRange("bytes=0-99999999999999999999", 10)).toEqual({ kind: "partial", startBytes: 0, endBytesInclusive: 9 });
  });

  test("bytes=a- reads to the end", () => {
    expect(parseRange("bytes=3-", 10)).toEqual({ kind: "partial", startBytes: 3, endBytesInclusive: 9 });
  });

  test("bytes=-n reads the last n bytes, at most the whole object", () => {
    expect(parseRange("bytes=-3", 10)).toEqual({ kind: "partial", startBytes: 7, endBytesInclusive: 9 });
    expect(parseRange("bytes=-10", 10)).toEqual({ kind: "partial", startBytes: 0, endBytesInclusive: 9 });
    expect(parseRange("bytes=-50", 10)).toEqual({ kind: "partial", startBytes: 0, endBytesInclusive: 9 });
  });

  test("unsatisfiable: start at or past the end, suffix 0, any range on an empty object", () => {
    expect(parseRange("bytes=10-", 10)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=10-20", 10)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-0", 10)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-0", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-5", 0)).toEqual({ kind: "unsatisfiable" });
  });

  test("invalid syntax and multiple ranges are ignored", () => {
    for (const header of ["bytes=5-2", "bytes=a-b", "bytes=-", "bytes=1-2,4-5", "items=0-1", "bytes 0-1", "bytes=1.5-2", "", "bytes=--1"]) {
      expect(parseRange(header, 10)).toEqual({ kind: "whole" });
    }
  });
});
