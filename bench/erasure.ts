/**
 * Erasure coding throughput, single-threaded, per kernel.
 *
 *   bun run bench/erasure.ts [--seconds S] [--kernels portable,wasm-simd,isal] [--shard-kib N]
 *   npm run bench:erasure -- --seconds 2
 *
 * For each scheme (4+2, 6+3, 8+4, 10+4) and each kernel available here it
 * runs, for --seconds each (default 2):
 *   encode: k data shards of --shard-kib (default 1024, i.e. 1 MiB) → m parity shards;
 *   decode: reconstruct with m data shards missing (the worst case: every
 *           missing shard is data, rebuilt from k surviving shards, parity
 *           among them), including allocating the rebuilt shards.
 * Figures are INPUT bytes per second in MB/s (10^6 bytes): input = k × shard
 * bytes per stripe for both encode and decode, on one core.
 */
import { parseArgs } from "node:util";
import { availableKernels, createErasureCodec, type ErasureKernel } from "../cluster/erasure/index.ts";
import { seededRandom, systemClock } from "../runtime/index.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    kernels: { type: "string" },
    "shard-kib": { type: "string", default: "1024" },
  },
});

const durationMs = Number(values.seconds) * 1000;
const shardBytes = Number(values["shard-kib"]) * 1024;
const kernels = (values.kernels?.split(",") as ErasureKernel[] | undefined) ?? availableKernels();
const schemes = [
  { dataShards: 4, parityShards: 2 },
  { dataShards: 6, parityShards: 3 },
  { dataShards: 8, parityShards: 4 },
  { dataShards: 10, parityShards: 4 },
];
const clock = systemClock();
const seed = 1;
const random = seededRandom(seed);

/** Runs `operation` for the duration after a short warm-up; returns operations per second. */
function measure(operation: () => void): number {
  const warmUpEndMs = clock.monotonicMs() + Math.min(300, durationMs / 4);
  while (clock.monotonicMs() < warmUpEndMs) operation();
  const startMs = clock.monotonicMs();
  let count = 0;
  let elapsedMs = 0;
  do {
    operation();
    count += 1;
    elapsedMs = clock.monotonicMs() - startMs;
  } while (elapsedMs < durationMs);
  return (count * 1000) / elapsedMs;
}

console.log(`erasure coding, single thread, ${shardBytes / 1024} KiB shards, ${values.seconds} s per case; MB/s of input (k × shard bytes), MB = 10^6 bytes`);
console.log(`kernels available here: ${availableKernels().join(", ")}`);
console.log(`${"scheme".padEnd(7)} ${"kernel".padEnd(10)} ${"encode MB/s".padStart(12)} ${"decode MB/s".padStart(12)}`);
for (const scheme of schemes) {
  const { dataShards, parityShards } = scheme;
  const data = Array.from({ length: dataShards }, () => random.bytes(shardBytes));
  const parity = Array.from({ length: parityShards }, () => new Uint8Array(shardBytes));
  const inputBytes = dataShards * shardBytes;
  for (const kernel of kernels) {
    const codec = createErasureCodec(scheme, { kernel });
    const encodePerSecond = measure(() => codec.encode(data, parity));
    const decodePerSecond = measure(() => {
      const shards: (Uint8Array | undefined)[] = [...data, ...parity];
      for (let index = 0; index < parityShards; index += 1) shards[index] = undefined;
      codec.reconstruct(shards);
    });
    const megabytes = (perSecond: number): string => ((perSecond * inputBytes) / 1e6).toFixed(0).padStart(12);
    console.log(`${`${dataShards}+${parityShards}`.padEnd(7)} ${kernel.padEnd(10)} ${megabytes(encodePerSecond)} ${megabytes(decodePerSecond)}`);
  }
}
