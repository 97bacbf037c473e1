/**
 * Every rule of preconditions.ts: entity-tag lists, strong and weak
 * comparison, the three HTTP-date forms, RFC 7232 §6's order, CopyObject's
 * source conditions and the write condition's parsing.
 */
import { describe, expect, test } from "bun:test";
import { S3Error } from "../errors.ts";
import {
  checkCopySourcePreconditions,
  checkReadPreconditions,
  entityTagListMatches,
  evaluatePreconditions,
  ifRangeHolds,
  parseEntityTagList,
  parseHttpDateMs,
  writeConditionFrom,
  writeRefusalError,
} from "./preconditions.ts";

const etag = "9e107d9d372bb6826bd81d3542a419d6";
// Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT, with milliseconds the header cannot show.
const lastModifiedMs = Date.UTC(1994, 10, 6, 8, 49, 37, 500);
const object = { etag, lastModifiedMs };
const nowMs = Date.UTC(2026, 10, 29, 12, 0, 0);
const before = "Sun, 06 Nov 1994 08:49:36 GMT";
const same = "Sun, 06 Nov 1994 08:49:37 GMT";
const after = "Sun, 06 Nov 1994 08:49:38 GMT";

function headers(entries: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(entries));
}

function s3ErrorOf(run: () => unknown): S3Error {
  try {
    run();
  } catch (error) {
    if (error instanceof S3Error) return error;
    throw error;
  }
  throw new Error("expected an S3Error");
}

describe("entity tag lists", () => {
  test("parses *, quoted, weak, unquoted and comma-holding tags", () => {
    expect(parseEntityTagList(" * ")).toBe("*");
    expect(parseEntityTagList(`"a", W/"b",c , "d,e"`)).toEqual([
      { weak: false, opaque: "a" },
      { weak: true, opaque: "b" },
      { weak: false, opaque: "c" },
      { weak: false, opaque: "d,e" },
    ]);
    expect(parseEntityTagList("")).toEqual([]);
    expect(parseEntityTagList(" , ,")).toEqual([]);
    // An unterminated quote runs to the end rather than being dropped.
    expect(parseEntityTagList(`"abc`)).toEqual([{ weak: false, opaque: "abc" }]);
  });

  test("strong comparison needs two strong, equal tags; weak comparison only equal opaque tags", () => {
    expect(entityTagListMatches(`"${etag}"`, etag, "strong")).toBe(true);
    expect(entityTagListMatches(`W/"${etag}"`, etag, "strong")).toBe(false);
    expect(entityTagListMatches(`W/"${etag}"`, etag, "weak")).toBe(true);
    expect(entityTagListMatches(`"x", "${etag}"`, etag, "strong")).toBe(true);
    expect(entityTagListMatches(`"x", "y"`, etag, "weak")).toBe(false);
    expect(entityTagListMatches("*", etag, "strong")).toBe(true);
    expect(entityTagListMatches(etag, etag, "strong")).toBe(true);
    expect(entityTagListMatches(`"${etag.toUpperCase()}"`, etag, "weak")).toBe(false);
  });
});

describe("HTTP-date", () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37);

  test("reads the three forms RFC 7231 names", () => {
    expect(parseHttpDateMs("Sun, 06 Nov 1994 08:49:37 GMT", nowMs)).toBe(expected);
    expect(parseHttpDateMs("Sunday, 06-Nov-94 08:49:37 GMT", nowMs)).toBe(expected);
    expect(parseHttpDateMs("Sun Nov  6 08:49:37 1994", nowMs)).toBe(expected);
    expect(parseHttpDateMs("  Sun, 06 Nov 1994 08:49:37 GMT ", nowMs)).toBe(expected);
  });

  test("an RFC 850 year more than 50 years ahead belongs to the century before", () => {
    const in2026 = Date.UTC(2026, 0, 1);
    // 2077 would be 51 years ahead: 1977.
    expect(parseHttpDateMs("Saturday, 01-Jan-77 00:00:00 GMT", in2026)).toBe(Date.UTC(1977, 0, 1));
    // 2076 is exactly 50 years ahead, and 2070 less: this century.
    expect(parseHttpDateMs("Wednesday, 01-Jan-76 00:00:00 GMT", in2026)).toBe(Date.UTC(2076, 0, 1));
    expect(parseHttpDateMs("Wednesday, 01-Jan-70 00:00:00 GMT", in2026)).toBe(Date.UTC(2070, 0, 1));
    expect(parseHttpDateMs("Thursday, 01-Jan-26 00:00:00 GMT", in2026)).toBe(Date.UTC(2026, 0, 1));
    // The day name must be that date's (1 Jan 2070 is a Wednesday).
    expect(parseHttpDateMs("Thursday, 01-Jan-70 00:00:00 GMT", in2026)).toBeUndefined();
  });

  test("anything else is no date: other zones, ISO 8601, impossible dates, wrong day names", () => {
    for (const text of [
      "",
      "yesterday",
      "2026-11-29T12:00:00Z",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Mon, 06 Nov 1994 08:49:37 GMT",
      "Thu, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun Nov 06 08:49:37 1994 GMT",
    ]) {
      expect({ text, parsed: parseHttpDateMs(text, nowMs) }).toEqual({ text, parsed: undefined });
    }
  });

  test("a leap second reads as the second before it", () => {
    expect(parseHttpDateMs("Sat, 31 Dec 2016 23:59:60 GMT", nowMs)).toBe(Date.UTC(2016, 11, 31, 23, 59, 59));
  });
});

