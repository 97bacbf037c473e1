/**
 * The FoundationDB client's network thread and future completion, one per
 * loaded library per process.
 *
 * libfdb_c does all its work on one "network thread" that the application
 * must provide by calling `fdb_run_network()` (it blocks until
 * `fdb_stop_network()`). Here that call runs on a plain POSIX thread created
 * through libc's `pthread_create` with `fdb_run_network` as the start
 * routine: no JavaScript runs on that thread, so it needs neither a Bun
 * Worker nor libuv. (`fdb_run_network` takes no argument and returns an int
 * in a register, which the x86-64 and AArch64 C conventions make safe to call
 * as `void *(*)(void *)`; its return value is read back by `pthread_join`.)
 *
 * Futures are awaited with `fdb_future_set_callback` and ONE `JSCallback`
 * marked `threadsafe`: libfdb_c calls it on the network thread, Bun queues
 * the call onto the JavaScript thread, and the callback parameter (a small
 * integer, not a real pointer) finds the waiting promise. Polling
 * `fdb_future_is_ready` on a timer was the alternative; it adds up to one
 * polling period of latency to every read and commit and costs a timer per
 * wait, while the callback wakes the waiter as soon as FDB is done. Nothing
 * blocks the JavaScript thread: `fdb_future_block_until_ready` is never used.
 *
 * Bounds: a threadsafe callback does not keep Bun's event loop alive, so
 * while any future is pending a long runtime-clock sleep does (a one-shot
 * script awaiting a commit would otherwise exit early). Every future belongs
 * to a transaction that carries FDB's own timeout option, so every wait ends.
 *
 * The network can be set up once per process and never restarted
 * (FDB error 2025), so `stopFoundationDbNetwork` is for process shutdown only.
 */
import { dlopen, JSCallback, type Pointer } from "bun:ffi";
import { fdbNumbers, loadFoundationDbLibrary, type FoundationDbLibrary } from "./foundationdb-api.ts";
import { FoundationDbError } from "./foundationdb-errors.ts";
import { assert, systemClock } from "../../runtime/index.ts";

/** The loaded library with its network running. */
export interface FoundationDbClient {
  readonly library: FoundationDbLibrary;
  readonly libraryPath: string;
  readonly apiVersion: number;
  /** Resolves once `future` is ready; never rejects (read the future's error). */
  whenReady(future: Pointer): Promise<void>;
  /** FDB's text for an error code. */
  describe(code: number): string;
  /** `fdb_error_predicate(retryable, code)`. */
  isRetryable(code: number): boolean;
  /** `fdb_error_predicate(maybe_committed, code)`. */
  isMaybeCommitted(code: number): boolean;
}

export interface FoundationDbNetworkOptions {
  readonly libraryPath: string;
  readonly apiVersion: number;
  /** `FDB_NET_OPTION_KNOB` settings ("name=value"), applied before the network starts. */
  readonly knobs: readonly string[];
}

// A pending wait is woken by its callback within the transaction's timeout;
// this only keeps the process alive meanwhile, so its length hardly matters.
const keepAliveSliceMs = 60_000;

/** NUL-terminated bytes for a `const char*` argument. */
export function cString(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  assert(!encoded.includes(0), "a C string argument must not contain NUL");
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  return out;
}

interface Posix {
  pthread_create(thread: BigUint64Array, attributes: null, start: Pointer, argument: null): number;
  pthread_join(thread: bigint, result: BigUint64Array): number;
  dlopen(path: Uint8Array, flags: number): Pointer | null;
  dlsym(handle: Pointer, name: Uint8Array): Pointer | null;
}

let posix: Posix | undefined;

function loadPosix(): Posix {
  if (posix !== undefined) return posix;
  const loaded = openPosix();
  posix = loaded;
  return loaded;
}

