/**
 * ISA-L through bun:ffi. On a machine without libisal2 these tests are
 * skipped (and say so); the codec's shared cases in erasure-codec.test.ts also
 * run on this kernel when it is available.
 */
import { describe, expect, test } from "bun:test";
import { createIsalKernel, isalAvailable, isalLibraryName } from "./isal-kernel.ts";
import { encodingMatrix } from "./matrix.ts";

describe("isal kernel", () => {
  test("a missing library gives a clear error on use, not on import", () => {
    const kernel = createIsalKernel("libisal-does-not-exist.so.0");
    expect(kernel.available()).toBe(false);
    expect(() => kernel.prepare(new Uint8Array([1]), 1, 1)).toThrow(/kernel "isal" is not available: install the Debian package libisal2/);
  });

  if (!isalAvailable()) {
    console.log("isal: skipped (libisal2 not installed)");
    test.skip("isal: skipped (libisal2 not installed)", () => {});
    return;
  }

  test("our encoding matrix is ISA-L's own gf_gen_cauchy1_matrix", () => {
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const { symbols, close } = ffi.dlopen(isalLibraryName, {
      gf_gen_cauchy1_matrix: { args: ["ptr", "i32", "i32"], returns: "void" },
    });
    try {
      for (const [dataShards, parityShards] of [[1, 1], [4, 2], [6, 3], [8, 4], [10, 4], [17, 15], [31, 1]] as const) {
        const total = dataShards + parityShards;
        const theirs = new Uint8Array(total * dataShards);
        symbols.gf_gen_cauchy1_matrix(theirs, total, dataShards);
        expect(encodingMatrix(dataShards, parityShards), `${dataShards}+${parityShards}`).toEqual(theirs);
      }
    } finally {
      close();
    }
  });
});
