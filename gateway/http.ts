/**
 * The runtime-neutral request and response the S3 core works on. Adapters
 * (`adapter/bun/`, later `adapter/uws/`) translate to and from these.
 */

export interface S3Request {
  readonly method: string;
  /** The path exactly as it came on the wire (still percent-encoded), without the query. */
  readonly rawPath: string;
  /** The query string exactly as it came on the wire, without `?` ("" when none). */
  readonly rawQuery: string;
  /** Header names in lower case; repeated headers joined with "," as HTTP allows. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body as it arrives; empty for requests without one. Consumed at most once. */
  readonly body: AsyncIterable<Uint8Array>;
  readonly remoteAddress: string;
}

export interface S3Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Absent for no body; an async iterable streams (memory stays bounded). */
  readonly body?: Uint8Array | string | AsyncIterable<Uint8Array>;
}

/** The gateway core: one function from request to response. */
export type S3Handler = (request: S3Request) => Promise<S3Response>;
