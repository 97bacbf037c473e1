/**
 * TEST-ONLY: a gateway in its own process, so the shared adapter cases
 * (`adapter/adapter.case.test.ts`) can drive the Bun adapter and the
 * uWebSockets.js adapter under Node the same way.
 *
 *   bun gateway/testing/gateway-process.ts bun gateway|fixture [event-file]
 *   node <bundle of this file> uws gateway|fixture [event-file]
 *
 * (Node 20 cannot run TypeScript, so the uWS side runs a `bun build
 * --target=node` bundle of this file; the case file builds it.)
 *
 * It serves, on 127.0.0.1 with a free port, either `createS3Handler` over a
 * `MemoryBackend`, or with `fixture` the bare handler of `fixtureHandler`
 * below, for adapter behaviour the S3 core does not exercise on its own.
 * Protocol, one JSON object per line:
 * - stdout (or appended to event-file when given): `{"type":"listening","port"}` once, then `put-started` {key},
 *   `put-settled` {key, stored}, `log` {entry}, and `stats` replies.
 * - stdin: `{"type":"stats"}` → `{"type":"stats","rssBytes","pulledBytes"}`
 *   (`pulledBytes`: response body bytes the adapter has taken from the core so
 *   far, which is what a slow reader must hold back);
 *   `{"type":"release"}` lets the fixture's `/gated` body finish;
 *   `{"type":"stop"}` → stops the server: prints `{"type":"stopping"}` once it
 *   no longer accepts connections, `{"type":"stopped"}` once in-flight
 *   requests have finished, then exits.
 */
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { serveBun } from "../adapter/bun/index.ts";
import { serveUws } from "../adapter/uws/index.ts";
import type { S3Handler, S3Response } from "../http.ts";
import { createS3Handler } from "../s3/index.ts";
import { systemClock } from "../../runtime/index.ts";
import { MemoryBackend } from "./memory-backend.ts";
import { testCredentials, testRegion } from "./test-gateway.ts";

/** Small enough that a multi-MiB GET is many chunks, so backpressure can show. */
const readChunkBytes = 64 * 1024;

/** Where events go: the file named by the third argument, else stdout. */
const eventFile = process.argv[4];

function emit(message: Record<string, unknown>): void {
  const line = `${JSON.stringify(message)}\n`;
  // A file, appended synchronously, because a Bun test parent was seen to stop
  // reading a child's stdout pipe part-way through a file of cases.
  if (eventFile !== undefined) appendFileSync(eventFile, line);
  else process.stdout.write(line);
}

/** Counts response body bytes as the adapter pulls them from the core. */
function countingPulls(handler: S3Handler, counter: { pulledBytes: number }): S3Handler {
  return async (request) => {
    const response = await handler(request);
    const body = response.body;
    if (body === undefined || typeof body === "string" || body instanceof Uint8Array) return response;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        counter.pulledBytes += chunk.byteLength;
        yield chunk;
      }
    }
    return { ...response, body: counted() };
  };
}

/**
 * Bare handlers, by path:
 * - `/echo`: answers the request it saw (method, raw path and query, headers, body, remote address) as JSON.
 * - `/seven`: a streamed body "abcdefg" in chunks (one empty) with Content-Length 7; HEAD: no body, the same length.
 * - `/endless`: a streamed body of 64 KiB chunks that never ends.
 * - `/gated`: Content-Length 12, sends "first;", then "second" once released.
 * - `/throw`: the handler throws (a core bug); every other path answers "fine".
 */
function fixtureHandler(gate: Promise<void>): S3Handler {
  return async (request): Promise<S3Response> => {
    switch (request.rawPath) {
      case "/echo": {
        let body = "";
        for await (const chunk of request.body) body += new TextDecoder().decode(chunk);
        const seen = { ...request, headers: Object.fromEntries(request.headers), body };
        return { status: 200, headers: { "x-test": "yes", "content-type": "application/json" }, body: JSON.stringify(seen) };
      }
      case "/seven": {
        async function* chunks(): AsyncGenerator<Uint8Array> {
          yield new TextEncoder().encode("abc");
          yield new Uint8Array(0);
          yield new TextEncoder().encode("defg");
        }
        if (request.method === "HEAD") return { status: 200, headers: { "content-length": "7" } };
        return { status: 200, headers: { "content-length": "7" }, body: chunks() };
      }
      case "/endless": {
        async function* endless(): AsyncGenerator<Uint8Array> {
          for (;;) yield new Uint8Array(readChunkBytes);
        }
        return { status: 200, headers: {}, body: endless() };
      }
      case "/gated": {
        async function* slow(): AsyncGenerator<Uint8Array> {
          yield new TextEncoder().encode("first;");
          await gate;
          yield new TextEncoder().encode("second");
        }
        return { status: 200, headers: { "content-length": "12" }, body: slow() };
      }
      case "/throw":
        throw new Error("core bug (fixture)");
      default:
        return { status: 200, headers: {}, body: "fine" };
    }
  };
}

async function main(adapter: string | undefined, mode: string | undefined): Promise<void> {
  const clock = systemClock();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const backend = new MemoryBackend({ nowMs: clock.nowMs, readChunkBytes });
  backend.onPutStarted((key) => emit({ type: "put-started", key }));
  backend.onPutSettled((settlement) => emit({ type: "put-settled", key: settlement.key, stored: settlement.stored }));
  let requestCounter = 0;
  const counter = { pulledBytes: 0 };
  const handler = countingPulls(
    mode === "fixture" ? fixtureHandler(gate) : createS3Handler({
      backend,
      lookupSecret: (accessKeyId) => (accessKeyId === testCredentials.accessKeyId ? testCredentials.secretAccessKey : undefined),
      nowMs: clock.nowMs,
      newRequestId: () => {
        requestCounter += 1;
        return `TEST${requestCounter.toString(16).padStart(12, "0").toUpperCase()}`;
      },
      virtualHostDomains: ["localhost"],
      region: testRegion,
      log: (entry) => emit({ type: "log", entry }),
    }),
    counter,
  );
  const options = { handler, hostname: "127.0.0.1", port: 0 };
  let server: { port: number; stop(): Promise<void> };
  if (adapter === "bun") server = await serveBun(options);
  else if (adapter === "uws") server = await serveUws(options);
  else throw new Error(`usage: gateway-process.ts bun|uws (got ${String(adapter)})`);
  emit({ type: "listening", port: server.port, adapter });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const stopped = server.stop();
    // Both adapters close their listening socket synchronously inside stop().
    emit({ type: "stopping" });
    void stopped.then(() => {
      emit({ type: "stopped" });
      // uWS keeps idle keep-alive connections open after its listen socket
      // closes, which would hold the process; every request has finished.
      process.exit(0);
    });
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const command = JSON.parse(line) as { type: string };
    if (command.type === "stats") emit({ type: "stats", rssBytes: process.memoryUsage().rss, pulledBytes: counter.pulledBytes });
    else if (command.type === "release") release();
    else if (command.type === "stop") stop();
  });
  // The parent test is gone (stdin closed): do not linger.
  lines.on("close", stop);
}

await main(process.argv[2], process.argv[3]);