function openPosix(): Posix {
  if (process.platform !== "linux") {
    throw new Error(`the FoundationDB backend runs fdb_run_network on a pthread via glibc; ${process.platform} is not supported`);
  }
  const libc = dlopen("libc.so.6", {
    pthread_create: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
    pthread_join: { args: ["u64", "ptr"], returns: "i32" },
    dlopen: { args: ["ptr", "i32"], returns: "ptr" },
    dlsym: { args: ["ptr", "ptr"], returns: "ptr" },
  }).symbols;
  return {
    pthread_create: (thread, attributes, start, argument) => libc.pthread_create(thread, attributes, start, argument),
    pthread_join: (thread, result) => libc.pthread_join(thread, result),
    dlopen: (path, flags) => pointerOrNull(libc.dlopen(path, flags)),
    dlsym: (handle, name) => pointerOrNull(libc.dlsym(handle, name)),
  };
}

function pointerOrNull(value: Pointer | bigint | null): Pointer | null {
  if (value === null || value === 0n || value === 0) return null;
  return (typeof value === "bigint" ? Number(value) : value) as Pointer;
}

class NetworkClient implements FoundationDbClient {
  readonly library: FoundationDbLibrary;
  readonly libraryPath: string;
  readonly apiVersion: number;
  readonly #waiters = new Map<number, () => void>();
  #nextWaiterId = 1;
  #keepAlive: AbortController | undefined;
  readonly #callback: JSCallback;
  #thread: bigint | undefined;

