/**
 * TEST-ONLY: starts the S3 core over a `MemoryBackend` behind `serveBun` on
 * 127.0.0.1 with a free port, and gives tests an SDK client and a signed raw
 * `fetch` for requests the SDK will not produce.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { serveBun, type BunS3Server } from "../adapter/bun/index.ts";
import { createS3Handler } from "../s3/index.ts";
import { signRequest } from "../sigv4/index.ts";
import { systemClock } from "../../runtime/index.ts";
import { MemoryBackend } from "./memory-backend.ts";

export const testCredentials = { accessKeyId: "AKIACAIRNTEST0000001", secretAccessKey: "cairn-test-secret-key-0000000000000000001" } as const;
export const testRegion = "us-east-1";

export interface TestGateway {
  readonly port: number;
  readonly endpoint: string;
  readonly backend: MemoryBackend;
  readonly client: S3Client;
  /** Entries the handler logged. */
  readonly logs: Record<string, unknown>[];
  /** Sends a request signed with the test credentials (header form). */
  signedFetch(request: SignedFetchRequest): Promise<Response>;
  stop(): Promise<void>;
  readonly server: BunS3Server;
}

export interface SignedFetchRequest {
  readonly method: string;
  /** As sent: percent-encoded, no query. */
  readonly rawPath: string;
  readonly rawQuery?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  /** The x-amz-content-sha256 value; default UNSIGNED-PAYLOAD. */
  readonly payloadHash?: string;
  /** The Host header (default 127.0.0.1:<port>), e.g. for virtual-hosted addressing. */
  readonly host?: string;
}

/** Starts a gateway for one test file; call `stop()` after. */
export async function startTestGateway(options: { readChunkBytes?: number; maxRequestBodyBytes?: number } = {}): Promise<TestGateway> {
  const clock = systemClock();
  const backend = new MemoryBackend({ nowMs: clock.nowMs, ...(options.readChunkBytes === undefined ? {} : { readChunkBytes: options.readChunkBytes }) });
  const logs: Record<string, unknown>[] = [];
  let requestCounter = 0;
  const handler = createS3Handler({
    backend,
    lookupSecret: (accessKeyId) => (accessKeyId === testCredentials.accessKeyId ? testCredentials.secretAccessKey : undefined),
    nowMs: clock.nowMs,
    newRequestId: () => {
      requestCounter += 1;
      return `TEST${requestCounter.toString(16).padStart(12, "0").toUpperCase()}`;
    },
    virtualHostDomains: ["localhost"],
    region: testRegion,
    log: (entry) => logs.push(entry),
  });
  const server = await serveBun({
    handler,
    hostname: "127.0.0.1",
    port: 0,
    ...(options.maxRequestBodyBytes === undefined ? {} : { maxRequestBodyBytes: options.maxRequestBodyBytes }),
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = new S3Client({ endpoint, region: testRegion, forcePathStyle: true, credentials: { ...testCredentials }, maxAttempts: 1 });
  return {
    port: server.port,
    endpoint,
    backend,
    client,
    logs,
    server,
    async signedFetch(request) {
      const host = request.host ?? `127.0.0.1:${server.port}`;
      const headers: Record<string, string> = { ...request.headers, host };
      if (request.body !== undefined) {
        headers["content-length"] = String(typeof request.body === "string" ? Buffer.byteLength(request.body) : request.body.byteLength);
      }
      const signed = signRequest({
        method: request.method,
        rawPath: request.rawPath,
        rawQuery: request.rawQuery ?? "",
        headers,
        credentials: testCredentials,
        region: testRegion,
        nowMs: clock.nowMs(),
        ...(request.payloadHash === undefined ? {} : { payloadHash: request.payloadHash }),
      });
      const query = request.rawQuery === undefined || request.rawQuery === "" ? "" : `?${request.rawQuery}`;
      return fetch(`${endpoint}${request.rawPath}${query}`, {
        method: request.method,
        headers: Object.fromEntries(signed.headers),
        ...(request.body === undefined ? {} : { body: request.body }),
      });
    },
    async stop() {
      client.destroy();
      await server.stop();
    },
  };
}
