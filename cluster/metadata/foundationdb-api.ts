/**
 * FoundationDB's C API (`libfdb_c`) as `bun:ffi` sees it: the symbol table,
 * the option and error numbers Cairn uses, the one C struct it reads
 * (`FDBKeyValue`), and loading the library with an error that says what to do.
 *
 * Why FFI: the npm `foundationdb` addon aborts under Bun (it calls libuv's
 * `uv_thread_create`, which Bun does not provide), so Cairn calls the C
 * library directly. Only the functions in `foundationDbSymbols` are bound.
 *
 * Strings passed to C (`const char*`) are NUL-terminated byte buffers, hence
 * "ptr" rather than "cstring" in the argument lists.
 *
 * `FDBKeyValue` (fdb_c.h declares it inside `#pragma pack(push, 4)`, on every
 * platform, so the 8-byte pointers are only 4-byte aligned):
 *
 * | offset | bytes | field          | C type            |
 * |--------|-------|----------------|-------------------|
 * | 0      | 8     | key            | const uint8_t*    |
 * | 8      | 4     | key_length     | int               |
 * | 12     | 8     | value          | const uint8_t*    |
 * | 20     | 4     | value_length   | int               |
 * |        | 24    | (struct size; an array's stride) |   |
 *
 * Without the pack pragma `value` would sit at 16 and the stride would be
 * 32: reading the array with natural alignment returns garbage keys, which
 * is why the offsets are constants checked by a test against a C compiler.
 */
