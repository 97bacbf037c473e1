/**
 * Short constructors for hand-written histories in tests: the intervals and
 * outcomes read left to right as they would be drawn on a timeline. An
 * operation whose outcome is unknown is written with `Infinity` as its
 * return, exactly as it is recorded.
 */
import type { DeleteOperation, GetOperation, PutOperation } from "./history.ts";

/** Where an operation happened and who sent it; key "k" and client 0 unless given. */
export interface Placement {
  readonly key?: string;
  readonly clientId?: number;
}

/** An unconditional PutObject. */
export function put(valueId: string, callMs: number, returnMs: number, outcome: PutOperation["outcome"] = "ok", at: Placement = {}): PutOperation {
  return { key: at.key ?? "k", clientId: at.clientId ?? 0, callMs, returnMs, kind: "put", valueId, ifNoneMatch: false, outcome };
}

/** A PutObject with If-None-Match: * ("ok" = it created the key, "precondition-failed" = 412). */
export function putIfAbsent(valueId: string, callMs: number, returnMs: number, outcome: PutOperation["outcome"] = "ok", at: Placement = {}): PutOperation {
  return { ...put(valueId, callMs, returnMs, outcome, at), ifNoneMatch: true };
}

/** A GetObject that read `valueId`, or found the key absent when `valueId` is null. */
export function get(valueId: string | null, callMs: number, returnMs: number, at: Placement = {}): GetOperation {
  return { key: at.key ?? "k", clientId: at.clientId ?? 0, callMs, returnMs, kind: "get", outcome: valueId === null ? "absent" : "found", valueId };
}

/** A GetObject that failed (timeout, 5xx): it tells nothing. */
export function failedGet(callMs: number, returnMs: number, at: Placement = {}): GetOperation {
  return { key: at.key ?? "k", clientId: at.clientId ?? 0, callMs, returnMs, kind: "get", outcome: "failed", valueId: null };
}

/** A DeleteObject. */
export function del(callMs: number, returnMs: number, outcome: DeleteOperation["outcome"] = "ok", at: Placement = {}): DeleteOperation {
  return { key: at.key ?? "k", clientId: at.clientId ?? 0, callMs, returnMs, kind: "delete", outcome };
}
