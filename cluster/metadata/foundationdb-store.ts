/**
 * The fleet MetaStore backend: a FoundationDB cluster through `libfdb_c`
 * (called with `bun:ffi`; see `foundationdb-api.ts` for why and
 * `foundationdb-network.ts` for threads and futures).
 *
 * Thin by design: FoundationDB already provides what the contract asks for
 * (serializable transactions, read-your-writes, ordered range reads, atomic
 * ADD), so this file only maps keys, limits and errors. Every metadata rule
 * lives above `MetaStore` and is tested on LMDB.
 *
 * Stored key = `keyPrefix` tuple-encoded ‖ Cairn key. With `keyPrefix:
 * "cairn"` a Cairn key K is stored as `02 63 61 69 72 6e 00 ‖ K`. A prefix
 * starts with a tuple type byte (0x02), so no stored key ever reaches FDB's
 * system keyspace (0xff…), and several fleets or test runs can share one
 * cluster under different prefixes.
 *
 * Limits: the checks of `metaLimits` apply to Cairn's key and value, before
 * the prefix, exactly as on LMDB. FDB counts the prefix in its 10,000-byte
 * key limit, so the client's `key_size_limit` knob is raised by
 * `keyPrefixBytesMax`; FDB's own 10 MB transaction limit also counts the
 * prefixes and conflict ranges, so a transaction just under Cairn's limit can
 * still fail with `TooLarge` here (callers split work well below it anyway).
 */
import type { Pointer } from "bun:ffi";
import { pack } from "fdb-tuple";
import { copyBytes, fdbNumbers, foundationDbApiVersionDefault, foundationDbLibraryPath, readKeyValueArray } from "./foundationdb-api.ts";
import { classifyFoundationDbError, FoundationDbError } from "./foundationdb-errors.ts";
import { cString, foundationDbClient, type FoundationDbClient } from "./foundationdb-network.ts";
import { compareBytes } from "./bytes.ts";
import { transactAttemptsMaxDefault } from "./lmdb-store.ts";
import type { KeyValue, MetaStore, MetaTransaction, RangeOptions, TransactOptions } from "./store.ts";
import { MetaStoreError, metaLimits } from "./store.ts";
import { assert } from "../../runtime/index.ts";

export { stopFoundationDbNetwork } from "./foundationdb-network.ts";

export interface FoundationDbStoreOptions {
  /** Path of the cluster file (`fdb.cluster`) naming the cluster's coordinators. */
  readonly clusterFile: string;
  /** Every key of this store lives under this string, tuple-encoded (e.g. "cairn" or "cairn/fleet-a"). */
  readonly keyPrefix: string;
  /** FoundationDB API version to select; default 730. One version per process. */
  readonly apiVersion?: number;
  /** Path of `libfdb_c.so`; default `FDB_LIBRARY_PATH`, else /usr/lib/libfdb_c.so. */
  readonly libraryPath?: string;
  /**
   * Bound on one `transact` call, retries included (FDB's transaction timeout
   * option; past it every pending read or commit fails with 1031, reported as
   * `TooOld`). Default twice FDB's 5 s transaction limit.
   */
  readonly timeoutMs?: number;
}

/** The longest encoded `keyPrefix` accepted, in bytes. */
export const keyPrefixBytesMax = 256;

/** Default bound on one `transact` call, retries included. */
export const foundationDbTimeoutMsDefault = 2 * metaLimits.transactionMsMax;

/** The client knob that lets a Cairn key of `keyBytesMax` plus its prefix through FDB's key-size check. */
export function foundationDbKnobs(): string[] {
  return [`key_size_limit=${metaLimits.keyBytesMax + keyPrefixBytesMax}`];
}

/** The bytes every stored key starts with: `(keyPrefix,)` in the tuple encoding. */
export function encodeKeyPrefix(keyPrefix: string): Uint8Array {
  if (keyPrefix === "") throw new Error("keyPrefix must not be empty: the store's keys need a subspace of their own");
  const encoded = new Uint8Array(pack([keyPrefix]));
  if (encoded.length > keyPrefixBytesMax) {
    throw new Error(`keyPrefix encodes to ${encoded.length} bytes; at most ${keyPrefixBytesMax} are allowed`);
  }
  return encoded;
}

/** `prefix ‖ key`. */
export function prefixKey(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix);
  out.set(key, prefix.length);
  return out;
}

/** The Cairn key of a stored key (which must start with `prefix`). */
export function unprefixKey(prefix: Uint8Array, stored: Uint8Array): Uint8Array {
  assert(stored.length >= prefix.length, "a stored key is shorter than the store's prefix");
  for (let index = 0; index < prefix.length; index++) {
    assert(stored[index] === prefix[index], "a key read from FoundationDB lies outside the store's prefix");
  }
  return stored.subarray(prefix.length);
}