  constructor(library: FoundationDbLibrary, libraryPath: string, apiVersion: number) {
    this.library = library;
    this.libraryPath = libraryPath;
    this.apiVersion = apiVersion;
    this.#callback = new JSCallback((_future: Pointer | null, parameter: Pointer | null) => this.#wake(Number(parameter)), {
      args: ["ptr", "ptr"],
      returns: "void",
      threadsafe: true,
    });
  }

  whenReady(future: Pointer): Promise<void> {
    const id = this.#nextWaiterId++;
    // Ids wrap long before 2^53; a live id is never reused because at most a
    // few thousand waits are pending at once.
    if (this.#nextWaiterId > 0x7fff_ffff) this.#nextWaiterId = 1;
    assert(!this.#waiters.has(id), `future waiter id ${id} reused while pending`);
    const ready = new Promise<void>((resolve) => this.#waiters.set(id, resolve));
    this.#holdProcessOpen();
    // Registered before the call: FDB runs the callback at once, on this
    // thread, when the future is already ready.
    const callback = this.#callback.ptr;
    assert(callback !== null, "the future callback was closed");
    const code = this.library.fdb_future_set_callback(future, callback, id as Pointer);
    if (code !== 0) {
      this.#waiters.delete(id);
      this.#releaseProcessIfIdle();
      throw new FoundationDbError(code, this.describe(code), "from fdb_future_set_callback");
    }
    return ready;
  }

  describe(code: number): string {
    return this.library.fdb_get_error(code)?.toString() ?? "unknown error";
  }

  isRetryable(code: number): boolean {
    return this.library.fdb_error_predicate(fdbNumbers.errorPredicateRetryable, code) !== 0;
  }

  isMaybeCommitted(code: number): boolean {
    return this.library.fdb_error_predicate(fdbNumbers.errorPredicateMaybeCommitted, code) !== 0;
  }

  start(knobs: readonly string[]): void {
    const maxApiVersion = this.library.fdb_get_max_api_version();
    if (maxApiVersion < this.apiVersion) {
      throw new Error(
        `${this.libraryPath} supports FoundationDB API versions up to ${maxApiVersion}, not ${this.apiVersion}: ` +
          "install a newer client library or open the store with a lower apiVersion",
      );
    }
    this.#check(this.library.fdb_select_api_version_impl(this.apiVersion, this.apiVersion), "fdb_select_api_version");
    for (const knob of knobs) {
      const value = cString(knob);
      this.#check(this.library.fdb_network_set_option(fdbNumbers.networkOptionKnob, value, value.length - 1), `knob ${knob}`);
    }
    this.#check(this.library.fdb_setup_network(), "fdb_setup_network");
    const libc = loadPosix();
    // The library is already loaded, so dlopen only returns its handle.
    const handle = libc.dlopen(cString(this.libraryPath), 2 /* RTLD_NOW */);
    assert(handle !== null, `dlopen(${this.libraryPath}) failed after bun:ffi loaded it`);
    const runNetwork = libc.dlsym(handle, cString("fdb_run_network"));
    assert(runNetwork !== null, "fdb_run_network not found by dlsym");
    const thread = new BigUint64Array(1);
    const created = libc.pthread_create(thread, null, runNetwork, null);
    if (created !== 0) throw new Error(`pthread_create for the FoundationDB network thread failed (errno ${created})`);
    this.#thread = thread[0] as bigint;
  }

  /** Stops the network thread and waits for it to return. */
  stop(): void {
    if (this.#thread === undefined) return;
    this.#check(this.library.fdb_stop_network(), "fdb_stop_network");
    const result = new BigUint64Array(1);
    loadPosix().pthread_join(this.#thread, result);
    this.#thread = undefined;
    const code = Number((result[0] as bigint) & 0xffff_ffffn);
    if (code !== 0) throw new FoundationDbError(code, this.describe(code), "from fdb_run_network");
  }

  #wake(id: number): void {
    const resolve = this.#waiters.get(id);
    assert(resolve !== undefined, `FoundationDB future callback for unknown waiter ${id}`);
    this.#waiters.delete(id);
    this.#releaseProcessIfIdle();
    resolve();
  }

  #holdProcessOpen(): void {
    if (this.#keepAlive !== undefined) return;
    const controller = new AbortController();
    this.#keepAlive = controller;
    const clock = systemClock();
    void (async () => {
      while (!controller.signal.aborted) await clock.sleep(keepAliveSliceMs, controller.signal);
    })();
  }

  #releaseProcessIfIdle(): void {
    if (this.#waiters.size > 0 || this.#keepAlive === undefined) return;
    this.#keepAlive.abort();
    this.#keepAlive = undefined;
  }

  #check(code: number, context: string): void {
    if (code !== 0) throw new FoundationDbError(code, this.describe(code), `from ${context} (${this.libraryPath})`);
  }
}

const clients = new Map<string, NetworkClient>();
const stopped = new Set<string>();

/**
 * The client for the library at `libraryPath`, loading it and starting its
 * network on first use. A process runs one API version per library: asking
 * for another is refused, as FDB itself would.
 */
export function foundationDbClient(options: FoundationDbNetworkOptions): FoundationDbClient {
  const existing = clients.get(options.libraryPath);
  if (existing !== undefined) {
    if (existing.apiVersion !== options.apiVersion) {
      throw new Error(
        `FoundationDB API version ${existing.apiVersion} is already selected in this process for ${options.libraryPath}; ` +
          `it cannot change to ${options.apiVersion}`,
      );
    }
    return existing;
  }
  if (stopped.has(options.libraryPath)) {
    throw new Error(`the FoundationDB network for ${options.libraryPath} was stopped; it cannot be restarted in this process`);
  }
  const client = new NetworkClient(loadFoundationDbLibrary(options.libraryPath), options.libraryPath, options.apiVersion);
  client.start(options.knobs);
  clients.set(options.libraryPath, client);
  return client;
}

/**
 * Stops every FoundationDB network thread this process started and waits for
 * each to finish. Call it once at process shutdown, after closing every
 * store: FDB asks that `fdb_run_network` return before the process exits,
 * and a stopped network cannot be started again.
 */
export function stopFoundationDbNetwork(): void {
  for (const [path, client] of clients) {
    clients.delete(path);
    stopped.add(path);
    client.stop();
  }
}
