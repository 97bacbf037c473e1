/**
 * Binds the S3 core to uWebSockets.js (`@trufflesuite/uws-js-unofficial`) on
 * Node 20. Runs under Node only: the native addon is built against V8.
 *
 * - Method, raw path (`getUrl`), raw query (`getQuery`), headers and the
 *   remote address are read synchronously in the route callback, because
 *   uWS's `HttpRequest` is stack-allocated and dies when the callback returns.
 *   uWS does not normalise the path, so keys with `.`/`..` segments work.
 * - Request bodies: every `onData` chunk is copied (uWS neuters its
 *   ArrayBuffer when the callback returns) into a bounded queue; above
 *   `requestBodyQueuedBytesMax` the request is paused, and resumed once the
 *   core has drained the queue to half of it.
 * - Responses: headers and status go out inside `res.cork`. A body with a
 *   declared Content-Length is sent with `tryEnd` (uWS writes the length
 *   itself); one without goes out chunked with `write`. Each chunk is pulled
 *   from the core only after the previous one was accepted, waiting on
 *   `onWritable`, so a slow reader stops the producer.
 * - After `onAborted` the response object is never touched again: every use
 *   goes through `Exchange`, which checks the state first.
 * - `stop()` closes the listen socket and resolves once every in-flight
 *   request has been answered in full.
 */
import { createRequire } from "node:module";
import { STATUS_CODES } from "node:http";
import type * as Uws from "@trufflesuite/uws-js-unofficial";
import { assert, isAssertionError } from "../../../runtime/index.ts";
import type { S3Handler, S3Request, S3Response } from "../../http.ts";
import { InFlight } from "../in-flight.ts";

export interface ServeUwsOptions {
  readonly handler: S3Handler;
  readonly hostname: string;
  /** 0 picks a free port; the chosen one is returned. */
  readonly port: number;
  /** Largest request body accepted, framing included. Default: 5 GiB + 128 MiB (as the Bun adapter). */
  readonly maxRequestBodyBytes?: number;
  /** Request body bytes buffered before the request is paused. Default 1 MiB. */
  readonly requestBodyQueuedBytesMax?: number;
}

export interface UwsS3Server {
  readonly port: number;
  /** Stops accepting connections; resolves when in-flight requests have finished. */
  stop(): Promise<void>;
}

/** A 5 GiB object plus its aws-chunked framing; the same bound as the Bun adapter (see its serve.ts). */
export const defaultMaxRequestBodyBytes = 5 * 1024 * 1024 * 1024 + 128 * 1024 * 1024;

/** Default for `requestBodyQueuedBytesMax`: one read of the core's body stream is far smaller. */
export const defaultRequestBodyQueuedBytesMax = 1024 * 1024;

type UwsModule = typeof Uws;

/**
 * Loaded with `require` because the package is CommonJS whose exports Node's
 * ESM loader cannot detect statically (`module.exports = (() => ...)()`).
 */
function loadUws(): UwsModule {
  const require = createRequire(import.meta.url);
  return require("@trufflesuite/uws-js-unofficial") as UwsModule;
}