/** FDB's ADD operand for `delta`: 8 bytes, two's complement, little-endian. */
export function addOperand(delta: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt.asIntN(64, delta), true);
  return out;
}

/** Opens a FoundationDB cluster as a MetaStore (starting the client's network on first use). */
export async function openFoundationDbStore(options: FoundationDbStoreOptions): Promise<MetaStore> {
  const prefix = encodeKeyPrefix(options.keyPrefix);
  const timeoutMs = options.timeoutMs ?? foundationDbTimeoutMsDefault;
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= 0x7fff_ffff)) {
    throw new Error(`timeoutMs must be a positive 32-bit integer, got ${timeoutMs}`);
  }
  if (options.clusterFile === "") throw new Error("clusterFile must name a cluster file");
  const client = foundationDbClient({
    libraryPath: foundationDbLibraryPath(options.libraryPath, process.env),
    apiVersion: options.apiVersion ?? foundationDbApiVersionDefault,
    knobs: foundationDbKnobs(),
  });
  const out = new BigUint64Array(1);
  const code = client.library.fdb_create_database(cString(options.clusterFile), out);
  if (code !== 0) {
    throw new FoundationDbError(code, client.describe(code), `opening the cluster file ${options.clusterFile}`);
  }
  return new FoundationDbStore(client, pointerOf(out[0] as bigint), prefix, timeoutMs);
}

function pointerOf(address: bigint): Pointer {
  assert(address !== 0n, "libfdb_c returned a null handle without an error");
  return Number(address) as Pointer;
}

/** An error of one FDB future inside a transaction; `transact` turns it into a retry or a MetaStoreError. */
class TransactionFailure extends Error {
  readonly fdbCode: number;
  readonly transaction: Pointer;
  constructor(fdbCode: number, transaction: Pointer, description: string) {
    super(`FoundationDB ${fdbCode} (${description}) inside a transaction`);
    this.name = "TransactionFailure";
    this.fdbCode = fdbCode;
    this.transaction = transaction;
  }
}

class FoundationDbStore implements MetaStore {
  readonly #client: FoundationDbClient;
  readonly #database: Pointer;
  readonly #prefix: Uint8Array;
  readonly #timeoutOption: Uint8Array;
  #closed = false;

