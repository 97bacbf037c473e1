import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { buildKernelBinary, kernelBinaryPath } from "./build-wasm-simd-kernel.ts";

test("the checked-in wasm-simd-kernel.wasm is exactly what its .wat source builds to (else run `npm run build:erasure`)", async () => {
  const rebuilt = await buildKernelBinary();
  const checkedIn = new Uint8Array(readFileSync(kernelBinaryPath));
  expect(rebuilt.length).toBeGreaterThan(0);
  expect(Buffer.compare(Buffer.from(rebuilt), Buffer.from(checkedIn)), "wasm-simd-kernel.wasm is stale: run `npm run build:erasure`").toBe(0);
});
