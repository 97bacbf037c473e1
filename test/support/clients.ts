/** Real S3 clients pointed at a test server. */
import { S3Client } from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
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
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)));
  return { code, stdout, stderr };
}
