/**
 * Builds `wasm-simd-kernel.wasm` from `wasm-simd-kernel.wat` with wabt's
 * wat2wasm (the npm `wabt` package, pinned to an exact version in
 * package.json so the output is reproducible byte for byte).
 *
 *   npm run build:erasure
 *
 * The binary is checked in so that running Cairn needs no build step; a test
 * rebuilds it and fails when the checked-in file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import createWabt from "wabt";

/** Where the WebAssembly text source lives. */
export const kernelSourcePath = fileURLToPath(new URL("./wasm-simd-kernel.wat", import.meta.url));
/** Where the built module lives, next to the source. */
export const kernelBinaryPath = fileURLToPath(new URL("./wasm-simd-kernel.wasm", import.meta.url));

/** Assembles the kernel's WAT source into a wasm binary (SIMD enabled, no debug names). */
export async function buildKernelBinary(source: string = readFileSync(kernelSourcePath, "utf8")): Promise<Uint8Array> {
  const wabt = await createWabt();
  const module = wabt.parseWat("wasm-simd-kernel.wat", source, { simd: true });
  try {
    module.validate();
    return module.toBinary({ write_debug_names: false }).buffer.slice();
  } finally {
    module.destroy();
  }
}

if (import.meta.main) {
  const binary = await buildKernelBinary();
  writeFileSync(kernelBinaryPath, binary);
  console.log(`wrote ${kernelBinaryPath} (${binary.length} bytes)`);
}
