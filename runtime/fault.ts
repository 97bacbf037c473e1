/**
 * The closed union of operating faults. A fault is a value, not an exception:
 * it crosses the wire as data and callers switch over `fault`. Broken
 * invariants are not faults; they are bugs and go through `assert`.
 *
 * Error codes exist only where a caller reacts to them (STYLE.md §6); the
 * gateway maps each one to exactly one S3 error in one place.
 */
export type FaultKind =
  | "Timeout"
  | "Unreachable"
  | "Fenced"
  | "Overloaded"
  | "QuorumLost"
  | "Corrupt"
  | "NotFound";

export interface Fault {
  readonly fault: FaultKind;
  /** Human-readable detail for logs; never parsed. */
  readonly detail: string;
}

/** Builds a fault value. */
export function fault(kind: FaultKind, detail: string): Fault {
  return { fault: kind, detail };
}

/** True when `value` is a fault rather than a reply. */
export function isFault(value: unknown): value is Fault {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { fault?: unknown }).fault === "string" &&
    typeof (value as { detail?: unknown }).detail === "string"
  );
}
