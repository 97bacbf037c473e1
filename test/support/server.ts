/**
 * Starts the real Cairn server process (`bun cluster/main.ts`) for
 * integration tests, on 127.0.0.1 with an ephemeral port and a temporary data
 * directory, and waits for its ready line (with a bound).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repositoryRoot = resolve(import.meta.dir, "../..");

export interface ServerProcess {
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** Peak resident set size (VmHWM) of the server process, in bytes. */
  peakRssBytes(): number;
  /** Sends SIGTERM and waits for exit; resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops (if running) and removes the data directory. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  /** Extra environment; `CAIRN_ACCESS_KEY`/`CAIRN_SECRET_KEY` default to test values unless set to "". */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export const testAccessKeyId = "CAIRNTESTACCESSKEY01";
export const testSecretAccessKey = "cairn-test-secret-key/0123456789abcdefghij";

/** Starts a server and resolves once it printed its ready line. */
export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "cairn-test-"));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    CAIRN_PORT: "0",
    CAIRN_DATA_DIR: dataDir,
    CAIRN_ACCESS_KEY: testAccessKeyId,
    CAIRN_SECRET_KEY: testSecretAccessKey,
    ...options.env,
  };
  for (const [name, value] of Object.entries(env)) if (value === "") delete env[name];
  const child = spawn(process.execPath, [join(repositoryRoot, "cluster/main.ts")], {
    cwd: repositoryRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolveExit) => child.on("exit", (code) => resolveExit(code)));

  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const port = await new Promise<number>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready within ${readyTimeoutMs} ms:\n${output}`)), readyTimeoutMs);
    const check = (): void => {
      const match = /cairn: ready, serving S3 at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveReady(Number(match[1]));
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before ready:\n${output}`));
    });
  });

  let accessKeyId = env.CAIRN_ACCESS_KEY ?? "";
  let secretAccessKey = env.CAIRN_SECRET_KEY ?? "";
  if (accessKeyId === "") {
    const stored = JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8")) as { accessKeyId: string; secretAccessKey: string };
    accessKeyId = stored.accessKeyId;
    secretAccessKey = stored.secretAccessKey;
  }
  let running = true;
  void exited.then(() => (running = false));
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> => {
    if (running) child.kill(signal);
    return exited;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    accessKeyId,
    secretAccessKey,
    child,
    output: () => output,
    peakRssBytes: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      if (!match) throw new Error("no VmHWM in /proc status");
      return Number(match[1]) * 1024;
    },
    stop,
    dispose: async () => {
      await stop("SIGKILL");
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
