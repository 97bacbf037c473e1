/**
 * Binds the S3 core to `Bun.serve`.
 *
 * - The raw path and query are cut out of `req.url` as they are, never
 *   re-encoded: SigV4 signs the path the client sent. (Bun itself resolves
 *   `.`/`..` segments and percent-encodes raw non-ASCII before we see the URL;
 *   see this folder's README.)
 * - Request bodies are the request's ReadableStream, read on demand, so a
 *   large upload never sits in memory; a client that closes early surfaces as
 *   a stream error, which the core turns into IncompleteBody.
 * - Streamed response bodies become pull-based ReadableStreams: the backend
 *   is read only as fast as the client drains the socket.
 * - `stop()` stops accepting connections and resolves once every in-flight
 *   request has been answered in full.
 */
import { assert, isAssertionError } from "../../../runtime/index.ts";
import type { S3Handler, S3Request, S3Response } from "../../http.ts";
import { InFlight } from "../in-flight.ts";

export interface ServeBunOptions {
  readonly handler: S3Handler;
  readonly hostname: string;
  /** 0 picks a free port; the chosen one is returned. */
  readonly port: number;
  /** Largest request body accepted by Bun, framing included. Default: 5 GiB + 128 MiB. */
  readonly maxRequestBodyBytes?: number;
  /** Seconds a connection may sit idle before Bun closes it (Bun caps this at 255). Default 60. */
  readonly idleTimeoutSeconds?: number;
  /**
   * Streamed responses with a Content-Length up to this size are collected
   * and sent whole so that the header survives (see `toResponse`). Default 1 MiB.
   */
  readonly bufferedResponseBytesMax?: number;
}

export interface BunS3Server {
  readonly port: number;
  /** Stops accepting connections; resolves when in-flight requests have finished. */
  stop(): Promise<void>;
}

/**
 * A 5 GiB object plus its aws-chunked framing: with the smallest chunk S3
 * allows (8 KiB) each chunk adds under 100 bytes of signature and CRLFs, so
 * the framing of a 5 GiB body stays below 64 MiB; 128 MiB leaves room for trailers.
 */
export const defaultMaxRequestBodyBytes = 5 * 1024 * 1024 * 1024 + 128 * 1024 * 1024;

const defaultIdleTimeoutSeconds = 60;

/** Default for `bufferedResponseBytesMax`: small enough to keep per-request memory bounded. */
export const defaultBufferedResponseBytesMax = 1024 * 1024;

/** Starts serving the handler on `hostname:port`. */
export async function serveBun(options: ServeBunOptions): Promise<BunS3Server> {
  const inFlight = new InFlight();
  const bufferedResponseBytesMax = options.bufferedResponseBytesMax ?? defaultBufferedResponseBytesMax;
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    maxRequestBodySize: options.maxRequestBodyBytes ?? defaultMaxRequestBodyBytes,
    idleTimeout: options.idleTimeoutSeconds ?? defaultIdleTimeoutSeconds,
    async fetch(request, bunServer) {
      const done = inFlight.begin();
      try {
        const s3Request = toS3Request(request, bunServer.requestIP(request)?.address ?? "");
        const s3Response = await options.handler(s3Request);
        return await toResponse(s3Request.method, s3Response, done, bufferedResponseBytesMax);
      } catch (error) {
        // The core never throws; reaching this is a bug in it, but the
        // process must keep serving, so answer 500 without an S3 body.
        done();
        console.error("cairn gateway: handler threw", error);
        return new Response(null, { status: 500 });
      }
    },
  });
  const port = server.port;
  if (port === undefined) throw new Error("Bun.serve did not report a port");
  return {
    port,
    async stop() {
      const closed = server.stop(false);
      await inFlight.drained();
      await closed;
    },
  };
}


