/**
 * What a FoundationDB error code means for `MetaStore.transact`: retry the
 * body through `fdb_transaction_on_error`, or stop with a `MetaStoreError`
 * whose code the caller already handles on LMDB.
 *
 * | code | FDB name                 | outcome                                                        |
 * |------|--------------------------|----------------------------------------------------------------|
 * | 1020 | not_committed            | retry (a conflict); after `attemptsMax` attempts: `Conflict`    |
 * | 1007 | transaction_too_old      | `TooOld`, not retried: LMDB refuses a 5 s-old transaction too   |
 * | 1031 | transaction_timed_out    | `TooOld`: the store's own timeout (cluster slow or unreachable) |
 * | 2101 | transaction_too_large    | `TooLarge`                                                     |
 * | 2102 | key_too_large            | `KeyTooLarge`                                                  |
 * | 2103 | value_too_large          | `ValueTooLarge`                                                |
 * | 1021 | commit_unknown_result    | not retried: `Conflict` with a message saying it may have committed (below) |
 * | 1039 | cluster_version_changed  | as 1021 (FDB's "maybe committed" predicate holds for it too)    |
 * | other retryable (1009 future_version, 1037 process_behind, 1213 tag_throttled, …) | retry, counted as an attempt |
 * | anything else            | `FoundationDbError` (not a MetaStoreError): a bug or a broken setup |
 *
 * commit_unknown_result: the commit may or may not have been applied. FDB's
 * own bindings retry it, which runs the body again over its own effects: an
 * `add` would count twice, and a body that checks "record absent, then
 * write" would report the wrong outcome. Cairn's bodies are not written to be
 * idempotent across a commit that did happen, so the store does not retry:
 * it throws a `MetaStoreError` (code `Conflict`, the only code callers treat
 * as "try again later after re-reading") whose message says the commit may
 * have applied. Every Cairn caller re-reads before acting on a failed write
 * (leases are fenced, PUT COMMITs are idempotent by token at the S3 layer).
 */
import { MetaStoreError } from "./store.ts";

/** FoundationDB error numbers that Cairn reacts to. */
export const fdbErrorCodes = {
  transactionTooOld: 1007,
  futureVersion: 1009,
  notCommitted: 1020,
  commitUnknownResult: 1021,
  transactionCancelled: 1025,
  transactionTimedOut: 1031,
  processBehind: 1037,
  clusterVersionChanged: 1039,
  tagThrottled: 1213,
  transactionTooLarge: 2101,
  keyTooLarge: 2102,
  valueTooLarge: 2103,
} as const;

/** An FDB error that is not one of the MetaStore's operating faults. */
export class FoundationDbError extends Error {
  readonly fdbCode: number;
  constructor(fdbCode: number, description: string, context: string) {
    super(`FoundationDB error ${fdbCode} (${description}) ${context}`);
    this.name = "FoundationDbError";
    this.fdbCode = fdbCode;
  }
}

/** What the library's own predicates say about a code (`fdb_error_predicate`). */
export interface FdbErrorPredicates {
  retryable(code: number): boolean;
  maybeCommitted(code: number): boolean;
}

export type FdbErrorOutcome =
  | { readonly kind: "retry"; readonly conflict: boolean }
  | { readonly kind: "fail"; readonly error: Error };

/**
 * Classifies error `code` seen by a transaction on `attempt` (from 1) of
 * `attemptsMax`. `describe` gives FDB's text for the message.
 */
export function classifyFoundationDbError(
  code: number,
  attempt: number,
  attemptsMax: number,
  predicates: FdbErrorPredicates,
  describe: (code: number) => string,
): FdbErrorOutcome {
  const text = `FoundationDB ${code} (${describe(code)})`;
  switch (code) {
    case fdbErrorCodes.transactionTooOld:
      return fail("TooOld", `${text}: the transaction ran longer than FoundationDB's 5 s limit`);
    case fdbErrorCodes.transactionTimedOut:
      return fail("TooOld", `${text}: the transaction hit the store's timeout (cluster slow or unreachable?)`);
    case fdbErrorCodes.transactionTooLarge:
      return fail("TooLarge", `${text}: split the work across transactions`);
    case fdbErrorCodes.keyTooLarge:
      return fail("KeyTooLarge", text);
    case fdbErrorCodes.valueTooLarge:
      return fail("ValueTooLarge", text);
    default:
      break;
  }
  if (code === fdbErrorCodes.commitUnknownResult || predicates.maybeCommitted(code)) {
    return fail("Conflict", `${text}: the commit may or may not have been applied; not retried (re-read before acting)`);
  }
  const conflict = code === fdbErrorCodes.notCommitted;
  if (conflict || predicates.retryable(code)) {
    if (attempt >= attemptsMax) {
      return fail("Conflict", `transaction failed ${attempt} times, last with ${text}; giving up`);
    }
    return { kind: "retry", conflict };
  }
  return { kind: "fail", error: new FoundationDbError(code, describe(code), "in a MetaStore transaction") };
}

function fail(code: ConstructorParameters<typeof MetaStoreError>[0], message: string): FdbErrorOutcome {
  return { kind: "fail", error: new MetaStoreError(code, message) };
}