describe("read preconditions (RFC 7232 §6 order)", () => {
  const outcome = (entries: Record<string, string>) => evaluatePreconditions(object, Object.fromEntries(Object.entries(entries)), nowMs);

  test("If-Match: a match proceeds, anything else fails; * matches an existing object", () => {
    expect(outcome({ ifMatch: `"${etag}"` })).toEqual({ kind: "proceed" });
    expect(outcome({ ifMatch: "*" })).toEqual({ kind: "proceed" });
    expect(outcome({ ifMatch: `"other"` })).toEqual({ kind: "failed", condition: "If-Match" });
    expect(outcome({ ifMatch: `W/"${etag}"` })).toEqual({ kind: "failed", condition: "If-Match" });
  });

  test("If-Unmodified-Since: fails only when modified after the date, compared at whole seconds", () => {
    expect(outcome({ ifUnmodifiedSince: before })).toEqual({ kind: "failed", condition: "If-Unmodified-Since" });
    expect(outcome({ ifUnmodifiedSince: same })).toEqual({ kind: "proceed" });
    expect(outcome({ ifUnmodifiedSince: after })).toEqual({ kind: "proceed" });
    expect(outcome({ ifUnmodifiedSince: "not a date" })).toEqual({ kind: "proceed" });
  });

  test("If-None-Match: a (weak) match is not-modified; * matches an existing object", () => {
    expect(outcome({ ifNoneMatch: `"${etag}"` })).toEqual({ kind: "not-modified", condition: "If-None-Match" });
    expect(outcome({ ifNoneMatch: `W/"${etag}"` })).toEqual({ kind: "not-modified", condition: "If-None-Match" });
    expect(outcome({ ifNoneMatch: "*" })).toEqual({ kind: "not-modified", condition: "If-None-Match" });
    expect(outcome({ ifNoneMatch: `"other"` })).toEqual({ kind: "proceed" });
  });

  test("If-Modified-Since: not-modified unless modified after the date; a bad date is ignored", () => {
    expect(outcome({ ifModifiedSince: same })).toEqual({ kind: "not-modified", condition: "If-Modified-Since" });
    expect(outcome({ ifModifiedSince: after })).toEqual({ kind: "not-modified", condition: "If-Modified-Since" });
    expect(outcome({ ifModifiedSince: before })).toEqual({ kind: "proceed" });
    expect(outcome({ ifModifiedSince: "2026-01-01" })).toEqual({ kind: "proceed" });
  });

  test("If-Match beats If-Unmodified-Since; If-None-Match beats If-Modified-Since", () => {
    // S3's documented pairs: If-Match true + If-Unmodified-Since false → 200.
    expect(outcome({ ifMatch: `"${etag}"`, ifUnmodifiedSince: before })).toEqual({ kind: "proceed" });
    // If-None-Match false (no match) + If-Modified-Since "not modified" → 200.
    expect(outcome({ ifNoneMatch: `"other"`, ifModifiedSince: after })).toEqual({ kind: "proceed" });
    // If-None-Match matches, If-Modified-Since says modified → 304.
    expect(outcome({ ifNoneMatch: `"${etag}"`, ifModifiedSince: before })).toEqual({ kind: "not-modified", condition: "If-None-Match" });
  });

  test("a failed If-Match wins over a not-modified If-None-Match (412 before 304)", () => {
    expect(outcome({ ifMatch: `"other"`, ifNoneMatch: `"${etag}"` })).toEqual({ kind: "failed", condition: "If-Match" });
    expect(outcome({ ifUnmodifiedSince: before, ifModifiedSince: after })).toEqual({ kind: "failed", condition: "If-Unmodified-Since" });
  });

  test("GET/HEAD: 412 is thrown with the condition, 304 returned", () => {
    expect(checkReadPreconditions(object, headers({ "if-none-match": `"${etag}"` }), nowMs)).toBe("not-modified");
    expect(checkReadPreconditions(object, headers({}), nowMs)).toBe("proceed");
    const failed = s3ErrorOf(() => checkReadPreconditions(object, headers({ "if-unmodified-since": before }), nowMs));
    expect([failed.code, failed.status, failed.extra.Condition]).toEqual(["PreconditionFailed", 412, "If-Unmodified-Since"]);
  });

  test("CopyObject's source: the x-amz-copy-source- headers, and not-modified is a 412 too", () => {
    expect(() => checkCopySourcePreconditions(object, headers({ "x-amz-copy-source-if-match": `"${etag}"` }), nowMs)).not.toThrow();
    // The plain headers are the destination's business, not the source's.
    expect(() => checkCopySourcePreconditions(object, headers({ "if-match": `"other"` }), nowMs)).not.toThrow();
    for (const [name, value] of [
      ["x-amz-copy-source-if-match", `"other"`],
      ["x-amz-copy-source-if-none-match", `"${etag}"`],
      ["x-amz-copy-source-if-modified-since", after],
      ["x-amz-copy-source-if-unmodified-since", before],
    ] as const) {
      const error = s3ErrorOf(() => checkCopySourcePreconditions(object, headers({ [name]: value }), nowMs));
      expect([name, error.status]).toEqual([name, 412]);
    }
  });
});

