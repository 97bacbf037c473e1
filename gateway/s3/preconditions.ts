/**
 * Conditional requests (RFC 7232) as S3 applies them, in one place:
 *
 * - reads (GetObject, HeadObject): `If-Match`, `If-Unmodified-Since` → 412
 *   PreconditionFailed; `If-None-Match`, `If-Modified-Since` → 304 Not
 *   Modified; `If-Range` decides whether a `Range` is honoured. Evaluated in RFC 7232 §6's order: If-Match, else
 *   If-Unmodified-Since; then If-None-Match, else If-Modified-Since (so
 *   If-Match beats If-Unmodified-Since and If-None-Match beats
 *   If-Modified-Since, which is also what S3 documents);
 * - CopyObject's source (`x-amz-copy-source-if-*`): the same evaluation,
 *   where "not modified" is a 412 too (a copy has no 304);
 * - writes (PutObject, CopyObject's destination): `If-None-Match: *` and
 *   `If-Match: <etag>` become a `WriteCondition` that the backend decides
 *   when the write commits (never here: a read before the write would race).
 *
 * Entity tags: If-Match compares strongly (a weak tag never matches),
 * If-None-Match weakly (`W/"x"` matches `"x"`); `*` matches any current
 * object. Unquoted tags are accepted as strong ones, because S3 clients send
 * them. Dates: the three HTTP-date forms (IMF-fixdate, RFC 850, asctime),
 * compared at whole seconds (Last-Modified's precision); a date that does not
 * parse is ignored, as RFC 7232 requires.
 */
import type { WriteCondition } from "../backend.ts";
import { S3Error } from "../errors.ts";

/** What the preconditions are compared with: the object's current validators. */
export interface Validators {
  /** Lower-case hex (or multipart `hex-N`), without quotes. */
  readonly etag: string;
  readonly lastModifiedMs: number;
}

/** The raw header values of a request's read preconditions (any may be absent). */
export interface ReadPreconditions {
  readonly ifMatch?: string;
  readonly ifNoneMatch?: string;
  readonly ifModifiedSince?: string;
  readonly ifUnmodifiedSince?: string;
}

export type PreconditionOutcome =
  | { readonly kind: "proceed" }
  | { readonly kind: "failed"; readonly condition: "If-Match" | "If-Unmodified-Since" }
  | { readonly kind: "not-modified"; readonly condition: "If-None-Match" | "If-Modified-Since" };

/** One member of an entity-tag list. */
export interface EntityTag {
  readonly weak: boolean;
  /** The opaque tag without quotes. */
  readonly opaque: string;
}

/** The longest ETag a write condition carries (the bucket partition's wire bound). */
const etagCharactersMax = 128;

/** Headers are at most 16 KiB (Bun's header block), so a list holds at most this many tags we look at. */
const entityTagsMax = 1_000;

/**
 * The request's read preconditions. `prefix` is "" for GET/HEAD and
 * "x-amz-copy-source-" for CopyObject's source conditions.
 */
export function readPreconditionsFrom(headers: ReadonlyMap<string, string>, prefix = ""): ReadPreconditions {
  const result: { ifMatch?: string; ifNoneMatch?: string; ifModifiedSince?: string; ifUnmodifiedSince?: string } = {};
  const ifMatch = headers.get(`${prefix}if-match`);
  if (ifMatch !== undefined) result.ifMatch = ifMatch;
  const ifNoneMatch = headers.get(`${prefix}if-none-match`);
  if (ifNoneMatch !== undefined) result.ifNoneMatch = ifNoneMatch;
  const ifModifiedSince = headers.get(`${prefix}if-modified-since`);
  if (ifModifiedSince !== undefined) result.ifModifiedSince = ifModifiedSince;
  const ifUnmodifiedSince = headers.get(`${prefix}if-unmodified-since`);
  if (ifUnmodifiedSince !== undefined) result.ifUnmodifiedSince = ifUnmodifiedSince;
  return result;
}

/**
 * Evaluates read preconditions against an existing object in RFC 7232 §6's
 * order. `nowMs` resolves RFC 850's two-digit years.
 */
