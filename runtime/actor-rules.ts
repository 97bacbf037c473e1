/**
 * The rules every host applies the same way (nact in production, the
 * simulated host in simulation): what an actor path may be, what a
 * supervision policy must hold, how restarts are counted and backed off, and
 * how a message's kind is read for logs. Kept in one place so the two hosts
 * cannot drift apart.
 */
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { TSchema } from "@sinclair/typebox";
import { assert, isAssertionError } from "./assert.ts";
import type { ActorCrash, SupervisionPolicy } from "./behavior.ts";
import type { Fault } from "./fault.ts";
import { actorRef, type ActorRef } from "./ref.ts";

/** Reply refs live under this path prefix; behaviours may not be spawned there. */
export const replyPathPrefix = "tmp/";

// Segments of letters, digits and `._~:@=+-`, joined by single slashes: safe
// in logs and map keys, and never ambiguous with a leading or doubled slash.
const pathPattern = /^[A-Za-z0-9._~:@=+-]+(?:\/[A-Za-z0-9._~:@=+-]+)*$/;

/** Asserts `path` is a valid actor path outside the reply prefix, and `policy` is well formed. */
export function checkSpawn(path: string, policy: SupervisionPolicy): void {
  assert(typeof path === "string" && pathPattern.test(path), `spawn: invalid actor path ${JSON.stringify(path)}`);
  assert(!path.startsWith(replyPathPrefix), `spawn ${path}: paths under ${replyPathPrefix} are reserved for reply refs`);
  assert(Number.isSafeInteger(policy.restartsMax) && policy.restartsMax >= 0, `spawn ${path}: restartsMax must be an integer >= 0`);
  assert(Number.isFinite(policy.windowMs) && policy.windowMs > 0, `spawn ${path}: windowMs must be positive and finite`);
  assert(Number.isFinite(policy.backoffMsInitial) && policy.backoffMsInitial >= 0, `spawn ${path}: backoffMsInitial must be >= 0`);
  assert(
    Number.isFinite(policy.backoffMsMax) && policy.backoffMsMax >= policy.backoffMsInitial,
    `spawn ${path}: backoffMsMax must be finite and >= backoffMsInitial`,
  );
}

/** The check a host runs on a message from another node for an actor spawned with `wireSchema`. */
export function compileWireCheck(schema: TSchema): (message: unknown) => boolean {
  const compiled = TypeCompiler.Compile(schema);
  return (message) => compiled.Check(message);
}

/** A message's `kind`, for dead-letter logs (never its contents). */
export function messageKind(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const kind = (message as { kind?: unknown }).kind;
  return typeof kind === "string" ? kind : undefined;
}

/** One actor's supervision record: restarts inside the window, and the doubling backoff. */
export class RestartRecord {
  readonly #policy: SupervisionPolicy;
  #restartTimesMs: number[] = [];
  #consecutiveCrashCount = 0;

  constructor(policy: SupervisionPolicy) {
    this.#policy = policy;
  }

  /**
   * What a crash at `nowMs` (monotonic) leads to: an `AssertionError` or a
   * requested stop stops the actor at once; otherwise it restarts unless
   * `restartsMax` restarts already happened inside `windowMs`.
   */
  decide(error: unknown, nowMs: number, stopRequested: boolean): ActorCrash["action"] {
    // A broken invariant means the state cannot be trusted: never resume it.
    if (isAssertionError(error) || stopRequested) return "stopped";
    this.#restartTimesMs = this.#restartTimesMs.filter((timeMs) => nowMs - timeMs < this.#policy.windowMs);
    if (this.#restartTimesMs.length >= this.#policy.restartsMax) return "stopped";
    this.#restartTimesMs.push(nowMs);
    return "restarted";
  }

  /** The delay before the next restart: doubles per consecutive crash, capped. */
  nextBackoffMs(): number {
    const backoffMs = Math.min(this.#policy.backoffMsMax, this.#policy.backoffMsInitial * 2 ** this.#consecutiveCrashCount);
    this.#consecutiveCrashCount += 1;
    return backoffMs;
  }

  /** A message was handled without a crash: the next crash starts from the first backoff again. */
  handled(): void {
    this.#consecutiveCrashCount = 0;
  }
}

/**
 * The reply ref a message carries, if any: by Cairn's protocol convention
 * (STYLE.md §3) a request names its reply address `replyTo`, and `ask`'s
 * reply refs live under `replyPathPrefix`. Only those are answered for a
 * dropped message: a `replyTo` naming an actor (a notification's return
 * address) is left alone, since that actor does not expect a fault there.
 */
export function replyRefOf(message: unknown): ActorRef<Fault> | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const replyTo = (message as { replyTo?: unknown }).replyTo;
  if (typeof replyTo !== "object" || replyTo === null) return undefined;
  const { nodeId, incarnation, path } = replyTo as { nodeId?: unknown; incarnation?: unknown; path?: unknown };
  if (typeof nodeId !== "string" || typeof incarnation !== "number" || typeof path !== "string") return undefined;
  return path.startsWith(replyPathPrefix) ? actorRef<Fault>(nodeId, incarnation, path) : undefined;
}
