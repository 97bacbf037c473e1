/**
 * Users of the S3 endpoint: who may sign requests, with which secret, and
 * as what role. The root credentials (`credentials.ts`: environment or a file)
 * are always an admin named `root`; every other user is a record in the
 * metadata store, so every gateway of a fleet sees the same users.
 *
 * | kind, version | key | fields |
 * |---|---|---|
 * | credential, 1 | `("c", accessKeyId)` | `name` (unique), `accessKeyId`, `secretAccessKey`, `role` ("admin" / "user"), `createdMs` |
 *
 * The functions here are what `cairn user …` (cli.ts) and, later, the REPL's
 * `user.*` commands call. `UserTable` is the gateway's view: SigV4's secret
 * lookup is synchronous, so the table is held in memory and reread from the
 * store every `refreshIntervalMs` (and at most once more per interval when
 * an unknown key shows up), which bounds how long a new user waits and how
 * long a removed one keeps working.
 *
 * Buckets record their owner by user name (`BucketRecord.owner`), so a user
 * removed and added again under the same name owns its old buckets again,
 * as an IAM user recreated under its name matches the same ARN in policies.
 * A refresh that fails (store unreachable) keeps the previous table and is
 * logged: removals then wait for the store.
 */
import { assert, type AbortableClock } from "../runtime/index.ts";
import { generateCredentials, type RootCredentials } from "./credentials.ts";
import { credentialKey, credentialRange, decodeRecordOf, encodeRecord, type MetaStore } from "./metadata/index.ts";

export type UserRole = "admin" | "user";

export interface UserRecord {
  readonly name: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly role: UserRole;
  readonly createdMs: number;
}

/** What the gateway learns about the signer of a request. */
export interface UserIdentity {
  readonly name: string;
  readonly role: UserRole;
}

const userRecordVersion = 1;
/** Users a store may hold: the whole table is read in one bounded range read. */
export const usersMax = 1_000;
/** The root credentials' user name; no stored user may take it. */
export const rootUserName = "root";
/** IAM's user name alphabet and length. */
const userNamePattern = /^[A-Za-z0-9+=,.@_-]{1,64}$/;

/** Why a name cannot be a user name, or undefined when it can. */
export function invalidUserName(name: string): string | undefined {
  if (!userNamePattern.test(name)) return `user names are 1 to 64 of A-Z a-z 0-9 + = , . @ _ -, got ${JSON.stringify(name)}`;
  if (name === rootUserName) return `"${rootUserName}" is the root credentials' name`;
  return undefined;
}

function encodeUserRecord(record: UserRecord): Uint8Array {
  return encodeRecord("credential", userRecordVersion, { ...record });
}

function decodeUserRecord(bytes: Uint8Array): UserRecord {
  const record = decodeRecordOf("credential", bytes);
  assert(record.version === userRecordVersion, `unknown credential record version ${record.version}`);
  return record.value as UserRecord;
}

/** Every stored user, in access key order (the root user is not stored). */
export async function listUsers(store: MetaStore): Promise<UserRecord[]> {
  return store.transact(async (tx) => {
    const range = credentialRange();
    const pairs = await tx.getRange(range.begin, range.end, { limit: usersMax });
    return pairs.map((pair) => decodeUserRecord(pair.value));
  });
}

export type AddUserOutcome =
  | { readonly kind: "added"; readonly user: UserRecord }
  | { readonly kind: "name-taken" }
  | { readonly kind: "too-many" };

/**
 * Adds user `name` with new credentials from the OS CSPRNG. The name check
 * and the write are one transaction, so two admins adding the same name at
 * once get one user. `name` must pass `invalidUserName`.
 */
export async function addUser(store: MetaStore, input: { name: string; role: UserRole; nowMs: number }): Promise<AddUserOutcome> {
  assert(invalidUserName(input.name) === undefined, `addUser: invalid user name ${JSON.stringify(input.name)}`);
  const credentials = generateCredentials();
  return store.transact(async (tx): Promise<AddUserOutcome> => {
    const range = credentialRange();
    const pairs = await tx.getRange(range.begin, range.end, { limit: usersMax });
    if (pairs.some((pair) => decodeUserRecord(pair.value).name === input.name)) return { kind: "name-taken" };
    if (pairs.length >= usersMax) return { kind: "too-many" };
    const user: UserRecord = { name: input.name, ...credentials, role: input.role, createdMs: input.nowMs };
    tx.set(credentialKey(user.accessKeyId), encodeUserRecord(user));
    return { kind: "added", user };
  });
}