describe("If-Range", () => {
  test("a Range is honoured only while the validator still matches (strongly, or the exact second)", () => {
    expect(ifRangeHolds(object, undefined, nowMs)).toBe(true);
    expect(ifRangeHolds(object, `"${etag}"`, nowMs)).toBe(true);
    expect(ifRangeHolds(object, `"other"`, nowMs)).toBe(false);
    expect(ifRangeHolds(object, `W/"${etag}"`, nowMs)).toBe(false);
    expect(ifRangeHolds(object, same, nowMs)).toBe(true);
    expect(ifRangeHolds(object, after, nowMs)).toBe(false);
    expect(ifRangeHolds(object, before, nowMs)).toBe(false);
    expect(ifRangeHolds(object, "garbage", nowMs)).toBe(false);
  });
});

describe("write conditions", () => {
  test("none, If-None-Match: *, If-Match with a quoted or bare tag, If-Match: *", () => {
    expect(writeConditionFrom(headers({}))).toBeUndefined();
    expect(writeConditionFrom(headers({ "if-none-match": " * " }))).toEqual({ ifNoneMatch: "*" });
    expect(writeConditionFrom(headers({ "if-match": `"${etag}"` }))).toEqual({ ifMatch: etag });
    expect(writeConditionFrom(headers({ "if-match": etag }))).toEqual({ ifMatch: etag });
    expect(writeConditionFrom(headers({ "if-match": "*" }))).toEqual({ ifMatch: "*" });
    expect(writeConditionFrom(headers({ "if-match": `"${etag}"`, "if-none-match": "*" }))).toEqual({ ifMatch: etag, ifNoneMatch: "*" });
  });

  test("refused shapes: an ETag in If-None-Match (501), a list or nothing in If-Match (400), a weak or overlong tag (412)", () => {
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-none-match": `"${etag}"` }))).status).toBe(501);
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-match": `"a", "b"` }))).code).toBe("InvalidArgument");
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-match": `""` }))).code).toBe("InvalidArgument");
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-match": " " }))).code).toBe("InvalidArgument");
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-match": `W/"${etag}"` }))).code).toBe("PreconditionFailed");
    expect(s3ErrorOf(() => writeConditionFrom(headers({ "if-match": `"${"a".repeat(129)}"` }))).code).toBe("PreconditionFailed");
  });

  test("a refusal's S3 error: 412 naming the condition, or 404 NoSuchKey", () => {
    expect([writeRefusalError("precondition-failed", "k", { ifNoneMatch: "*" }).extra.Condition]).toEqual(["If-None-Match"]);
    expect([writeRefusalError("precondition-failed", "k", { ifMatch: etag }).extra.Condition]).toEqual(["If-Match"]);
    const missing = writeRefusalError("no-such-key", "k", { ifMatch: etag });
    expect([missing.code, missing.status, missing.extra.Key]).toEqual(["NoSuchKey", 404, "k"]);
  });
});
