/**
 * CopyObject and conditional-write benchmark against a real Cairn server.
 *
 *   bun run bench/copy-object.ts [--size-mib 1024] [--copies 2] [--writers 16] [--rounds 10]
 *
 * Starts its own server on a temporary data directory (STANDARD = 4+2 over
 * six disks). Copy: PUTs one object of --size-mib, copies it --copies times
 * (each a server-side read streamed into a write), GETs the last copy, and
 * prints each step's time and MiB/s and the server's peak RSS after the PUT
 * and after the copies: a copy is streamed, so the peak must not grow with
 * the object. Race: --rounds times, --writers separate SDK clients PUT one
 * new 64 KiB key with If-None-Match: * at once; prints the round time
 * (p50/max) and the outcomes (exactly one 200 per round is checked, not
 * timed). Times are what this machine measured; tests never assert them.
 */
import { CopyObjectCommand, CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { sdkClient } from "../test/support/clients.ts";
import { startServer } from "../test/support/server.ts";

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "1024" },
    copies: { type: "string", default: "2" },
    writers: { type: "string", default: "16" },
    rounds: { type: "string", default: "10" },
  },
});
const sizeBytes = Number(values["size-mib"]) * 1024 * 1024;
const copies = Number(values.copies);
const writers = Number(values.writers);
const rounds = Number(values.rounds);
const mib = 1024 * 1024;

const server = await startServer();
const s3 = sdkClient(server);

/** `sizeBytes` of a repeating 1 MiB pattern, produced as it is sent (never held whole). */
function patternStream(): Readable {
  const chunk = new Uint8Array(mib).map((_, index) => (index * 31 + 7) & 0xff);
  async function* generate(): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < sizeBytes; sent += mib) yield sent + mib <= sizeBytes ? chunk : chunk.subarray(0, sizeBytes - sent);
  }
  return Readable.from(generate());
}

function rate(bytes: number, ms: number): string {
  return `${(bytes / mib / (ms / 1000)).toFixed(1)} MiB/s`;
}

try {
  await s3.send(new CreateBucketCommand({ Bucket: "bench-copy" }));
  let startedMs = performance.now();
  await s3.send(new PutObjectCommand({ Bucket: "bench-copy", Key: "source", Body: patternStream(), ContentLength: sizeBytes }));
  const putMs = performance.now() - startedMs;
  const peakAfterPutBytes = server.peakRssBytes();
  console.log(`PUT   ${values["size-mib"]} MiB  ${putMs.toFixed(0)} ms  ${rate(sizeBytes, putMs)}`);
  for (let copy = 1; copy <= copies; copy += 1) {
    startedMs = performance.now();
    await s3.send(new CopyObjectCommand({ Bucket: "bench-copy", Key: `copy-${copy}`, CopySource: copy === 1 ? "bench-copy/source" : `bench-copy/copy-${copy - 1}` }));
    const copyMs = performance.now() - startedMs;
    console.log(`COPY  ${values["size-mib"]} MiB  ${copyMs.toFixed(0)} ms  ${rate(sizeBytes, copyMs)}`);
  }
  startedMs = performance.now();
  const got = await s3.send(new GetObjectCommand({ Bucket: "bench-copy", Key: `copy-${copies}` }));
  let readBytes = 0;
  for await (const piece of got.Body as AsyncIterable<Uint8Array>) readBytes += piece.byteLength;
  const getMs = performance.now() - startedMs;
  if (readBytes !== sizeBytes) throw new Error(`read ${readBytes} bytes of ${sizeBytes}`);
  console.log(`GET   ${values["size-mib"]} MiB  ${getMs.toFixed(0)} ms  ${rate(sizeBytes, getMs)}`);
  console.log(`server peak RSS: ${(peakAfterPutBytes / mib).toFixed(0)} MiB after the PUT, ${(server.peakRssBytes() / mib).toFixed(0)} MiB after the copies and GET`);

  const clients = Array.from({ length: writers }, () => sdkClient(server));
  const roundMs: number[] = [];
  const statuses = new Map<number, number>();
  const body = new Uint8Array(64 * 1024).fill(7);
  for (let round = 0; round < rounds; round += 1) {
    startedMs = performance.now();
    const outcomes = await Promise.all(
      clients.map(async (client) => {
        try {
          await client.send(new PutObjectCommand({ Bucket: "bench-copy", Key: `race-${round}`, Body: body, IfNoneMatch: "*" }));
          return 200;
        } catch (error) {
          if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode ?? 0;
          throw error;
        }
      }),
    );
    roundMs.push(performance.now() - startedMs);
    for (const status of outcomes) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const winners = outcomes.filter((status) => status === 200).length;
    if (winners !== 1) throw new Error(`round ${round}: ${winners} writers got 200`);
  }
  for (const client of clients) client.destroy();
  roundMs.sort((a, b) => a - b);
  const outcomes = [...statuses].map(([status, count]) => `${status}×${count}`).join(" ");
  console.log(
    `RACE  ${writers} writers × ${rounds} rounds, If-None-Match: *  round p50 ${roundMs[Math.floor(rounds / 2)]!.toFixed(0)} ms  max ${roundMs[rounds - 1]!.toFixed(0)} ms  outcomes ${outcomes}`,
  );
} finally {
  s3.destroy();
  await server.dispose();
}