/** Starts serving the handler on `hostname:port`. */
export async function serveUws(options: ServeUwsOptions): Promise<UwsS3Server> {
  const uws = loadUws();
  const inFlight = new InFlight();
  const maxRequestBodyBytes = options.maxRequestBodyBytes ?? defaultMaxRequestBodyBytes;
  const queuedBytesMax = options.requestBodyQueuedBytesMax ?? defaultRequestBodyQueuedBytesMax;
  assert(queuedBytesMax > 0, "requestBodyQueuedBytesMax must be positive");
  const app = uws.App();
  app.any("/*", (res, req) => {
    const exchange = new Exchange(res, inFlight.begin());
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const rawPath = req.getUrl();
    const rawQuery = req.getQuery() ?? "";
    const headers = new Map<string, string>();
    req.forEach((name, value) => {
      const lower = name.toLowerCase();
      const earlier = headers.get(lower);
      headers.set(lower, earlier === undefined ? value : `${earlier},${value}`);
    });
    const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString("latin1");
    const declaredBytes = headers.has("content-length") ? Number(headers.get("content-length")) : 0;
    if (Number.isFinite(declaredBytes) && declaredBytes > maxRequestBodyBytes) {
      // As Bun does past maxRequestBodySize: refuse before reading anything.
      exchange.endBare(413, true);
      return;
    }
    const hasBody = declaredBytes > 0 || (headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked");
    const body = new RequestBody(exchange, queuedBytesMax, maxRequestBodyBytes);
    if (hasBody) res.onData((chunk, isLast) => body.push(chunk, isLast));
    else body.push(new ArrayBuffer(0), true);
    void respond(options.handler, { method, rawPath, rawQuery, headers, body: body.iterate(), remoteAddress }, exchange);
  });
  const listenSocket = await new Promise<Uws.us_listen_socket>((resolve, reject) => {
    app.listen(options.hostname, options.port, (socket) => {
      if (socket === false) reject(new Error(`uWS could not listen on ${options.hostname}:${options.port}`));
      else resolve(socket);
    });
  });
  const port = uws.us_socket_local_port(listenSocket);
  let stopped = false;
  return {
    port,
    async stop() {
      if (!stopped) {
        stopped = true;
        uws.us_listen_socket_close(listenSocket);
      }
      await inFlight.drained();
    },
  };
}


type ExchangeState = "open" | "answered" | "aborted";

/**
 * The one owner of a uWS `HttpResponse`. uWS frees the response on abort and
 * after a completed `end`/`tryEnd`; touching it then crashes the process, so
 * every call checks the state first.
 */
class Exchange {
  #res: Uws.HttpResponse;
  #state: ExchangeState = "open";
  #done: () => void;
  #paused = false;
  /** Resolves the pending wait for a writable socket; called on abort too. */
  #onWritable: (() => void) | undefined;
  #writableWaiter: ((offset: number) => boolean) | undefined;
  #writableRegistered = false;
  #abortListeners: (() => void)[] = [];

  constructor(res: Uws.HttpResponse, done: () => void) {
    this.#res = res;
    this.#done = done;
    res.onAborted(() => {
      this.#state = "aborted";
      this.#done();
      for (const listener of this.#abortListeners.splice(0)) listener();
      this.#onWritable?.();
    });
  }

  get open(): boolean {
    return this.#state === "open";
  }

  get aborted(): boolean {
    return this.#state === "aborted";
  }

  onAbort(listener: () => void): void {
    if (this.#state === "aborted") listener();
    else this.#abortListeners.push(listener);
  }

  pause(): void {
    if (this.#state !== "open" || this.#paused) return;
    this.#paused = true;
    this.#res.pause();
  }

  resume(): void {
    if (this.#state !== "open" || !this.#paused) return;
    this.#paused = false;
    this.#res.resume();
  }

  /** Ends with a status and no body (nor S3 headers): for refusals before the core and for core bugs. */
  endBare(status: number, closeConnection: boolean): void {
    if (this.#state !== "open") return;
    this.resume();
    this.#res.cork(() => {
      this.#res.writeStatus(statusLine(status)).end(undefined, closeConnection);
    });
    this.#finish();
  }

  /** Writes status and headers; the body follows through one of the methods below. */
  writeHead(status: number, headers: Record<string, string>): void {
    if (this.#state !== "open") return;
    // A paused socket is not polled at all, so writes would stall too.
    this.resume();
    this.#res.writeStatus(statusLine(status));
    for (const [name, value] of Object.entries(headers)) {
      // uWS writes these itself from how the body is ended.
      if (name === "content-length" || name === "transfer-encoding" || name === "date") continue;
      this.#res.writeHeader(name, value);
    }
  }

  cork(work: () => void): void {
    if (this.#state !== "open") return;
    this.#res.cork(work);
  }

  /**
   * Ends without a body, with a Content-Length header when given (HEAD: the
   * length a GET would send). uWS 20.30's `endWithoutBody(length)` leaves the
   * response unfinished (the connection dies at the next request), so the
   * header is written by hand and the call made without arguments.
   */
  endWithoutBody(contentLengthBytes: number | undefined): void {
    if (this.#state !== "open") return;
    if (contentLengthBytes !== undefined) this.#res.writeHeader("content-length", String(contentLengthBytes));
    this.#res.endWithoutBody();
    this.#finish();
  }

  endWith(body: Uint8Array | string): void {
    if (this.#state !== "open") return;
    this.#res.end(body);
    this.#finish();
  }

  /** Sends part of a body of known total length; resolves once uWS has taken all of it (or the client left). */
  async sendKnownLength(chunk: Uint8Array, totalBytes: number): Promise<void> {
    if (this.#state !== "open") return;
    const startOffset = this.#res.getWriteOffset();
    let ok = false;
    let answered = false;
    this.#res.cork(() => {
      [ok, answered] = this.#res.tryEnd(chunk, totalBytes);
    });
    if (answered) this.#finish();
    if (ok || answered) return;
    // tryEnd can report failure although it took every byte (a flush of the
    // cork buffer did not finish); no writable event may follow then, so
    // waiting for one would hang.
    if (this.#res.getWriteOffset() - startOffset >= chunk.byteLength) return;
    await this.#untilWritable((offset) => {
      const acceptedBytes = offset - startOffset;
      // uWS took the whole chunk into its own buffer and has drained it.
      if (acceptedBytes >= chunk.byteLength) return "sent";
      const [retryOk, retryAnswered] = this.#res.tryEnd(chunk.subarray(acceptedBytes), totalBytes);
      if (retryAnswered) this.#finish();
      return retryOk || retryAnswered ? "sent" : "blocked";
    });
  }

  /** Sends one chunk of a chunked body; resolves once the socket can take more (or the client left). */
  async sendChunk(chunk: Uint8Array): Promise<void> {
    if (this.#state !== "open") return;
    let ok = false;
    this.#res.cork(() => {
      ok = this.#res.write(chunk);
    });
    if (ok) return;
    // uWS has buffered the rest of the chunk; wait until it has drained.
    await this.#untilWritable(() => "sent");
  }

  /**
   * Waits for uWS's writable event until `retry` reports the chunk sent (or
   * the client leaves). uWS 20.30 keeps calling the first handler given to
   * `onWritable` even after another is registered, so one handler is
   * registered per response and it calls whatever is waiting now.
   */
  #untilWritable(retry: (offset: number) => "sent" | "blocked"): Promise<void> {
    if (!this.#writableRegistered) {
      this.#writableRegistered = true;
      this.#res.onWritable((offset) => {
        const waiting = this.#writableWaiter;
        if (waiting === undefined || this.#state !== "open") return true;
        return waiting(offset);
      });
    }
    return new Promise<void>((resolve) => {
      this.#onWritable = resolve;
      this.#writableWaiter = (offset) => {
        const outcome = retry(offset);
        if (outcome === "blocked") return false;
        this.#writableWaiter = undefined;
        this.#onWritable = undefined;
        resolve();
        return true;
      };
    });
  }

  endChunked(): void {
    if (this.#state !== "open") return;
    this.#res.cork(() => this.#res.end());
    this.#finish();
  }

  /** Cuts the connection: the client sees a short body, as with S3 when a read fails mid-stream. */
  cut(): void {
    if (this.#state !== "open") return;
    this.#state = "answered";
    this.#res.close();
    this.#done();
  }

  #finish(): void {
    if (this.#state === "open") this.#state = "answered";
    this.#done();
  }
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? "Unknown"}`;
}

/**
 * The request body as the core reads it. Chunks are copied in `push`
 * (uWS neuters its buffer on return) and queued; the request is paused while
 * more than `queuedBytesMax` waits, so a slow backend bounds memory.
 */
class RequestBody {
  #exchange: Exchange;
  #queuedBytesMax: number;
  #maxBodyBytes: number;
  #chunks: Uint8Array[] = [];
  #queuedBytes = 0;
  #receivedBytes = 0;
  #ended = false;
  #failure: Error | undefined;
  /** The core stopped reading: later chunks are dropped. */
  #discarding = false;
  #wake: (() => void) | undefined;

  constructor(exchange: Exchange, queuedBytesMax: number, maxBodyBytes: number) {
    this.#exchange = exchange;
    this.#queuedBytesMax = queuedBytesMax;
    this.#maxBodyBytes = maxBodyBytes;
    exchange.onAbort(() => this.#fail(new Error("the client closed the connection before the body was complete")));
  }

  push(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#receivedBytes += chunk.byteLength;
    if (this.#receivedBytes > this.#maxBodyBytes) {
      this.#fail(new Error(`request body longer than ${this.#maxBodyBytes} bytes`));
      return;
    }
    if (!this.#discarding && chunk.byteLength > 0) {
      // slice() copies: the ArrayBuffer is neutered once this callback returns.
      this.#chunks.push(new Uint8Array(chunk.slice(0)));
      this.#queuedBytes += chunk.byteLength;
      if (this.#queuedBytes > this.#queuedBytesMax) this.#exchange.pause();
    }
    if (isLast) this.#ended = true;
    this.#wakeReader();
  }

  async *iterate(): AsyncGenerator<Uint8Array> {
    let finished = false;
    try {
      for (;;) {
        const chunk = this.#chunks.shift();
        if (chunk !== undefined) {
          this.#queuedBytes -= chunk.byteLength;
          // Resume at half, not at once, so the socket is not toggled per chunk.
          if (this.#queuedBytes <= this.#queuedBytesMax / 2) this.#exchange.resume();
          yield chunk;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#ended) {
          finished = true;
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      if (!finished) {
        // The core stopped early (an error reply): drop what is queued and
        // what still arrives, and let the socket flow so the reply can go out.
        this.#discarding = true;
        this.#chunks = [];
        this.#queuedBytes = 0;
        this.#exchange.resume();
      }
    }
  }

  #fail(error: Error): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#failure = error;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

const bodylessStatuses = new Set([204, 304]);

async function respond(handler: S3Handler, request: S3Request, exchange: Exchange): Promise<void> {
  let response: S3Response;
  try {
    response = await handler(request);
  } catch (error) {
    // The core never throws; reaching this is a bug in it, but the process
    // must keep serving, so answer 500 without an S3 body.
    console.error("cairn gateway: handler threw", error);
    exchange.endBare(500, false);
    return;
  }
  const body = response.body;
  const streamed = body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array);
  if (!exchange.open) {
    if (streamed) await closeQuietly(body);
    return;
  }
  const declared = Number(response.headers["content-length"] ?? Number.NaN);
  const declaredBytes = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
  if (request.method === "HEAD" || bodylessStatuses.has(response.status) || body === undefined) {
    exchange.cork(() => {
      exchange.writeHead(response.status, response.headers);
      // HEAD reports the length of the body a GET would send.
      exchange.endWithoutBody(request.method === "HEAD" ? declaredBytes : bodylessStatuses.has(response.status) ? undefined : 0);
    });
    if (streamed) await closeQuietly(body);
    return;
  }
  if (!streamed) {
    exchange.cork(() => {
      exchange.writeHead(response.status, response.headers);
      exchange.endWith(body);
    });
    return;
  }
  exchange.cork(() => exchange.writeHead(response.status, response.headers));
  await streamBody(body, declaredBytes, exchange);
}

async function streamBody(body: AsyncIterable<Uint8Array>, declaredBytes: number | undefined, exchange: Exchange): Promise<void> {
  const iterator = body[Symbol.asyncIterator]();
  let sentBytes = 0;
  try {
    for (;;) {
      if (!exchange.open) return;
      const next = await iterator.next();
      if (next.done === true) break;
      if (next.value.byteLength === 0) continue;
      if (declaredBytes === undefined) {
        await exchange.sendChunk(next.value);
      } else {
        assert(sentBytes + next.value.byteLength <= declaredBytes, `response body longer than its Content-Length ${declaredBytes}`);
        await exchange.sendKnownLength(next.value, declaredBytes);
      }
      sentBytes += next.value.byteLength;
    }
    if (declaredBytes === undefined) exchange.endChunked();
    else if (declaredBytes === 0) exchange.cork(() => exchange.endWith(new Uint8Array(0)));
    else assert(sentBytes === declaredBytes || !exchange.open, `response body of ${sentBytes} bytes, Content-Length ${declaredBytes}`);
  } catch (error) {
    // Headers are already on the wire: cut the connection so the client sees
    // a short body. A broken core invariant is still reported, after the cut.
    exchange.cut();
    if (isAssertionError(error)) console.error("cairn gateway: response body broke its Content-Length", error);
  } finally {
    if (exchange.aborted) await iterator.return?.().catch(() => undefined);
  }
}

/** A body that will not be sent is still closed, so its source releases what it holds. */
async function closeQuietly(body: AsyncIterable<Uint8Array>): Promise<void> {
  await body[Symbol.asyncIterator]().return?.()?.catch(() => undefined);
}
