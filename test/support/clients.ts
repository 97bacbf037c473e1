/** Real S3 clients pointed at a test server. */
import { S3Client } from "@aws-sdk/client-s3";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ServerProcess } from "./server.ts";

/** The AWS SDK for JavaScript v3 with its default checksum and streaming settings. */
export function sdkClient(server: ServerProcess, options: { secretAccessKey?: string; forcePathStyle?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: options.forcePathStyle ?? true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: options.secretAccessKey ?? server.secretAccessKey },
    maxAttempts: 1,
  });
}

/** A child process's exit code and its whole stdout and stderr (UTF-8), once it has closed. */
export async function outputOf(child: ChildProcessByStdio<null, Readable, Readable>): Promise<CommandResult> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)));
  return { code, stdout, stderr };
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The Debian package's CLI (what `.ci/run` installs) when present, otherwise
 * whatever `aws` is on PATH.
 */
export const awsCliPath = existsSync("/usr/bin/aws") ? "/usr/bin/aws" : "aws";

/** Runs the AWS CLI against the server, with its own config so no user setting leaks in. */
export async function awsCli(server: ServerProcess, args: string[], extraEnv: Record<string, string> = {}): Promise<CommandResult> {
  const child = spawn(awsCliPath, ["--endpoint-url", server.endpoint, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return outputOf(child);
}

/** A client binary that must not outlive a hung test: each run is killed after this long. */
const clientRunTimeoutMs = 120_000;

/**
 * Runs a client binary with exactly `env` (nothing inherited: this machine's
 * AWS_CA_BUNDLE, for one, makes rclone refuse to build its HTTP client), and
 * kills it after `clientRunTimeoutMs`.
 */
async function runClient(path: string, args: string[], env: Record<string, string>, cwd?: string): Promise<CommandResult> {
  const child = spawn(path, args, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: clientRunTimeoutMs,
    killSignal: "SIGKILL",
    ...(cwd === undefined ? {} : { cwd }),
  });
  return outputOf(child);
}

/** Debian's s3cmd (what `.ci/run` installs) when present, otherwise whatever `s3cmd` is on PATH. */
export const s3cmdPath = existsSync("/usr/bin/s3cmd") ? "/usr/bin/s3cmd" : "s3cmd";

/**
 * Writes an s3cmd configuration for the server into `directory` and returns
 * its path: path-style addressing (host_bucket without `%(bucket)s`), plain
 * HTTP, SigV4, and the server's keys. Nothing else: issue 6 asks that an
 * endpoint and keys be enough.
 */
export function writeS3cmdConfig(server: ServerProcess, directory: string): string {
  const path = join(directory, `s3cmd-${server.port}.cfg`);
  const host = `127.0.0.1:${server.port}`;
  writeFileSync(
    path,
    [
      "[default]",
      `access_key = ${server.accessKeyId}`,
      `secret_key = ${server.secretAccessKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      "use_https = False",
      "signature_v2 = False",
      "bucket_location = us-east-1",
      "",
    ].join("\n"),
  );
  return path;
}

/**
 * Runs s3cmd against the server with a configuration written into
 * `directory` (the test's temporary directory); relative paths in `args`
 * resolve against `directory`.
 */
export async function s3cmd(server: ServerProcess, directory: string, args: string[]): Promise<CommandResult> {
  const config = writeS3cmdConfig(server, directory);
  return runClient(s3cmdPath, ["--config", config, ...args], {}, directory);
}

/** Debian's rclone (what `.ci/run` installs) when present, otherwise whatever `rclone` is on PATH. */
export const rclonePath = existsSync("/usr/bin/rclone") ? "/usr/bin/rclone" : "rclone";

/** The name of the rclone remote `rclone()` defines: `cairn:bucket/path`. */
export const rcloneRemote = "cairn";

/**
 * Runs rclone with one remote, `cairn:`, defined entirely by environment
 * (`RCLONE_CONFIG_CAIRN_*`: an S3 remote, provider Other, path style, the
 * server's endpoint and keys) and an empty config file, so no user setting
 * leaks in.
 */
export async function rclone(server: ServerProcess, args: string[], extraEnv: Record<string, string> = {}): Promise<CommandResult> {
  const prefix = `RCLONE_CONFIG_${rcloneRemote.toUpperCase()}_`;
  return runClient(rclonePath, args, {
    RCLONE_CONFIG: "/dev/null",
    [`${prefix}TYPE`]: "s3",
    [`${prefix}PROVIDER`]: "Other",
    [`${prefix}ENDPOINT`]: server.endpoint,
    [`${prefix}FORCE_PATH_STYLE`]: "true",
    [`${prefix}REGION`]: "us-east-1",
    [`${prefix}ACCESS_KEY_ID`]: server.accessKeyId,
    [`${prefix}SECRET_ACCESS_KEY`]: server.secretAccessKey,
    ...extraEnv,
  });
}

/** One request line from the server's log. */
export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly operation: string;
  readonly status: number;
}

/**
 * The requests the server logged so far (its JSON request lines), so a test
 * can check what a client actually sent, e.g. that an upload went multipart.
 */
export function loggedRequests(server: ServerProcess): LoggedRequest[] {
  const found: LoggedRequest[] = [];
  for (const line of server.output().split("\n")) {
    if (!line.startsWith("{") || !line.includes('"operation"')) continue;
    const entry = JSON.parse(line) as Partial<LoggedRequest>;
    if (typeof entry.operation !== "string" || typeof entry.status !== "number") continue;
    found.push({ method: String(entry.method), path: String(entry.path), operation: entry.operation, status: entry.status });
  }
  return found;
}
