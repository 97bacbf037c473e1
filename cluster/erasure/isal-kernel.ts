/**
 * The ISA-L kernel: Intel's Intelligent Storage Acceleration Library (the
 * Debian package `libisal2`) through `bun:ffi`. It is optional: where the
 * library or `bun:ffi` is missing, `isalAvailable()` is false and asking for
 * the kernel throws.
 *
 * ISA-L is given our own matrix (`ec_init_tables` on exactly the rows we want)
 * rather than generating its own, so its output is byte-identical to the
 * other kernels'. `ec_encode_data` picks the widest instruction set the CPU
 * has (AVX-512, AVX2, SSE) and handles any length, short ones included.
 */
import type { MatrixKernel, PreparedMultiply } from "./matrix-kernel.ts";

/** The shared library's name as the dynamic loader finds it (Debian: /usr/lib/x86_64-linux-gnu/libisal.so.2). */
export const isalLibraryName = "libisal.so.2";

interface IsalLibrary {
  ecInitTables(columns: number, rows: number, matrix: Uint8Array, tables: Uint8Array): void;
  ecEncodeData(length: number, columns: number, rows: number, tables: Uint8Array, inputs: BigUint64Array, outputs: BigUint64Array): void;
  pointer(bytes: Uint8Array): number;
}

/**
 * Opens `libraryName` with `bun:ffi`; null (with the reason) when it cannot:
 * not under Bun, or the library is not installed.
 */
function openLibrary(libraryName: string): { readonly library: IsalLibrary | null; readonly reason: string } {
  if (typeof Bun === "undefined") return { library: null, reason: "bun:ffi needs Bun" };
  try {
    // Loaded lazily and only under Bun: `bun:ffi` does not exist elsewhere,
    // and a static import would break every importer of this folder there.
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const { symbols } = ffi.dlopen(libraryName, {
      ec_init_tables: { args: ["i32", "i32", "ptr", "ptr"], returns: "void" },
      ec_encode_data: { args: ["i32", "i32", "i32", "ptr", "ptr", "ptr"], returns: "void" },
    });
    const library: IsalLibrary = {
      ecInitTables: (columns, rows, matrix, tables) => symbols.ec_init_tables(columns, rows, matrix, tables),
      ecEncodeData: (length, columns, rows, tables, inputs, outputs) => symbols.ec_encode_data(length, columns, rows, tables, inputs, outputs),
      pointer: (bytes) => ffi.ptr(bytes),
    };
    return { library, reason: "" };
  } catch (error) {
    return { library: null, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** An ISA-L kernel as a kernel plus whether it can run. */
export interface IsalKernel extends MatrixKernel {
  /** Whether the library loaded (libisal2 installed and running under Bun). */
  available(): boolean;
}

/**
 * The kernel on ISA-L's `ec_encode_data`, loading `libraryName` on first use.
 * Tests name a library that does not exist to see the error a machine
 * without libisal2 gets.
 */
export function createIsalKernel(libraryName: string = isalLibraryName): IsalKernel {
  let opened: ReturnType<typeof openLibrary> | undefined;
  const open = (): ReturnType<typeof openLibrary> => (opened ??= openLibrary(libraryName));
  return {
    name: "isal",
    available: () => open().library !== null,
    prepare(matrix: Uint8Array, rows: number, columns: number): PreparedMultiply {
      const { library: isal, reason } = open();
      if (isal === null) {
        throw new Error(`erasure: kernel "isal" is not available: install the Debian package libisal2 (loading ${libraryName} failed: ${reason})`);
      }
      // ISA-L's tables: 32 bytes per coefficient, the same nibble idea as ours.
      const tables = new Uint8Array(Math.max(1, rows * columns * 32));
      if (rows > 0) isal.ecInitTables(columns, rows, matrix.slice(0, rows * columns), tables);
      const inputPointers = new BigUint64Array(columns);
      const outputPointers = new BigUint64Array(Math.max(1, rows));
      return {
        rows,
        columns,
        multiply(inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void {
          // Zero-length views may have no backing store to point at; there is
          // nothing to compute anyway.
          if (rows === 0 || length === 0) return;
          for (let column = 0; column < columns; column += 1) inputPointers[column] = BigInt(isal.pointer(inputs[column]!));
          for (let row = 0; row < rows; row += 1) outputPointers[row] = BigInt(isal.pointer(outputs[row]!));
          // The pointers are taken and used within this synchronous call, while
          // `inputs` and `outputs` keep their buffers alive.
          isal.ecEncodeData(length, columns, rows, tables, inputPointers, outputPointers);
        },
      };
    },
  };
}

/** The process's ISA-L kernel on the system's libisal2. */
export const isalKernel: IsalKernel = createIsalKernel();

/** Whether ISA-L can be used here (libisal2 installed and running under Bun). */
export function isalAvailable(): boolean {
  return isalKernel.available();
}
