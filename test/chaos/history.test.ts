/** The stored history format: a round trip keeps every field (Infinity included), and malformed input is refused by line. */
import { describe, expect, test } from "bun:test";
import { decodeHistory, describeOperation, encodeHistory, historyFormatVersion, historyProblems } from "./history.ts";
import { del, failedGet, get, put, putIfAbsent } from "./operation-builders.ts";

const sample = [
  put("v1", 0, 10.5, "ok", { key: "bucket/a", clientId: 3 }),
  putIfAbsent("v2", 1, 12, "precondition-failed", { key: "bucket/a", clientId: 4 }),
  put("v3", 2, Infinity, "unknown", { key: "bucket/b" }),
  put("v4", 2, 3, "failed", { key: "bucket/b" }),
  get("v1", 20, 30, { key: "bucket/a" }),
  get(null, 20, 30, { key: "bucket/b" }),
  failedGet(20, 50, { key: "bucket/b" }),
  del(40, Infinity, "unknown", { key: "bucket/a" }),
  del(40, 41, "ok", { key: "bucket/b" }),
];

describe("history format", () => {
  test("encode then decode gives the same operations", () => {
    const text = encodeHistory(sample);
    expect(text.split("\n")[0]).toBe(JSON.stringify({ format: "cairn-chaos-history", version: historyFormatVersion }));
    expect(text).toContain('"returnMs":null');
    expect(decodeHistory(text)).toEqual(sample);
    expect(decodeHistory(encodeHistory([]))).toEqual([]);
  });

  test("malformed input is refused, naming the line", () => {
    expect(() => decodeHistory("")).toThrow(/header/);
    expect(() => decodeHistory('{"format":"something-else","version":1}\n')).toThrow(/header/);
    expect(() => decodeHistory('{"format":"cairn-chaos-history","version":99}\n')).toThrow(/newer than this reader/);
    const lines = encodeHistory(sample).trimEnd().split("\n");
    lines[2] = lines[2]!.replace('"kind":"put"', '"kind":"copy"');
    expect(() => decodeHistory(lines.join("\n"))).toThrow(/line 3 is not an operation/);
    // Well-typed but inconsistent: a pending operation that claims to have an answer.
    const pendingOk = encodeHistory([put("v1", 0, 10)]).replace('"returnMs":10', '"returnMs":null');
    expect(() => decodeHistory(pendingOk)).toThrow(/Infinity exactly when the outcome is unknown/);
  });

  test("problems are listed, not thrown, by historyProblems", () => {
    expect(historyProblems(sample)).toEqual([]);
    const problems = historyProblems([put("v1", 0, 10, "precondition-failed"), { ...get("v1", 20, 30), valueId: null }, put("v1", Number.NaN, 5)]);
    expect(problems).toEqual([
      "operation #0: precondition-failed on an unconditional put",
      "operation #1: a get has a valueId exactly when its outcome is found",
      "operation #2: callMs must be finite, got NaN",
      "operation #2: returnMs 5 is before callMs NaN",
      'operation #2: value "v1" was already put by #0; value ids must be unique per key',
    ]);
  });

  test("operations print as one line each", () => {
    expect(sample.map((operation, index) => describeOperation(operation, index))).toEqual([
      '#0 client 3 put "v1" [0, 10.5] → ok',
      '#1 client 4 put "v2" if-none-match [1, 12] → precondition-failed',
      '#2 client 0 put "v3" [2, ∞) → unknown',
      '#3 client 0 put "v4" [2, 3] → failed',
      '#4 client 0 get [20, 30] → "v1"',
      "#5 client 0 get [20, 30] → absent",
      "#6 client 0 get [20, 50] → failed",
      "#7 client 0 delete [40, ∞) → unknown",
      "#8 client 0 delete [40, 41] → ok",
    ]);
  });
});