import { dlopen, toArrayBuffer, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";

/** The API version Cairn is written against (FoundationDB 7.3). */
export const foundationDbApiVersionDefault = 730;

/** Where the client library is looked for when neither an option nor `FDB_LIBRARY_PATH` names it. */
export const foundationDbLibraryPathDefault = "/usr/lib/libfdb_c.so";

/** Byte layout of `FDBKeyValue` (see the table above). */
export const keyValueLayout = {
  keyOffset: 0,
  keyLengthOffset: 8,
  valueOffset: 12,
  valueLengthOffset: 20,
  strideBytes: 24,
} as const;

/** Option, mode and predicate numbers from `fdb.options` (stable across API versions). */
export const fdbNumbers = {
  networkOptionKnob: 40,
  transactionOptionTimeout: 500,
  mutationTypeAdd: 2,
  streamingModeWantAll: -2,
  errorPredicateRetryable: 50_000,
  errorPredicateMaybeCommitted: 50_001,
} as const;

/**
 * The C functions Cairn binds, with their C signatures. `fdb_error_t` and
 * `fdb_bool_t` are `int`; options are passed as (bytes, length).
 */
export const foundationDbSymbols = {
  // fdb_error_t fdb_select_api_version_impl(int runtime_version, int header_version)
  fdb_select_api_version_impl: { args: ["i32", "i32"], returns: "i32" },
  // int fdb_get_max_api_version(void)
  fdb_get_max_api_version: { args: [], returns: "i32" },
  // const char* fdb_get_error(fdb_error_t code)
  fdb_get_error: { args: ["i32"], returns: "cstring" },
  // fdb_bool_t fdb_error_predicate(int predicate_test, fdb_error_t code)
  fdb_error_predicate: { args: ["i32", "i32"], returns: "i32" },
  // fdb_error_t fdb_network_set_option(FDBNetworkOption option, uint8_t const* value, int value_length)
  fdb_network_set_option: { args: ["i32", "ptr", "i32"], returns: "i32" },
  // fdb_error_t fdb_setup_network(void)
  fdb_setup_network: { args: [], returns: "i32" },
  // fdb_error_t fdb_run_network(void): blocks until fdb_stop_network; run on its own thread
  fdb_run_network: { args: [], returns: "i32" },
  // fdb_error_t fdb_stop_network(void)
  fdb_stop_network: { args: [], returns: "i32" },
  // fdb_error_t fdb_create_database(const char* cluster_file_path, FDBDatabase** out_database)
  fdb_create_database: { args: ["ptr", "ptr"], returns: "i32" },
  // void fdb_database_destroy(FDBDatabase* d)
  fdb_database_destroy: { args: ["ptr"], returns: "void" },
  // fdb_error_t fdb_database_create_transaction(FDBDatabase* d, FDBTransaction** out_transaction)
  fdb_database_create_transaction: { args: ["ptr", "ptr"], returns: "i32" },
  // void fdb_transaction_destroy(FDBTransaction* tr)
  fdb_transaction_destroy: { args: ["ptr"], returns: "void" },
  // fdb_error_t fdb_transaction_set_option(FDBTransaction* tr, FDBTransactionOption option, uint8_t const* value, int value_length)
  fdb_transaction_set_option: { args: ["ptr", "i32", "ptr", "i32"], returns: "i32" },
  // FDBFuture* fdb_transaction_get(FDBTransaction* tr, uint8_t const* key_name, int key_name_length, fdb_bool_t snapshot)
  fdb_transaction_get: { args: ["ptr", "ptr", "i32", "i32"], returns: "ptr" },
  // FDBFuture* fdb_transaction_get_range(FDBTransaction* tr,
  //   uint8_t const* begin_key_name, int begin_key_name_length, fdb_bool_t begin_or_equal, int begin_offset,
  //   uint8_t const* end_key_name, int end_key_name_length, fdb_bool_t end_or_equal, int end_offset,
  //   int limit, int target_bytes, FDBStreamingMode mode, int iteration, fdb_bool_t snapshot, fdb_bool_t reverse)
  fdb_transaction_get_range: {
    args: ["ptr", "ptr", "i32", "i32", "i32", "ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"],
    returns: "ptr",
  },
  // FDBFuture* fdb_transaction_get_key(FDBTransaction* tr, uint8_t const* key_name, int key_name_length,
  //   fdb_bool_t or_equal, int offset, fdb_bool_t snapshot): resolves a key selector to a key
  fdb_transaction_get_key: { args: ["ptr", "ptr", "i32", "i32", "i32", "i32"], returns: "ptr" },
  // void fdb_transaction_set(FDBTransaction* tr, uint8_t const* key_name, int key_name_length, uint8_t const* value, int value_length)
  fdb_transaction_set: { args: ["ptr", "ptr", "i32", "ptr", "i32"], returns: "void" },
  // void fdb_transaction_clear(FDBTransaction* tr, uint8_t const* key_name, int key_name_length)
  fdb_transaction_clear: { args: ["ptr", "ptr", "i32"], returns: "void" },
  // void fdb_transaction_clear_range(FDBTransaction* tr, uint8_t const* begin_key_name, int begin_key_name_length, uint8_t const* end_key_name, int end_key_name_length)
  fdb_transaction_clear_range: { args: ["ptr", "ptr", "i32", "ptr", "i32"], returns: "void" },
  // void fdb_transaction_atomic_op(FDBTransaction* tr, uint8_t const* key_name, int key_name_length, uint8_t const* param, int param_length, FDBMutationType operation_type)
  fdb_transaction_atomic_op: { args: ["ptr", "ptr", "i32", "ptr", "i32", "i32"], returns: "void" },
  // FDBFuture* fdb_transaction_commit(FDBTransaction* tr)
  fdb_transaction_commit: { args: ["ptr"], returns: "ptr" },
  // FDBFuture* fdb_transaction_on_error(FDBTransaction* tr, fdb_error_t error)
  fdb_transaction_on_error: { args: ["ptr", "i32"], returns: "ptr" },
  // fdb_error_t fdb_future_set_callback(FDBFuture* f, FDBCallback callback, void* callback_parameter)
  fdb_future_set_callback: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  // fdb_error_t fdb_future_get_error(FDBFuture* f)
  fdb_future_get_error: { args: ["ptr"], returns: "i32" },
  // fdb_error_t fdb_future_get_value(FDBFuture* f, fdb_bool_t* out_present, uint8_t const** out_value, int* out_value_length)
  fdb_future_get_value: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  // fdb_error_t fdb_future_get_key(FDBFuture* f, uint8_t const** out_key, int* out_key_length)
  fdb_future_get_key: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  // fdb_error_t fdb_future_get_keyvalue_array(FDBFuture* f, FDBKeyValue const** out_kv, int* out_count, fdb_bool_t* out_more)
  fdb_future_get_keyvalue_array: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  // void fdb_future_destroy(FDBFuture* f)
  fdb_future_destroy: { args: ["ptr"], returns: "void" },
} as const;

/** The C library's functions as callable from TypeScript. */
export type FoundationDbLibrary = ReturnType<typeof dlopen<typeof foundationDbSymbols>>["symbols"];

/** The library path to load: an explicit option first, then `FDB_LIBRARY_PATH`, then the default. */
export function foundationDbLibraryPath(explicit: string | undefined, environment: Readonly<Record<string, string | undefined>>): string {
  if (explicit !== undefined && explicit !== "") return explicit;
  const fromEnvironment = environment.FDB_LIBRARY_PATH;
  if (fromEnvironment !== undefined && fromEnvironment !== "") return fromEnvironment;
  return foundationDbLibraryPathDefault;
}

/**
 * Loads `libfdb_c` from `path` and binds `foundationDbSymbols`. A missing
 * library or one without the expected symbols is a setup problem, so the
 * error names the file and the two ways to fix it.
 */
export function loadFoundationDbLibrary(path: string): FoundationDbLibrary {
  const advice =
    "install the FoundationDB client package (it provides libfdb_c.so) or set FDB_LIBRARY_PATH " +
    "(or the libraryPath option) to the library's full path";
  if (!existsSync(path)) {
    throw new Error(`FoundationDB client library not found at ${path}: ${advice}`);
  }
  try {
    return dlopen(path, foundationDbSymbols).symbols;
  } catch (error) {
    throw new Error(`cannot load the FoundationDB client library ${path} (${String(error)}): ${advice}`);
  }
}

/** One pair read out of an `FDBKeyValue` array, copied out of the future's memory. */
export interface CopiedKeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * Copies `count` pairs out of the `FDBKeyValue` array at `array`. The copies
 * are taken before the future is destroyed, which frees the memory they
 * point into.
 */
export function readKeyValueArray(array: Pointer, count: number): CopiedKeyValue[] {
  if (count === 0) return [];
  const view = new DataView(toArrayBuffer(array, 0, count * keyValueLayout.strideBytes));
  const out: CopiedKeyValue[] = [];
  for (let index = 0; index < count; index++) {
    const base = index * keyValueLayout.strideBytes;
    const keyPointer = Number(view.getBigUint64(base + keyValueLayout.keyOffset, true));
    const keyLength = view.getInt32(base + keyValueLayout.keyLengthOffset, true);
    const valuePointer = Number(view.getBigUint64(base + keyValueLayout.valueOffset, true));
    const valueLength = view.getInt32(base + keyValueLayout.valueLengthOffset, true);
    out.push({ key: copyBytes(keyPointer, keyLength), value: copyBytes(valuePointer, valueLength) });
  }
  return out;
}

/** Copies `length` bytes at `address` (a zero length needs no valid address). */
export function copyBytes(address: number, length: number): Uint8Array {
  if (length === 0) return new Uint8Array(0);
  if (!(length > 0 && address !== 0)) throw new Error(`libfdb_c returned ${length} bytes at address ${address}`);
  return new Uint8Array(toArrayBuffer(address as Pointer, 0, length)).slice();
}