/** Splits `req.url` into the path and query exactly as they appear in it. */
export function splitRawUrl(url: string): { rawPath: string; rawQuery: string } {
  const scheme = url.indexOf("://");
  const pathStart = scheme < 0 ? url.indexOf("/") : url.indexOf("/", scheme + 3);
  const pathAndQuery = pathStart < 0 ? "/" : url.slice(pathStart);
  const hash = pathAndQuery.indexOf("#");
  const withoutFragment = hash < 0 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const question = withoutFragment.indexOf("?");
  if (question < 0) return { rawPath: withoutFragment, rawQuery: "" };
  return { rawPath: withoutFragment.slice(0, question), rawQuery: withoutFragment.slice(question + 1) };
}

function toS3Request(request: Request, remoteAddress: string): S3Request {
  const { rawPath, rawQuery } = splitRawUrl(request.url);
  const headers = new Map<string, string>();
  // Headers iterates with lower-case names and repeated values already joined.
  for (const [name, value] of request.headers) headers.set(name.toLowerCase(), value);
  const body = request.body === null ? emptyBody() : readStream(request.body);
  return { method: request.method.toUpperCase(), rawPath, rawQuery, headers, body, remoteAddress };
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** Reads a ReadableStream chunk by chunk, on demand; stopping early cancels the rest. */
async function* readStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

const bodylessStatuses = new Set([204, 304]);

/**
 * Bun 1.4.5 drops a handler-set Content-Length when the body is a stream that
 * does not finish at once and falls back to chunked encoding (Bun issue
 * 10507). Small streamed bodies are therefore collected (bounded by
 * `bufferedResponseBytesMax`) and sent whole; larger ones go out chunked,
 * without Content-Length, until Bun honours the header.
 */
async function toResponse(method: string, response: S3Response, done: () => void, bufferedResponseBytesMax: number): Promise<Response> {
  const headers = new Headers(response.headers);
  const body = response.body;
  if (method === "HEAD" || bodylessStatuses.has(response.status) || body === undefined) {
    // HEAD keeps the Content-Length the core set; Bun sends no body for it.
    if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) void drainQuietly(body);
    done();
    return new Response(null, { status: response.status, headers });
  }
  if (typeof body === "string" || body instanceof Uint8Array) {
    done();
    return new Response(body, { status: response.status, headers });
  }
  const declaredBytes = Number(response.headers["content-length"] ?? Number.NaN);
  if (Number.isSafeInteger(declaredBytes) && declaredBytes >= 0 && declaredBytes <= bufferedResponseBytesMax) {
    try {
      const collected = await collect(body, declaredBytes);
      return new Response(collected, { status: response.status, headers });
    } catch (error) {
      if (isAssertionError(error)) throw error;
      // The source failed before anything was sent (the core has logged
      // why); a bare 500 lets clients retry, as they would after a cut.
      return new Response(null, { status: 500, headers: { "x-amz-request-id": response.headers["x-amz-request-id"] ?? "" } });
    } finally {
      done();
    }
  }
  return new Response(pullStream(body, done), { status: response.status, headers });
}

/** Collects exactly `sizeBytes` from a body; a body of another length is a bug in the core. */
async function collect(body: AsyncIterable<Uint8Array>, sizeBytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(sizeBytes);
  let filled = 0;
  for await (const chunk of body) {
    assert(filled + chunk.byteLength <= sizeBytes, `response body longer than its Content-Length ${sizeBytes}`);
    out.set(chunk, filled);
    filled += chunk.byteLength;
  }
  assert(filled === sizeBytes, `response body of ${filled} bytes, Content-Length ${sizeBytes}`);
  return out;
}

/** An iterable body that will not be sent is still closed, so its source releases what it holds. */
async function drainQuietly(body: AsyncIterable<Uint8Array>): Promise<void> {
  await body[Symbol.asyncIterator]().return?.();
}

/** A pull-based stream: each chunk is produced only when the socket wants more. */
function pullStream(body: AsyncIterable<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const next = await iterator.next();
            if (next.done === true) {
              controller.close();
              done();
              return;
            }
            if (next.value.byteLength === 0) continue;
            controller.enqueue(next.value);
            return;
          }
        } catch (error) {
          // Headers are already on the wire; erroring the stream makes Bun cut
          // the connection, so the client sees a short body, as with S3.
          controller.error(error);
          done();
        }
      },
      async cancel() {
        done();
        await iterator.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

