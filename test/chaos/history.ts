/**
 * The chaos suite's history: what each client asked of one S3 key, when it
 * asked, when (and whether) it heard back, and what it heard. The checkers in
 * this folder read nothing else, so a history recorded against the real fleet
 * and one made up by hand in a test are checked the same way.
 *
 * Times are monotonic numbers from one clock for the whole run (the driver's
 * `clock.monotonicMs()`); only their order matters. An operation whose
 * outcome the client could not learn (a timeout, a dropped connection, a 5xx
 * after which the write may or may not have happened) has `returnMs:
 * Infinity`: it is pending forever, so it may take effect at any point after
 * its call, or never, as Porcupine treats such operations.
 *
 * Values are ids: the workload writes unique bytes per PUT and names what a
 * GET returned by the hash of its bytes, so a register holds either nothing
 * ("absent") or one value id.
 *
 * Stored form (JSON lines, format version 1). Line 1 is the header, every
 * further line one operation:
 *
 * | line      | field        | type                                  | meaning |
 * |-----------|--------------|---------------------------------------|---------|
 * | header    | `format`     | `"cairn-chaos-history"`               | what the file is |
 * | header    | `version`    | integer, `1`                          | format version; readers accept every version ever written |
 * | operation | `key`        | string                                | the S3 key (bucket-qualified if the run uses several buckets) |
 * | operation | `clientId`   | integer ≥ 0                           | the workload client that issued it |
 * | operation | `callMs`     | finite number                         | when the request was sent |
 * | operation | `returnMs`   | number, or `null` for ∞               | when the answer arrived; `null` exactly when the outcome is `unknown` |
 * | operation | `kind`       | `"put"` \| `"get"` \| `"delete"`      | the S3 call |
 * | put       | `valueId`    | string                                | id of the bytes written; unique among the key's puts |
 * | put       | `ifNoneMatch`| boolean                               | sent with `If-None-Match: *` (create only if absent) |
 * | put       | `outcome`    | `ok` \| `precondition-failed` \| `failed` \| `unknown` | 200; 412 (only with `ifNoneMatch`); a definite refusal such as 400 (did not happen); no answer or a 5xx |
 * | get       | `outcome`    | `found` \| `absent` \| `failed`       | 200; 404 NoSuchKey; any failure (a failed read changes nothing and is ignored) |
 * | get       | `valueId`    | string or `null`                      | the id of the bytes read; non-null exactly when `found` |
 * | delete    | `outcome`    | `ok` \| `failed` \| `unknown`         | 204; a definite refusal (did not happen); no answer or a 5xx |
 */
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { assert } from "../../runtime/index.ts";

/** The version `encodeHistory` writes. */
export const historyFormatVersion = 1;
const historyFormatName = "cairn-chaos-history";

/** Names the bytes one PUT wrote (unique per PUT). */
export type ValueId = string;

interface OperationTimes {
  readonly key: string;
  readonly clientId: number;
  /** When the request was sent (monotonic). */
  readonly callMs: number;
  /** When the answer arrived (monotonic); `Infinity` exactly when the outcome is `unknown`. */
  readonly returnMs: number;
}

/** An S3 PutObject, optionally conditional on the key being absent (`If-None-Match: *`). */
export interface PutOperation extends OperationTimes {
  readonly kind: "put";
  readonly valueId: ValueId;
  readonly ifNoneMatch: boolean;
  readonly outcome: "ok" | "precondition-failed" | "failed" | "unknown";
}

/** An S3 GetObject: the value read, 404, or a failure that tells nothing. */
export interface GetOperation extends OperationTimes {
  readonly kind: "get";
  readonly outcome: "found" | "absent" | "failed";
  /** Non-null exactly when `outcome` is `found`. */
  readonly valueId: ValueId | null;
}

/** An S3 DeleteObject (unversioned: the key becomes absent; deleting an absent key succeeds). */
export interface DeleteOperation extends OperationTimes {
  readonly kind: "delete";
  readonly outcome: "ok" | "failed" | "unknown";
}

/** One operation on one key. */
export type HistoryOperation = PutOperation | GetOperation | DeleteOperation;

/** A whole run: operations on any number of keys, in any order. */
export type History = readonly HistoryOperation[];

/**
 * The problems that make a history unusable, empty when it is well formed.
 * A malformed history is a bug in whatever recorded it, so the checkers
 * assert on this before they look at anything.
 */
export function historyProblems(history: History): string[] {
  const problems: string[] = [];
  const writers = new Map<string, Map<ValueId, number>>();
  history.forEach((operation, index) => {
    const at = `operation #${index}`;
    if (!Number.isFinite(operation.callMs)) problems.push(`${at}: callMs must be finite, got ${operation.callMs}`);
    if (!(operation.returnMs >= operation.callMs)) problems.push(`${at}: returnMs ${operation.returnMs} is before callMs ${operation.callMs}`);
    if (!Number.isInteger(operation.clientId) || operation.clientId < 0) problems.push(`${at}: clientId must be a non-negative integer`);
    const unknown = operation.kind !== "get" && operation.outcome === "unknown";
    if (unknown !== (operation.returnMs === Infinity)) {
      problems.push(`${at}: returnMs is Infinity exactly when the outcome is unknown (outcome ${operation.outcome}, returnMs ${operation.returnMs})`);
    }
    switch (operation.kind) {
      case "put": {
        if (operation.outcome === "precondition-failed" && !operation.ifNoneMatch) problems.push(`${at}: precondition-failed on an unconditional put`);
        const keyWriters = writers.get(operation.key) ?? new Map<ValueId, number>();
        writers.set(operation.key, keyWriters);
        const earlier = keyWriters.get(operation.valueId);
        if (earlier !== undefined) problems.push(`${at}: value ${JSON.stringify(operation.valueId)} was already put by #${earlier}; value ids must be unique per key`);
        else keyWriters.set(operation.valueId, index);
        break;
      }
      case "get":
        if ((operation.outcome === "found") !== (operation.valueId !== null)) problems.push(`${at}: a get has a valueId exactly when its outcome is found`);
        break;
      case "delete":
        break;
    }
  });
  return problems;
}

