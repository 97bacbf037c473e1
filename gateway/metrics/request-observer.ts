/**
 * Measures every S3 request the core answers: the request metrics and the
 * one structured log line per request. The handler calls `begin` as a request
 * arrives and `answered` once it has the response; this file does the rest,
 * so both adapters (Bun, uWS) are measured in one place.
 *
 * - Bytes are counted as the bodies stream: received as the operation reads
 *   the request body (raw, aws-chunked framing included, which is what the
 *   wire carried), sent as the adapter pulls the response body.
 * - A request is counted in `cairn_s3_requests_total` when its status is
 *   known (before the adapter writes it), so a client that has its answer
 *   finds it counted. Its duration, its log line and the in-flight gauge wait
 *   for the end of the response body (sent in full, cut, or dropped).
 * - Labels are the operation name (the router's closed set, or "Unknown"),
 *   the status code and the S3 error code: all bounded. Keys, buckets and
 *   request ids go to the log line, never to a label.
 */
import { latencyBucketsSeconds, type Clock, type MetricsRegistry } from "../../runtime/index.ts";
import type { S3Request, S3Response } from "../http.ts";

/** What the handler knows once it has a response. */
export interface AnsweredRequest {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly operation: string;
  readonly status: number;
  /** The S3 error code, when the answer is an error. */
  readonly code?: string;
}

/** One request being measured. */
export interface RequestObservation {
  /** The request to serve: the same, with its body counted as it is read. */
  readonly request: S3Request;
  /** Counts the answer; returns the response to send, its body counted as it is pulled. */
  answered(response: S3Response, answer: AnsweredRequest): S3Response;
}

export interface RequestObserver {
  begin(request: S3Request, requestId: string): RequestObservation;
}

/** The observer's counters summed over their labels, since the process started. */
export interface RequestTotals {
  readonly requests: number;
  readonly errors: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

/** An observer that can also report its totals (the status page samples them: gateway/status/). */
export interface CountingRequestObserver extends RequestObserver {
  totals(): RequestTotals;
}

export interface RequestObserverOptions {
  readonly registry: MetricsRegistry;
  /** For durations: only `monotonicMs` is read. */
  readonly clock: Pick<Clock, "monotonicMs">;
  /** Receives the request's log line when its response has ended. */
  readonly log?: (entry: Record<string, unknown>) => void;
}

/** How a response body ended: read to its end, abandoned by the reader, or failed while producing. */
type BodyOutcome = "complete" | "cancelled" | "failed";

const bodylessStatuses = new Set([204, 304]);

/** Registers the `cairn_s3_*` request metrics on `registry` and returns the observer that feeds them. */
export function createRequestObserver(options: RequestObserverOptions): CountingRequestObserver {
  const { registry, clock } = options;
  const requests = registry.counter({
    name: "cairn_s3_requests_total",
    help: "S3 requests answered, by operation and HTTP status.",
    labelNames: ["operation", "status"],
  });
  const errors = registry.counter({
    name: "cairn_s3_errors_total",
    help: "S3 error replies, by operation and S3 error code.",
    labelNames: ["operation", "code"],
  });
  const duration = registry.histogram({
    name: "cairn_s3_request_duration_seconds",
    help: "Time from a request's arrival to the end of its response body, by operation.",
    labelNames: ["operation"],
    buckets: latencyBucketsSeconds,
  });
  const received = registry.counter({ name: "cairn_s3_bytes_received_total", help: "Request body bytes read (aws-chunked framing included)." });
  const sent = registry.counter({ name: "cairn_s3_bytes_sent_total", help: "Response body bytes handed to the adapter." });
  const inFlight = registry.gauge({ name: "cairn_s3_requests_in_flight", help: "Requests arrived whose response body has not ended." });

  const sum = (family: { readonly samples: readonly { readonly value: number }[] }): number => family.samples.reduce((total, sample) => total + sample.value, 0);
  return {
    // Read from the counters themselves, so the status page and a scrape never disagree.
    totals: () => ({ requests: sum(requests.family()), errors: sum(errors.family()), bytesReceived: received.value(), bytesSent: sent.value() }),
    begin(request, requestId) {
      const startMs = clock.monotonicMs();
      inFlight.add({}, 1);
      let bytesReceived = 0;
      const countReceived = (byteCount: number): void => {
        bytesReceived += byteCount;
        received.inc({}, byteCount);
      };
      return {
        request: { ...request, body: countedRequestBody(request.body, countReceived) },
        answered(response, answer) {
          requests.inc({ operation: answer.operation, status: String(answer.status) });
          if (answer.code !== undefined) errors.inc({ operation: answer.operation, code: answer.code });
          let bytesSent = 0;
          let finished = false;
          const finish = (outcome: BodyOutcome): void => {
            if (finished) return;
            finished = true;
            const durationMs = clock.monotonicMs() - startMs;
            duration.observe({ operation: answer.operation }, durationMs / 1000);
            inFlight.add({}, -1);
            options.log?.({
              level: "info",
              event: "request",
              ...answer,
              durationMs: Math.round(durationMs * 1000) / 1000,
              bytesReceived,
              bytesSent,
              remote: request.remoteAddress,
              ...(outcome === "complete" ? {} : { body: outcome }),
            });
          };
          const countSent = (byteCount: number): void => {
            bytesSent += byteCount;
            sent.inc({}, byteCount);
          };
          const body = response.body;
          // Adapters send no body for these (as HTTP requires); an iterable is still closed by them.
          const sendsBody = request.method !== "HEAD" && !bodylessStatuses.has(response.status);
          if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
            if (body !== undefined && sendsBody) countSent(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
            finish("complete");
            return response;
          }
          return { ...response, body: countedResponseBody(body, sendsBody ? countSent : () => undefined, finish) };
        },
      };
    },
  };
}

async function* countedRequestBody(body: AsyncIterable<Uint8Array>, count: (byteCount: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    count(chunk.byteLength);
    yield chunk;
  }
}

/**
 * A response body that counts what is pulled from it and reports how it
 * ended. Written as an iterator object rather than a generator because an
 * adapter may close a body it never started (HEAD, an aborted client): a
 * generator's `finally` does not run then, and the request would never end.
 */
function countedResponseBody(
  body: AsyncIterable<Uint8Array>,
  count: (byteCount: number) => void,
  finish: (outcome: BodyOutcome) => void,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const inner = body[Symbol.asyncIterator]();
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          let result: IteratorResult<Uint8Array>;
          try {
            result = await inner.next();
          } catch (error) {
            finish("failed");
            throw error;
          }
          if (result.done === true) finish("complete");
          else count(result.value.byteLength);
          return result;
        },
        async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
          finish("cancelled");
          const result = await inner.return?.(value);
          return result ?? { done: true, value: undefined };
        },
      };
    },
  };
}
