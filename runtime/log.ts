/**
 * Structured logs for actors, and the request context that lets one S3
 * request be followed across nodes.
 *
 * One JSON object per line, on stderr (a fleet node's stderr is its log file,
 * `state/run/<id>.log`):
 *
 * | field       | always | holds                                                         |
 * |-------------|--------|---------------------------------------------------------------|
 * | `time`      | yes    | wall-clock time of the actor's clock, ISO 8601 with ms, UTC    |
 * | `level`     | yes    | `debug`, `info`, `warn` or `error`                            |
 * | `node`      | yes    | the node the actor runs on                                    |
 * | `actor`     | yes    | the actor's path (`disks/n1-d0`, `pg/12`, `bp/photos/3`, …)   |
 * | `event`     | yes    | what happened, kebab-case (`shard-appended`, `commit-done`)   |
 * | `requestId` | when   | the `x-amz-request-id` of the S3 request this work serves     |
 * | …           | no     | the call's own fields (keys, sizes, faults); never shard bytes or secrets |
 *
 * A call's fields never replace the fixed ones. `requestId` is there when the
 * work runs for a request: the gateway runs each request inside a request
 * context (`runWithRequestId`), hosts carry the context with every message
 * an actor is sent (across nodes in the transport's envelope), and each
 * message is handled inside the context it was sent in.
 *
 * The level is set once per process at startup (`configureLogging`; nodes
 * read `CAIRN_LOG_LEVEL`, default `info`). Below it a call returns after one
 * comparison: no time is read, nothing is formatted.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Clock } from "./behavior.ts";
import type { ActorRef } from "./ref.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Levels from the most to the least verbose; a logger at level L writes L and everything after it. */
export const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const levelRanks: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The level a process logs at when nothing configures one. */
export const logLevelDefault: LogLevel = "info";

/** Longest request id carried (the gateway's are 16 hex digits); a longer one is a bug or hostile. */
export const requestIdCharsMax = 128;

export interface LoggingConfiguration {
  readonly level: LogLevel;
  /** Receives each formatted line without its newline. Defaults to stderr. */
  readonly write: (line: string) => void;
}

const writeToStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

let configuration: LoggingConfiguration = { level: logLevelDefault, write: writeToStderr };
let rankMin = levelRanks[logLevelDefault];

/**
 * Sets the process's log level (and, for tests, where lines go). Returns the
 * configuration it replaced, so a test can put it back.
 */
export function configureLogging(next: { readonly level: LogLevel; readonly write?: (line: string) => void }): LoggingConfiguration {
  const previous = configuration;
  configuration = { level: next.level, write: next.write ?? writeToStderr };
  rankMin = levelRanks[next.level];
  return previous;
}

/** The level `CAIRN_LOG_LEVEL`-style text names (case-insensitive; unset or empty is the default), or an error naming the choices. */
export function parseLogLevel(text: string | undefined): LogLevel | Error {
  if (text === undefined || text.trim() === "") return logLevelDefault;
  const level = text.trim().toLowerCase();
  return (logLevels as readonly string[]).includes(level) ? (level as LogLevel) : new Error(`log level ${JSON.stringify(text)} is none of ${logLevels.join(", ")}`);
}

/** True when a line at `level` would be written: guard a call whose fields are costly to build. */
export function logEnabled(level: LogLevel): boolean {
  return levelRanks[level] >= rankMin;
}

// The request context. One store per process: a request id is a plain string,
// and `undefined` means "no request" (background work: timers, the Janitor,
// heal), which must be set explicitly so work never inherits a stale id.
const requestContext = new AsyncLocalStorage<string | undefined>();

/** Runs `work` (and every promise, timer and message it starts) in the context of request `requestId`; `undefined` runs it outside any request. */
export function runWithRequestId<T>(requestId: string | undefined, work: () => T): T {
  return requestContext.run(requestId, work);
}

/** The request the current work serves, if any. */
export function currentRequestId(): string | undefined {
  return requestContext.getStore();
}

/** True for a value a request id may be on the wire: a non-empty string of at most `requestIdCharsMax` characters. */
export function isRequestId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= requestIdCharsMax;
}

// Messages that arrived inside a request context, so work that handles them
// later, outside it (a partition's batch of commits, a PG's batch of index
// writes), can still name their request: `actorLog(…, cause)`. Weak, so a
// message forgotten by its actor takes its entry with it.
const messageRequestIds = new WeakMap<object, string>();

/** Remembers that `message` was sent for `requestId` (hosts call it as they accept a message). */
export function noteMessageRequestId(message: unknown, requestId: string | undefined): void {
  if (requestId !== undefined && typeof message === "object" && message !== null) messageRequestIds.set(message, requestId);
}

/** The request `message` was sent for, when it was sent inside one. */
export function requestIdOfMessage(message: unknown): string | undefined {
  return typeof message === "object" && message !== null ? messageRequestIds.get(message) : undefined;
}

/** What `actorLog` needs of an actor's context (any `ActorContext` is one). */
export interface ActorLogContext {
  readonly self: ActorRef<unknown>;
  readonly clock: Pick<Clock, "nowMs">;
}

/**
 * Writes one line for the actor whose context this is, when `level` is
 * enabled. `cause`, when given, is the message the line is about: its
 * request id is used instead of the current context's (for work done in a
 * batch, outside the request that sent the message).
 */
export function actorLog(context: ActorLogContext, level: LogLevel, event: string, fields?: Readonly<Record<string, unknown>>, cause?: object): void {
  if (levelRanks[level] < rankMin) return;
  const line: Record<string, unknown> = {
    time: new Date(context.clock.nowMs()).toISOString(),
    level,
    node: context.self.nodeId,
    actor: context.self.path,
    event,
  };
  const requestId = cause === undefined ? currentRequestId() : requestIdOfMessage(cause);
  if (requestId !== undefined) line["requestId"] = requestId;
  if (fields !== undefined) {
    for (const [name, value] of Object.entries(fields)) if (!(name in line)) line[name] = value;
  }
  configuration.write(formatLine(line));
}

/** JSON, with what JSON cannot hold (a bigint, a cycle) written as text rather than losing the line. */
function formatLine(line: Record<string, unknown>): string {
  try {
    return JSON.stringify(line, (_name, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  } catch (error) {
    return JSON.stringify({ time: line["time"], level: line["level"], node: line["node"], actor: line["actor"], event: line["event"], logError: String(error) });
  }
}