  constructor(client: FoundationDbClient, database: Pointer, prefix: Uint8Array, timeoutMs: number) {
    this.#client = client;
    this.#database = database;
    this.#prefix = prefix;
    this.#timeoutOption = new Uint8Array(8);
    new DataView(this.#timeoutOption.buffer).setBigInt64(0, BigInt(timeoutMs), true);
  }

  async transact<T>(body: (tx: MetaTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    const attemptsMax = options?.attemptsMax ?? transactAttemptsMaxDefault;
    if (!(Number.isInteger(attemptsMax) && attemptsMax >= 1)) {
      throw new Error(`transact: attemptsMax must be a positive integer, got ${attemptsMax}`);
    }
    this.#checkOpen();
    const library = this.#client.library;
    const out = new BigUint64Array(1);
    const created = library.fdb_database_create_transaction(this.#database, out);
    if (created !== 0) throw new FoundationDbError(created, this.#client.describe(created), "creating a transaction");
    const handle = pointerOf(out[0] as bigint);
    try {
      // From API 610 on the timeout runs from the transaction's creation and
      // survives on_error, so it bounds the whole call, retries included.
      const optionCode = library.fdb_transaction_set_option(
        handle,
        fdbNumbers.transactionOptionTimeout,
        this.#timeoutOption,
        this.#timeoutOption.length,
      );
      if (optionCode !== 0) throw new FoundationDbError(optionCode, this.#client.describe(optionCode), "setting the timeout");
      for (let attempt = 1; ; attempt++) {
        this.#checkOpen();
        const tx = new FoundationDbTransaction(this.#client, handle, this.#prefix, () => this.#checkOpen());
        let failed: TransactionFailure;
        try {
          const result = await body(tx);
          tx.finish();
          this.#checkOpen();
          // A read-only transaction is serializable at its read version: nothing to commit.
          if (tx.hasWrites()) await waitFor(this.#client, handle, library.fdb_transaction_commit(handle), () => undefined);
          return result;
        } catch (error) {
          tx.finish();
          if (!(error instanceof TransactionFailure && error.transaction === handle)) throw error;
          failed = error;
        }
        const outcome = classifyFoundationDbError(
          failed.fdbCode,
          attempt,
          attemptsMax,
          { retryable: (code) => this.#client.isRetryable(code), maybeCommitted: (code) => this.#client.isMaybeCommitted(code) },
          (code) => this.#client.describe(code),
        );
        if (outcome.kind === "fail") throw outcome.error;
        // on_error backs off (FDB's jittered exponential delay) and resets the
        // transaction; it fails only when the error is not retryable after all.
        try {
          await waitFor(this.#client, handle, library.fdb_transaction_on_error(handle, failed.fdbCode), () => undefined);
        } catch (error) {
          if (!(error instanceof TransactionFailure)) throw error;
          const final = classifyFoundationDbError(
            error.fdbCode,
            attemptsMax,
            attemptsMax,
            { retryable: () => false, maybeCommitted: (code) => this.#client.isMaybeCommitted(code) },
            (code) => this.#client.describe(code),
          );
          assert(final.kind === "fail", "a non-retryable error classified as retry");
          throw final.error;
        }
      }
    } finally {
      library.fdb_transaction_destroy(handle);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Commits resolve only once durable, so nothing is left to flush. A
    // transaction still running keeps its own reference inside libfdb_c and
    // fails with Closed at its next operation.
    this.#client.library.fdb_database_destroy(this.#database);
  }

  #checkOpen(): void {
    if (this.#closed) throw new MetaStoreError("Closed", "the metadata store is closed");
  }
}

/** Waits for `future`, reads it with `read` if it succeeded, and always destroys it. */
async function waitFor<T>(
  client: FoundationDbClient,
  transaction: Pointer,
  returned: Pointer | bigint | null,
  read: (future: Pointer) => T,
): Promise<T> {
  assert(returned !== null && returned !== 0n, "libfdb_c returned a null future");
  // bun:ffi hands back a bigint only for addresses past 2^53, which user-space pointers never are.
  const future = (typeof returned === "bigint" ? Number(returned) : returned) as Pointer;
  try {
    await client.whenReady(future);
    const code = client.library.fdb_future_get_error(future);
    if (code !== 0) throw new TransactionFailure(code, transaction, client.describe(code));
    return read(future);
  } finally {
    client.library.fdb_future_destroy(future);
  }
}

class FoundationDbTransaction implements MetaTransaction {
  readonly #client: FoundationDbClient;
  readonly #handle: Pointer;
  readonly #prefix: Uint8Array;
  readonly #checkOpen: () => void;
  #finished = false;
  #writes = 0;
  #bytesWritten = 0;

  constructor(client: FoundationDbClient, handle: Pointer, prefix: Uint8Array, checkOpen: () => void) {
    this.#client = client;
    this.#handle = handle;
    this.#prefix = prefix;
    this.#checkOpen = checkOpen;
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#checkUsable();
    const stored = prefixKey(this.#prefix, key);
    const library = this.#client.library;
    const future = library.fdb_transaction_get(this.#handle, stored, stored.length, 0);
    return waitFor(this.#client, this.#handle, future, (ready) => {
      const present = new Int32Array(1);
      const address = new BigUint64Array(1);
      const length = new Int32Array(1);
      const code = library.fdb_future_get_value(ready, present, address, length);
      if (code !== 0) throw new TransactionFailure(code, this.#handle, this.#client.describe(code));
      return present[0] === 0 ? undefined : copyBytes(Number(address[0]), length[0] as number);
    });
  }

  async getRange(begin: Uint8Array, end: Uint8Array, options: RangeOptions): Promise<KeyValue[]> {
    this.#checkUsable();
    const { limit } = options;
    const reverse = options.reverse === true;
    if (!(Number.isInteger(limit) && limit >= 0)) throw new Error(`getRange: limit must be a non-negative integer, got ${limit}`);
    // FDB reads a limit of 0 as "no limit", and refuses begin > end.
    if (limit === 0 || compareBytes(begin, end) >= 0) return [];
    const library = this.#client.library;
    // Key selectors: begin = firstGreaterOrEqual(begin) and end =
    // firstGreaterOrEqual(end), each (key, orEqual = 0, offset = 1). A batch
    // that stops short continues after its last key: forward from
    // firstGreaterThan(last) = (last, 1, 1), backward up to
    // firstGreaterOrEqual(last) = (last, 0, 1), which excludes it.
    let beginKey = prefixKey(this.#prefix, begin);
    let beginOrEqual = 0;
    let endKey = prefixKey(this.#prefix, end);
    const out: KeyValue[] = [];
    // Each batch returns at least one pair or ends the loop, so it runs at most `limit` times.
    for (let iteration = 1; out.length < limit; iteration++) {
      const future = library.fdb_transaction_get_range(
        this.#handle,
        beginKey,
        beginKey.length,
        beginOrEqual,
        1,
        endKey,
        endKey.length,
        0,
        1,
        limit - out.length,
        0,
        fdbNumbers.streamingModeWantAll,
        iteration,
        0,
        reverse ? 1 : 0,
      );
      const batch = await waitFor(this.#client, this.#handle, future, (ready) => {
        const array = new BigUint64Array(1);
        const count = new Int32Array(1);
        const more = new Int32Array(1);
        const code = library.fdb_future_get_keyvalue_array(ready, array, count, more);
        if (code !== 0) throw new TransactionFailure(code, this.#handle, this.#client.describe(code));
        const pairs = (count[0] as number) === 0 ? [] : readKeyValueArray(Number(array[0]) as Pointer, count[0] as number);
        return { pairs, more: more[0] !== 0 };
      });
      for (const pair of batch.pairs) out.push({ key: unprefixKey(this.#prefix, pair.key), value: pair.value });
      const last = batch.pairs.at(-1);
      if (!batch.more || last === undefined) break;
      if (reverse) {
        endKey = last.key;
      } else {
        beginKey = last.key;
        beginOrEqual = 1;
      }
    }
    assert(out.length <= limit, `getRange returned ${out.length} pairs for a limit of ${limit}`);
    return out;
  }

  async firstKey(begin: Uint8Array, end: Uint8Array): Promise<Uint8Array | undefined> {
    this.#checkUsable();
    if (compareBytes(begin, end) >= 0) return undefined;
    const library = this.#client.library;
    const storedBegin = prefixKey(this.#prefix, begin);
    const storedEnd = prefixKey(this.#prefix, end);
    // firstGreaterOrEqual(begin) = (begin, orEqual = 0, offset = 1). FDB
    // resolves it over the whole database, so the key it names may lie at or
    // past `end`, outside the prefix, or be its end-of-database key (0xff):
    // all of those mean none. Its read conflict range then reaches that key,
    // which the contract allows (more conflicts, never fewer).
    const future = library.fdb_transaction_get_key(this.#handle, storedBegin, storedBegin.length, 0, 1, 0);
    const found = await waitFor(this.#client, this.#handle, future, (ready) => {
      const address = new BigUint64Array(1);
      const length = new Int32Array(1);
      const code = library.fdb_future_get_key(ready, address, length);
      if (code !== 0) throw new TransactionFailure(code, this.#handle, this.#client.describe(code));
      return copyBytes(Number(address[0]), length[0] as number);
    });
    // Between two keys of the prefix's subspace, so it starts with the prefix.
    return compareBytes(found, storedEnd) < 0 ? unprefixKey(this.#prefix, found) : undefined;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.#checkUsable();
    checkKeySize(key);
    if (value.length > metaLimits.valueBytesMax) {
      throw new MetaStoreError("ValueTooLarge", `value of ${value.length} bytes exceeds ${metaLimits.valueBytesMax}`);
    }
    this.#countWrite(key.length + value.length);
    const stored = prefixKey(this.#prefix, key);
    this.#client.library.fdb_transaction_set(this.#handle, stored, stored.length, value, value.length);
  }

  clear(key: Uint8Array): void {
    this.#checkUsable();
    checkKeySize(key);
    this.#countWrite(key.length);
    const stored = prefixKey(this.#prefix, key);
    this.#client.library.fdb_transaction_clear(this.#handle, stored, stored.length);
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    this.#checkUsable();
    // FDB refuses an inverted range (error 2005); the contract makes it a no-op.
    if (compareBytes(begin, end) >= 0) return;
    this.#countWrite(begin.length + end.length);
    const storedBegin = prefixKey(this.#prefix, begin);
    const storedEnd = prefixKey(this.#prefix, end);
    this.#client.library.fdb_transaction_clear_range(this.#handle, storedBegin, storedBegin.length, storedEnd, storedEnd.length);
  }

  add(key: Uint8Array, delta: bigint): void {
    this.#checkUsable();
    checkKeySize(key);
    this.#countWrite(key.length + 8);
    const stored = prefixKey(this.#prefix, key);
    const operand = addOperand(delta);
    this.#client.library.fdb_transaction_atomic_op(this.#handle, stored, stored.length, operand, operand.length, fdbNumbers.mutationTypeAdd);
  }

  hasWrites(): boolean {
    return this.#writes > 0;
  }

  finish(): void {
    this.#finished = true;
  }

  #countWrite(bytes: number): void {
    this.#writes++;
    this.#bytesWritten += bytes;
    if (this.#bytesWritten > metaLimits.transactionBytesMax) {
      throw new MetaStoreError("TooLarge", `transaction writes ${this.#bytesWritten} bytes, more than ${metaLimits.transactionBytesMax}`);
    }
  }

  #checkUsable(): void {
    assert(!this.#finished, "transaction used after its transact() call finished");
    this.#checkOpen();
  }
}

function checkKeySize(key: Uint8Array): void {
  if (key.length > metaLimits.keyBytesMax) {
    throw new MetaStoreError("KeyTooLarge", `key of ${key.length} bytes exceeds ${metaLimits.keyBytesMax}`);
  }
}
