/**
 * `/_cairn/metrics` and `/_cairn/health` on the S3 port, in front of the S3
 * core, for every adapter; `/_cairn/status` (a page) and `/_cairn/status.json`
 * too when the node gives a status source (gateway/status/).
 *
 * Why `/_cairn/`: in path-style addressing `/metrics` would be the bucket
 * "metrics". Bucket names cannot contain `_`, so a path-style `/_cairn/...`
 * never names a bucket. In virtual-hosted style (`Host: b.<domain>`) the same
 * path is the key `_cairn/metrics` of bucket `b`, a legal key: those requests
 * go to S3 as always. Only the exact paths below are answered here; anything
 * else under `/_cairn/` goes to the S3 core, which refuses it as the invalid
 * bucket name it is.
 *
 * Unauthenticated, like most Prometheus targets: the answers hold counts,
 * sizes, disk and node ids and the operation mix, never a key, a bucket name
 * or object data. A deployment that must hide them keeps the S3 port off
 * untrusted networks or filters `/_cairn/` in its proxy.
 */
import type { S3Handler, S3Request, S3Response } from "../http.ts";
import { assert, assertNever } from "../../runtime/index.ts";
import { resolveAddress } from "../s3/index.ts";
import { statusJsonPath, statusJsonResponse, statusPagePath, statusPageResponse } from "../status/status-page.ts";
import type { StatusReport } from "../status/status-report.ts";

/** One health check: `ok`, and why not. */
export interface HealthCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** What a node reports about itself; the status follows from the checks. */
export interface HealthReport {
  readonly nodeId: string;
  readonly checks: Readonly<Record<string, HealthCheck>>;
}

export interface AdminRoutesOptions {
  /** The scrape text (Prometheus text format 0.0.4). */
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** Runs the health checks; each bounds its own wait. */
  readonly health: () => Promise<HealthReport>;
  /** As the S3 handler's: decides whether a Host header selects virtual-hosted addressing. */
  readonly virtualHostDomains: readonly string[];
  /**
   * Gathers the status page's figures (`/_cairn/status` and `/_cairn/status.json`,
   * gateway/status/); without it those paths are not answered here.
   */
  readonly status?: () => Promise<StatusReport>;
  /** Receives the error of a failed scrape (a collector bug). */
  readonly log?: (entry: Record<string, unknown>) => void;
}

export const metricsPath = "/_cairn/metrics";
export const healthPath = "/_cairn/health";

/** Answers the admin paths; passes every other request to `handler`. */
export function withAdminRoutes(handler: S3Handler, options: AdminRoutesOptions): S3Handler {
  return async (request) => {
    const route = adminRoute(request, options);
    if (route === undefined) return handler(request);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }, body: "method not allowed\n" };
    }
    const response = await routeResponse(route, options);
    if (request.method === "HEAD") return { status: response.status, headers: response.headers };
    return response;
  };
}

type AdminRoute = "metrics" | "health" | "status-page" | "status-json";

const adminPaths = new Map<string, AdminRoute>([
  [metricsPath, "metrics"],
  [healthPath, "health"],
  [statusPagePath, "status-page"],
  [statusJsonPath, "status-json"],
]);

async function routeResponse(route: AdminRoute, options: AdminRoutesOptions): Promise<S3Response> {
  switch (route) {
    case "metrics":
      return metricsResponse(options);
    case "health":
      return healthResponse(options);
    case "status-page":
      return statusPageResponse();
    case "status-json":
      assert(options.status !== undefined, "status route taken without a status source");
      return statusJsonResponse(options.status, options.log);
    default:
      return assertNever(route);
  }
}

function adminRoute(request: S3Request, options: AdminRoutesOptions): AdminRoute | undefined {
  const route = adminPaths.get(request.rawPath);
  if (route === undefined) return undefined;
  if ((route === "status-page" || route === "status-json") && options.status === undefined) return undefined;
  const virtualHostDomains = options.virtualHostDomains;
  let style: "path" | "virtual-host";
  try {
    style = resolveAddress(request.rawPath, request.headers.get("host"), virtualHostDomains).style;
  } catch {
    return undefined;
  }
  if (style !== "path") return undefined;
  return route;
}

async function metricsResponse(options: AdminRoutesOptions): Promise<S3Response> {
  try {
    const text = await options.metrics();
    return { status: 200, headers: { "content-type": options.metricsContentType, "cache-control": "no-store" }, body: text };
  } catch (error) {
    options.log?.({ level: "error", event: "metrics-render-failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return { status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: "metrics failed; see the node's log\n" };
  }
}

async function healthResponse(options: AdminRoutesOptions): Promise<S3Response> {
  let report: HealthReport;
  try {
    report = await options.health();
  } catch (error) {
    report = { nodeId: "unknown", checks: { health: { ok: false, detail: error instanceof Error ? error.message : String(error) } } };
  }
  const ok = Object.values(report.checks).every((check) => check.ok);
  const body = `${JSON.stringify({ status: ok ? "ok" : "unavailable", nodeId: report.nodeId, checks: report.checks })}\n`;
  return { status: ok ? 200 : 503, headers: { "content-type": "application/json", "cache-control": "no-store" }, body };
}

/** What an admin port (no S3) answers: metrics and health, at the plain paths Prometheus and probes expect and at the S3 port's. */
export type AdminPortOptions = Pick<AdminRoutesOptions, "metrics" | "metricsContentType" | "health" | "log">;

const adminPortPaths = new Map<string, "metrics" | "health">([
  ["/metrics", "metrics"],
  ["/health", "health"],
  [metricsPath, "metrics"],
  [healthPath, "health"],
]);

/**
 * The handler of a node's admin port (`adminPort` in the fleet file): a
 * storage-only node has no S3 port, so this is where it is scraped. No
 * bucket can be named here, so `/metrics` and `/health` are free to use.
 */
export function adminPortHandler(options: AdminPortOptions): S3Handler {
  const routeOptions: AdminRoutesOptions = { ...options, virtualHostDomains: [] };
  return async (request) => {
    const route = adminPortPaths.get(request.rawPath);
    if (route === undefined) {
      return { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: "this is a Cairn admin port: GET /metrics or /health\n" };
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }, body: "method not allowed\n" };
    }
    const response = await routeResponse(route, routeOptions);
    return request.method === "HEAD" ? { status: response.status, headers: response.headers } : response;
  };
}