/** Removes user `name`; its key stops working on every gateway within the table's refresh bound. */
export async function removeUser(store: MetaStore, name: string): Promise<"removed" | "not-found"> {
  return store.transact(async (tx) => {
    const range = credentialRange();
    const pairs = await tx.getRange(range.begin, range.end, { limit: usersMax });
    const found = pairs.find((pair) => decodeUserRecord(pair.value).name === name);
    if (found === undefined) return "not-found";
    tx.clear(found.key);
    return "removed";
  });
}

export interface UserTableOptions {
  readonly store: MetaStore;
  readonly root: RootCredentials;
  readonly clock: AbortableClock;
  /** Time between rereads of the store: a new user works, a removed one stops, within about this long. */
  readonly refreshIntervalMs: number;
  readonly log: (entry: Record<string, unknown>) => void;
}

/** Default refresh interval of a gateway's user table. */
export const userTableRefreshMsDefault = 1_000;

/**
 * A gateway's in-memory copy of the users, for SigV4's synchronous secret
 * lookup. `open` reads the store once (so a gateway never serves with an
 * empty table); `start` keeps it fresh; `stop` ends the refresh loop.
 */
export class UserTable {
  readonly #options: UserTableOptions;
  #byAccessKey: ReadonlyMap<string, UserRecord> = new Map();
  #running: Promise<void> | undefined;
  readonly #stopping = new AbortController();
  #wake = new AbortController();
  #lastMissRefreshMs = Number.NEGATIVE_INFINITY;

  private constructor(options: UserTableOptions) {
    assert(options.refreshIntervalMs > 0, "UserTable: refreshIntervalMs must be positive");
    this.#options = options;
  }

  /** Reads the users once and returns the table (not yet refreshing: call `start`). */
  static async open(options: UserTableOptions): Promise<UserTable> {
    const table = new UserTable(options);
    await table.refresh();
    return table;
  }

  /** Rereads the store now. A failed read keeps the previous table (logged) and rethrows. */
  async refresh(): Promise<void> {
    const users = await listUsers(this.#options.store);
    this.#byAccessKey = new Map(users.map((user) => [user.accessKeyId, user]));
  }

  /** The secret of an access key, or undefined; an unknown key asks for an early refresh (at most once per interval). */
  secretOf(accessKeyId: string): string | undefined {
    if (accessKeyId === this.#options.root.accessKeyId) return this.#options.root.secretAccessKey;
    const user = this.#byAccessKey.get(accessKeyId);
    if (user === undefined) this.#refreshSoon();
    return user?.secretAccessKey;
  }

  /** Who an access key belongs to, or undefined for an unknown key. */
  userOf(accessKeyId: string): UserIdentity | undefined {
    if (accessKeyId === this.#options.root.accessKeyId) return { name: rootUserName, role: "admin" };
    const user = this.#byAccessKey.get(accessKeyId);
    return user === undefined ? undefined : { name: user.name, role: user.role };
  }

  /** How many stored users the table holds (the root user not counted). */
  size(): number {
    return this.#byAccessKey.size;
  }

  /** Starts the refresh loop. */
  start(): void {
    assert(this.#running === undefined, "UserTable: started twice");
    this.#running = this.#loop();
  }

  /** Stops the refresh loop and waits for it. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#wake.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    const { clock, refreshIntervalMs, log } = this.#options;
    while (!this.#stopping.signal.aborted) {
      await clock.sleep(refreshIntervalMs, this.#wake.signal);
      if (this.#stopping.signal.aborted) return;
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
      try {
        await this.refresh();
      } catch (error) {
        log({ level: "warn", event: "user-table-refresh-failed", error: String(error) });
      }
    }
  }

  #refreshSoon(): void {
    const nowMs = this.#options.clock.monotonicMs();
    if (this.#running === undefined || nowMs - this.#lastMissRefreshMs < this.#options.refreshIntervalMs) return;
    this.#lastMissRefreshMs = nowMs;
    this.#wake.abort();
  }
}
