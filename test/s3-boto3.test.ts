/**
 * S3 versioning on the real server process driven by boto3: Debian's
 * `python3-boto3` run by the system `/usr/bin/python3` (what `.ci/run`
 * installs). The checks live in test/support/boto3-versioning.py; this file
 * starts the server (and a relay that resets the first response, for the
 * retry check), runs the script with a bound, and reports its verdict.
 * Without boto3 the test is skipped and says why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { outputOf } from "./support/clients.ts";
import { startDroppingRelay } from "./support/dropping-relay.ts";
import { repositoryRoot, startServer, type ServerProcess } from "./support/server.ts";

const pythonPath = "/usr/bin/python3";
const scriptPath = join(repositoryRoot, "test/support/boto3-versioning.py");
const scriptTimeoutMs = 45_000;

/** Why boto3 cannot run here, or undefined when it can. */
function boto3Missing(): string | undefined {
  const probe = spawnSync(pythonPath, ["-c", "import boto3"], { encoding: "utf8", timeout: 10_000 });
  if (probe.error !== undefined) return `${pythonPath} cannot run (${probe.error.message})`;
  if (probe.status !== 0) return `boto3 is not importable by ${pythonPath} (install Debian's python3-boto3, as .ci/run does): ${probe.stderr.trim()}`;
  return undefined;
}

const missing = boto3Missing();
if (missing !== undefined) console.log(`test/s3-boto3.test.ts: SKIPPED: ${missing}`);

let server: ServerProcess | undefined;

beforeAll(async () => {
  if (missing === undefined) server = await startServer();
});
afterAll(async () => {
  await server?.dispose();
});

async function runScript(active: ServerProcess, retryEndpoint: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(pythonPath, [scriptPath], {
    env: {
      PATH: "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      CAIRN_ENDPOINT: active.endpoint,
      CAIRN_ACCESS_KEY: active.accessKeyId,
      CAIRN_SECRET_KEY: active.secretAccessKey,
      CAIRN_BUCKET_PREFIX: "boto",
      CAIRN_RETRY_ENDPOINT: retryEndpoint,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
    },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: scriptTimeoutMs,
  });
  return outputOf(child);
}

describe("boto3 against the real server", () => {
  test.skipIf(missing !== undefined)(
    "versioning: versions, delete markers, ListObjectVersions with prefix, delimiter and paging, suspend, DeleteObjects by version; a retried PUT lands once",
    async () => {
      const relay = await startDroppingRelay(server!.port);
      let result: Awaited<ReturnType<typeof runScript>>;
      try {
        result = await runScript(server!, `http://127.0.0.1:${relay.port}`);
      } finally {
        await relay.stop();
      }
      expect(relay.droppedResponses()).toBe(1);
      const verdict = result.stdout.trim().split("\n").at(-1) ?? "";
      if (result.code !== 0) throw new Error(`boto3 script exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      const parsed = JSON.parse(verdict) as { ok: boolean; checks: number };
      expect(parsed.ok).toBe(true);
      expect(parsed.checks).toBeGreaterThanOrEqual(40);
    },
    scriptTimeoutMs + 5_000,
  );
});