export function evaluatePreconditions(object: Validators, preconditions: ReadPreconditions, nowMs: number): PreconditionOutcome {
  const lastModifiedSeconds = Math.floor(object.lastModifiedMs / 1000);
  if (preconditions.ifMatch !== undefined) {
    if (!entityTagListMatches(preconditions.ifMatch, object.etag, "strong")) return { kind: "failed", condition: "If-Match" };
  } else if (preconditions.ifUnmodifiedSince !== undefined) {
    const sinceMs = parseHttpDateMs(preconditions.ifUnmodifiedSince, nowMs);
    if (sinceMs !== undefined && lastModifiedSeconds > Math.floor(sinceMs / 1000)) return { kind: "failed", condition: "If-Unmodified-Since" };
  }
  if (preconditions.ifNoneMatch !== undefined) {
    if (entityTagListMatches(preconditions.ifNoneMatch, object.etag, "weak")) return { kind: "not-modified", condition: "If-None-Match" };
  } else if (preconditions.ifModifiedSince !== undefined) {
    const sinceMs = parseHttpDateMs(preconditions.ifModifiedSince, nowMs);
    if (sinceMs !== undefined && lastModifiedSeconds <= Math.floor(sinceMs / 1000)) return { kind: "not-modified", condition: "If-Modified-Since" };
  }
  return { kind: "proceed" };
}

/**
 * Whether a list (`*`, or comma-separated entity tags) matches `etag`.
 * Strong comparison: both tags strong and equal; weak: equal opaque tags.
 */
export function entityTagListMatches(list: string, etag: string, comparison: "strong" | "weak"): boolean {
  const tags = parseEntityTagList(list);
  if (tags === "*") return true;
  return tags.some((tag) => tag.opaque === etag && (comparison === "weak" || !tag.weak));
}

/**
 * Parses `*` or a comma-separated list of entity tags (`"x"`, `W/"x"`, or an
 * unquoted `x`). Empty members are skipped; at most `entityTagsMax` are read.
 */
export function parseEntityTagList(value: string): "*" | EntityTag[] {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  let position = 0;
  while (position < value.length && tags.length < entityTagsMax) {
    const character = value[position]!;
    if (character === "," || character === " " || character === "\t") {
      position += 1;
      continue;
    }
    let weak = false;
    if (value.startsWith("W/", position)) {
      weak = true;
      position += 2;
    }
    if (value[position] === '"') {
      // An opaque tag may hold commas: it ends at the next quote.
      const end = value.indexOf('"', position + 1);
      const close = end < 0 ? value.length : end;
      tags.push({ weak, opaque: value.slice(position + 1, close) });
      position = close + 1;
      continue;
    }
    let end = position;
    while (end < value.length && value[end] !== "," && value[end] !== " " && value[end] !== "\t") end += 1;
    tags.push({ weak, opaque: value.slice(position, end) });
    position = end;
  }
  return tags;
}

const dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const imfFixdate = /^([A-Za-z]{3}), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const rfc850Date = /^([A-Za-z]{6,9}), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const asctimeDate = /^([A-Za-z]{3}) ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP-date (RFC 7231 §7.1.1.1) in any of its three forms, as epoch
 * milliseconds; undefined when it is none of them or names no real instant
 * (31 Feb, hour 24, a day name that is not that date's). An RFC 850 year
 * that would lie more than 50 years after `nowMs` is taken from the century
 * before, as the RFC says.
 */
export function parseHttpDateMs(value: string, nowMs: number): number | undefined {
  const text = value.trim();
  let match = imfFixdate.exec(text);
  if (match !== null) return instantOf(match[1]!, dayNames, Number(match[4]), match[3]!, match[2]!, match[5]!, match[6]!, match[7]!);
  match = rfc850Date.exec(text);
  if (match !== null) {
    const twoDigits = Number(match[4]);
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + twoDigits;
    if (year > nowYear + 50) year -= 100;
    return instantOf(match[1]!, longDayNames, year, match[3]!, match[2]!, match[5]!, match[6]!, match[7]!);
  }
  match = asctimeDate.exec(text);
  if (match !== null) return instantOf(match[1]!, dayNames, Number(match[7]), match[2]!, match[3]!.trim(), match[4]!, match[5]!, match[6]!);
  return undefined;
}

function instantOf(
  dayName: string,
  names: readonly string[],
  year: number,
  monthName: string,
  dayText: string,
  hourText: string,
  minuteText: string,
  secondText: string,
): number | undefined {
  const month = monthNames.indexOf(monthName);
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  // 60 is a leap second (RFC 5322 allows it); Date cannot hold one, so it reads as 59.
  const second = Math.min(Number(secondText), 59);
  if (month < 0 || hour > 23 || minute > 59 || Number(secondText) > 60) return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, second);
  const date = new Date(ms);
  // Date.UTC rolls 31 Feb over into March: a date that does not round-trip does not exist.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  if (names[date.getUTCDay()] !== dayName) return undefined;
  return ms;
}

