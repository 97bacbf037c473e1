/**
 * The two answers of the status routes: the page (a static, self-contained
 * HTML file read once at start) and the JSON it polls. The page is an `.html`
 * file beside this one rather than a string in TypeScript so it can be read
 * and edited as HTML; its script runs in the browser, where the server's
 * timer rules (STYLE.md: timers only in runtime/) do not apply.
 */
import { readFileSync } from "node:fs";
import type { S3Response } from "../http.ts";
import type { StatusReport } from "./status-report.ts";

export const statusPagePath = "/_cairn/status";
export const statusJsonPath = "/_cairn/status.json";

const statusPageHtml = readFileSync(new URL("./status-page.html", import.meta.url), "utf8");

/** The page: the same bytes on every request, never cached (it is tiny and must follow upgrades). */
export function statusPageResponse(): S3Response {
  return {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      // Nothing outside this origin, and no framing: the page shows cluster internals.
      "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
    },
    body: statusPageHtml,
  };
}

/** The figures as JSON; a failed gathering is a 500 whose cause goes to the log, not to the client. */
export async function statusJsonResponse(status: () => Promise<StatusReport>, log?: (entry: Record<string, unknown>) => void): Promise<S3Response> {
  try {
    const report = await status();
    return { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: `${JSON.stringify(report)}\n` };
  } catch (error) {
    log?.({ level: "error", event: "status-failed", error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return { status: 500, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: `${JSON.stringify({ error: "status failed; see the node's log" })}\n` };
  }
}
