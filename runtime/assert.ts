/**
 * Assertions that stay on in production. A failed assertion means the code is
 * wrong, not that the world misbehaved: hosts stop the actor that threw it
 * instead of restarting it, so a bug is never silently resumed.
 */

/** Thrown by `assert` and `assertNever`; hosts treat it as a bug, never as a transient fault. */
export class AssertionError extends Error {
  override readonly name = "AssertionError";
}

/** Throws an `AssertionError` with `message` when `condition` is falsy. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/**
 * Marks a branch the type checker proves unreachable, e.g. the end of a
 * `switch` over every message kind. Reaching it at run time is a bug.
 */
export function assertNever(value: never, message?: string): never {
  throw new AssertionError(message ?? `unexpected value: ${describe(value)}`);
}

/** True when `error` is a broken invariant rather than an operating failure. */
export function isAssertionError(error: unknown): error is AssertionError {
  return error instanceof AssertionError;
}

function describe(value: unknown): string {
  // The value is unexpected by definition, so stringify defensively: it may be
  // cyclic or huge, and the message is for a human reading a log.
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(value);
  }
}
