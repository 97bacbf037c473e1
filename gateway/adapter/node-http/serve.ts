/**
 * Binds the S3 core to `node:http` (Bun implements it; so does Node).
 *
 * Why a third adapter: Bun 1.4.5's `Bun.serve` drops a handler-set
 * Content-Length on streamed bodies and sends them chunked (Bun issue 10507),
 * and some clients need the length on every GET (s3cmd 2.3 fails with
 * `KeyError: 'content-length'`). Bun's `node:http` server keeps the header
 * while streaming with backpressure, so the one-node server and fleet
 * gateways serve through this adapter; `Bun.serve` (`../bun/`) stays for
 * what it is better at until Bun honours the header.
 *
 * - `req.url` is the request target exactly as sent (no normalisation), cut
 *   into the raw path and query that SigV4 signs.
 * - Request bodies are the request stream read on demand; a client that
 *   closes early surfaces as a stream error (IncompleteBody in the core).
 * - Streamed response bodies are written chunk by chunk, waiting for `drain`:
 *   the backend is read only as fast as the client takes the bytes. A failure
 *   after the headers cuts the connection (a short body, as with S3).
 * - `Expect: 100-continue` is answered by the server before the handler runs.
 * - `stop()` stops accepting connections and resolves once every in-flight
 *   request has been answered in full.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { S3Handler, S3Request, S3Response } from "../../http.ts";
import { splitRawUrl } from "../bun/serve.ts";
import { InFlight } from "../in-flight.ts";

export interface ServeNodeHttpOptions {
  readonly handler: S3Handler;
  readonly hostname: string;
  /** 0 picks a free port; the chosen one is returned. */
  readonly port: number;
  /** Milliseconds a connection may sit idle between requests. Default 60 s. */
  readonly keepAliveTimeoutMs?: number;
}

export interface NodeHttpS3Server {
  readonly port: number;
  /** Stops accepting connections; resolves when in-flight requests have finished. */
  stop(): Promise<void>;
}

const defaultKeepAliveTimeoutMs = 60_000;
const bodylessStatuses = new Set([204, 304]);

/** Starts serving the handler on `hostname:port`. */
export async function serveNodeHttp(options: ServeNodeHttpOptions): Promise<NodeHttpS3Server> {
  const inFlight = new InFlight();
  const server = createServer((request, response) => {
    const done = once(inFlight.begin());
    void serve(options.handler, request, response).then(done, (error: unknown) => {
      // The core never throws; reaching this is a bug in it, but the process must keep serving.
      console.error("cairn gateway: handler threw", error);
      if (!response.headersSent) {
        response.writeHead(500);
        response.end();
      } else {
        response.destroy();
      }
      done();
    });
  });
  // A client that half-closes before its body is complete is a parse error here (the handler sees the body
  // abort and stores nothing): the connection is dropped, as S3 does, rather than answered with a bare 400.
  // Anything else the parser refuses gets a plain 400 and the connection closes.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (error.code === "HPE_INVALID_EOF_STATE" || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
  // Uploads of gigabytes may take longer than Node's default 5-minute request bound; idleness is bounded instead.
  server.requestTimeout = 0;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? defaultKeepAliveTimeoutMs;
  server.headersTimeout = (options.keepAliveTimeoutMs ?? defaultKeepAliveTimeoutMs) + 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("node:http did not report a port");
  return {
    port: address.port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections?.();
      await inFlight.drained();
      server.closeAllConnections?.();
      await closed;
    },
  };
}

async function serve(handler: S3Handler, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const s3Request = toS3Request(request);
  const s3Response = await handler(s3Request);
  await send(s3Request.method, s3Response, response);
}

function toS3Request(request: IncomingMessage): S3Request {
  const { rawPath, rawQuery } = splitRawUrl(request.url ?? "/");
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers.set(name.toLowerCase(), Array.isArray(value) ? value.join(", ") : value);
  }
  return {
    method: (request.method ?? "GET").toUpperCase(),
    rawPath,
    rawQuery,
    headers,
    body: readRequest(request),
    remoteAddress: request.socket.remoteAddress ?? "",
  };
}

/** The request body chunk by chunk, on demand; stopping early discards the rest. */
async function* readRequest(request: IncomingMessage): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    for await (const chunk of request) {
      yield chunk instanceof Uint8Array ? chunk : Buffer.from(chunk as string);
    }
    finished = true;
  } finally {
    // The handler stopped reading (an early error reply): the rest is not wanted.
    if (!finished) request.resume();
  }
}

async function send(method: string, s3Response: S3Response, response: ServerResponse): Promise<void> {
  const body = s3Response.body;
  response.writeHead(s3Response.status, s3Response.headers);
  if (method === "HEAD" || bodylessStatuses.has(s3Response.status) || body === undefined) {
    // HEAD keeps the Content-Length the core set; no body goes out.
    if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) await body[Symbol.asyncIterator]().return?.();
    response.end();
    return;
  }
  if (typeof body === "string" || body instanceof Uint8Array) {
    response.end(body);
    return;
  }
  const iterator = body[Symbol.asyncIterator]();
  let clientGone = false;
  response.once("close", () => {
    clientGone = !response.writableFinished;
  });
  try {
    for (;;) {
      if (clientGone) {
        await iterator.return?.();
        return;
      }
      const next = await iterator.next();
      if (next.done === true) break;
      if (next.value.byteLength === 0) continue;
      if (!response.write(next.value)) await drained(response);
    }
    await new Promise<void>((resolve) => response.end(resolve));
  } catch {
    // Headers are on the wire: cutting the connection is the only way to say the body is short (the core logged why).
    response.destroy();
    await iterator.return?.().catch(() => undefined);
  }
}

/** Resolves when the response can take more, or the connection closed. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      response.off("drain", finish);
      response.off("close", finish);
      resolve();
    };
    response.on("drain", finish);
    response.on("close", finish);
  });
}

function once(run: () => void): () => void {
  let ran = false;
  return () => {
    if (ran) return;
    ran = true;
    run();
  };
}