/**
 * Whether a Range may be honoured under `If-Range` (RFC 7233 §3.2): true
 * without the header; with an entity tag, when it strongly matches; with an
 * HTTP-date, when it equals Last-Modified (at whole seconds). Anything else,
 * an unparseable value included, sends the whole object: a partial reply
 * from a changed object would corrupt the client's resumed copy.
 */
export function ifRangeHolds(object: Validators, value: string | undefined, nowMs: number): boolean {
  if (value === undefined) return true;
  const text = value.trim();
  if (text.startsWith('"') || text.startsWith("W/")) {
    const tags = parseEntityTagList(text);
    return tags !== "*" && tags.length === 1 && !tags[0]!.weak && tags[0]!.opaque === object.etag;
  }
  const dateMs = parseHttpDateMs(text, nowMs);
  return dateMs !== undefined && Math.floor(dateMs / 1000) === Math.floor(object.lastModifiedMs / 1000);
}

/**
 * GET/HEAD's preconditions: "proceed" or "not-modified" (the caller answers
 * 304); a failed one throws 412 PreconditionFailed naming the condition.
 */
export function checkReadPreconditions(object: Validators, headers: ReadonlyMap<string, string>, nowMs: number): "proceed" | "not-modified" {
  const outcome = evaluatePreconditions(object, readPreconditionsFrom(headers), nowMs);
  switch (outcome.kind) {
    case "proceed":
      return "proceed";
    case "not-modified":
      return "not-modified";
    case "failed":
      throw new S3Error("PreconditionFailed", undefined, { Condition: outcome.condition });
  }
}

/** CopyObject's `x-amz-copy-source-if-*` on the source: any condition that does not hold is 412 (a copy has no 304). */
export function checkCopySourcePreconditions(object: Validators, headers: ReadonlyMap<string, string>, nowMs: number): void {
  const outcome = evaluatePreconditions(object, readPreconditionsFrom(headers, "x-amz-copy-source-"), nowMs);
  if (outcome.kind === "proceed") return;
  throw new S3Error("PreconditionFailed", undefined, { Condition: `x-amz-copy-source-${outcome.condition}` });
}

/**
 * A write's condition from `If-None-Match` (only `*`: the router answers
 * 501 for anything else) and `If-Match` (one entity tag, or `*`), or
 * undefined when the request has neither. A weak tag can never match
 * strongly, and a list of tags is not a write condition S3 knows: both are
 * refused here, 412 and 400 InvalidArgument.
 */
export function writeConditionFrom(headers: ReadonlyMap<string, string>): WriteCondition | undefined {
  const ifNoneMatch = headers.get("if-none-match");
  const ifMatch = headers.get("if-match");
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  const condition: { ifNoneMatch?: "*"; ifMatch?: string } = {};
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== "*") {
      throw new S3Error("NotImplemented", "If-None-Match on a write takes only '*'.", { Header: "If-None-Match" });
    }
    condition.ifNoneMatch = "*";
  }
  if (ifMatch !== undefined) {
    const tags = parseEntityTagList(ifMatch);
    if (tags === "*") {
      condition.ifMatch = "*";
    } else {
      const [tag] = tags;
      if (tag === undefined || tags.length > 1 || tag.opaque === "") {
        throw new S3Error("InvalidArgument", "If-Match on a write takes one ETag.", { ArgumentName: "If-Match", ArgumentValue: ifMatch });
      }
      // No stored ETag is weak or longer than 128 characters (the partition's wire bound): such a tag cannot match.
      if (tag.weak || tag.opaque.length > etagCharactersMax) throw new S3Error("PreconditionFailed", undefined, { Condition: "If-Match" });
      condition.ifMatch = tag.opaque;
    }
  }
  return condition;
}

/** The S3 error for a write its condition refused: 412, or 404 NoSuchKey for If-Match on a key without a current object. */
export function writeRefusalError(refusal: "precondition-failed" | "no-such-key", key: string, condition: WriteCondition): S3Error {
  if (refusal === "no-such-key") return new S3Error("NoSuchKey", undefined, { Key: key });
  return new S3Error("PreconditionFailed", undefined, { Condition: condition.ifMatch !== undefined ? "If-Match" : "If-None-Match" });
}