/** Throws (an assertion: the recorder is wrong) when `history` is malformed. */
export function assertWellFormedHistory(history: History): void {
  const problems = historyProblems(history);
  assert(problems.length === 0, `malformed history: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ""}`);
}

/** The indices of each key's operations, in history order. */
export function operationIndicesByKey(history: History): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  history.forEach((operation, index) => {
    const indices = byKey.get(operation.key);
    if (indices === undefined) byKey.set(operation.key, [index]);
    else indices.push(index);
  });
  return byKey;
}

/** `[12, 30]`, or `[12, ∞)` for an operation pending forever. */
export function formatInterval(operation: HistoryOperation): string {
  return operation.returnMs === Infinity ? `[${operation.callMs}, ∞)` : `[${operation.callMs}, ${operation.returnMs}]`;
}

/** One line a human can read: `#7 client 2 put "v3" if-none-match [10, 18] → ok`. */
export function describeOperation(operation: HistoryOperation, index: number): string {
  const head = `#${index} client ${operation.clientId}`;
  const interval = formatInterval(operation);
  switch (operation.kind) {
    case "put":
      return `${head} put ${JSON.stringify(operation.valueId)}${operation.ifNoneMatch ? " if-none-match" : ""} ${interval} → ${operation.outcome}`;
    case "get":
      return `${head} get ${interval} → ${operation.outcome === "found" ? JSON.stringify(operation.valueId) : operation.outcome}`;
    case "delete":
      return `${head} delete ${interval} → ${operation.outcome}`;
  }
}

// The stored form. JSON has no Infinity, so a pending operation's returnMs is
// written as null; everything else is the in-memory record as it is.
const Times = {
  key: Type.String(),
  clientId: Type.Integer({ minimum: 0 }),
  callMs: Type.Number(),
  returnMs: Type.Union([Type.Number(), Type.Null()]),
};
const StoredOperation = Type.Union([
  Type.Object({
    ...Times,
    kind: Type.Literal("put"),
    valueId: Type.String(),
    ifNoneMatch: Type.Boolean(),
    outcome: Type.Union([Type.Literal("ok"), Type.Literal("precondition-failed"), Type.Literal("failed"), Type.Literal("unknown")]),
  }),
  Type.Object({
    ...Times,
    kind: Type.Literal("get"),
    outcome: Type.Union([Type.Literal("found"), Type.Literal("absent"), Type.Literal("failed")]),
    valueId: Type.Union([Type.String(), Type.Null()]),
  }),
  Type.Object({
    ...Times,
    kind: Type.Literal("delete"),
    outcome: Type.Union([Type.Literal("ok"), Type.Literal("failed"), Type.Literal("unknown")]),
  }),
]);
type StoredOperation = Static<typeof StoredOperation>;
const StoredHeader = Type.Object({ format: Type.Literal(historyFormatName), version: Type.Integer({ minimum: 1 }) });

/** The history as JSON lines (header first), the form a chaos run leaves on disk. */
export function encodeHistory(history: History): string {
  const lines = [JSON.stringify({ format: historyFormatName, version: historyFormatVersion })];
  for (const operation of history) {
    lines.push(JSON.stringify({ ...operation, returnMs: operation.returnMs === Infinity ? null : operation.returnMs }));
  }
  return `${lines.join("\n")}\n`;
}

/** Reads what `encodeHistory` wrote (any version so far); throws on anything malformed, naming the line. */
export function decodeHistory(text: string): HistoryOperation[] {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  assert(lines.length > 0, "decodeHistory: empty input, expected a header line");
  const header: unknown = JSON.parse(lines[0]!);
  assert(Value.Check(StoredHeader, header), `decodeHistory: line 1 is not a ${historyFormatName} header`);
  assert(header.version <= historyFormatVersion, `decodeHistory: version ${header.version} is newer than this reader (${historyFormatVersion})`);
  const history = lines.slice(1).map((line, offset): HistoryOperation => {
    const stored: unknown = JSON.parse(line);
    assert(Value.Check(StoredOperation, stored), `decodeHistory: line ${offset + 2} is not an operation: ${line.slice(0, 200)}`);
    return fromStored(stored);
  });
  assertWellFormedHistory(history);
  return history;
}

function fromStored(stored: StoredOperation): HistoryOperation {
  const returnMs = stored.returnMs ?? Infinity;
  switch (stored.kind) {
    case "put":
      return { key: stored.key, clientId: stored.clientId, callMs: stored.callMs, returnMs, kind: "put", valueId: stored.valueId, ifNoneMatch: stored.ifNoneMatch, outcome: stored.outcome };
    case "get":
      return { key: stored.key, clientId: stored.clientId, callMs: stored.callMs, returnMs, kind: "get", outcome: stored.outcome, valueId: stored.valueId };
    case "delete":
      return { key: stored.key, clientId: stored.clientId, callMs: stored.callMs, returnMs, kind: "delete", outcome: stored.outcome };
  }
}
