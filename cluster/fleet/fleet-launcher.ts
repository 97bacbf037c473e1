/**
 * `cairn fleet up|down|status FILE`: starts, stops and reports the node
 * processes of a fleet file that belong on this machine (their address is a
 * loopback address or one of this machine's interfaces). Nodes elsewhere are
 * listed with the command that runs them there.
 *
 * Files under `<stateDirectory>/run/`, one set per node:
 * | file | written by | holds |
 * |---|---|---|
 * | `<id>.pid` | `fleet up`, when it starts the process | the pid, as text |
 * | `<id>.ready.json` | the node, once it serves; removed on a clean stop | `{ version: 1, pid, incarnation, clusterPort, s3Port }` |
 * | `<id>.log` | the node's stdout and stderr | JSON log lines |
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../runtime/index.ts";
import type { Fleet, FleetFileNode } from "./fleet-file.ts";
import { ensureFleetSecret } from "./fleet-secret.ts";
import { loadRootCredentials } from "../credentials.ts";

/** How long `up` waits for a node to report ready, and `down` for it to exit before SIGKILL. */
const readyWaitMsMax = 60_000;
const exitWaitMsMax = 30_000;
const pollIntervalMs = 100;

/** Format version of `<id>.ready.json`. */
export const readyFileVersion = 1;

export interface ReadyFile {
  readonly version: number;
  readonly pid: number;
  readonly incarnation: number;
  readonly clusterPort: number;
  readonly s3Port: number | undefined;
}

/** The run directory of a fleet and the paths of one node's files in it. */
export function nodeRunFiles(fleet: Fleet, nodeId: string): { directory: string; pid: string; ready: string; log: string } {
  const directory = join(fleet.stateDirectory, "run");
  return { directory, pid: join(directory, `${nodeId}.pid`), ready: join(directory, `${nodeId}.ready.json`), log: join(directory, `${nodeId}.log`) };
}

/** True when `address` names this machine. */
export function isLocalAddress(address: string): boolean {
  if (address === "localhost" || address.startsWith("127.") || address === "::1") return true;
  return Object.values(networkInterfaces()).some((entries) => (entries ?? []).some((entry) => entry.address === address));
}

export type NodeState = "running" | "starting" | "stopped" | "remote";

export interface NodeStatus {
  readonly node: FleetFileNode;
  readonly state: NodeState;
  readonly pid: number | undefined;
  readonly ready: ReadyFile | undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed node whose parent has not reaped it yet still answers signal 0: a zombie is not running
  // (taking it for running kept `fleet up` from restarting a SIGKILLed node).
  return !isZombie(pid);
}

/** True when /proc says the process has exited but was not reaped (Linux; elsewhere false). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name in parentheses, which may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

function readPid(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, "utf8").trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function readReady(path: string): ReadyFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const ready = JSON.parse(readFileSync(path, "utf8")) as ReadyFile;
    return ready.version === readyFileVersion ? ready : undefined;
  } catch {
    // Being written right now; the next look will see it whole.
    return undefined;
  }
}

/** Where each node of the fleet stands, as seen from this machine. */
export function fleetStatus(fleet: Fleet): NodeStatus[] {
  return fleet.nodes.map((node): NodeStatus => {
    if (!isLocalAddress(node.address)) return { node, state: "remote", pid: undefined, ready: undefined };
    const files = nodeRunFiles(fleet, node.id);
    const pid = readPid(files.pid);
    if (pid === undefined || !processAlive(pid)) return { node, state: "stopped", pid: undefined, ready: undefined };
    const ready = readReady(files.ready);
    return { node, state: ready !== undefined && ready.pid === pid ? "running" : "starting", pid, ready };
  });
}

/**
 * Starts every local node that is not running, then waits until each reports
 * ready. Resolves to the statuses; rejects naming the node and the tail of
 * its log when one exits or does not become ready in time.
 */
export async function fleetUp(
  fleet: Fleet,
  options: { readonly cliPath: string; readonly environment?: Record<string, string | undefined> },
): Promise<{ statuses: NodeStatus[]; credentials: ReturnType<typeof loadRootCredentials> }> {
  ensureFleetSecret(fleet.secretPath);
  // Created here, before any node starts, so the nodes of this machine read
  // one file instead of racing to create it.
  mkdirSync(fleet.stateDirectory, { recursive: true });
  const credentials = loadRootCredentials({ dataDir: fleet.stateDirectory, environment: { ...process.env, ...options.environment } });
  const started: { node: FleetFileNode; pid: number }[] = [];
  for (const status of fleetStatus(fleet)) {
    if (status.state !== "stopped") continue;
    const files = nodeRunFiles(fleet, status.node.id);
    mkdirSync(files.directory, { recursive: true });
    rmSync(files.ready, { force: true });
    const log = openSync(files.log, "a");
    const child = spawn(process.execPath, [options.cliPath, "node", "--fleet", fleet.path, "--id", status.node.id], {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, ...options.environment },
    });
    closeSync(log);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`node ${status.node.id}: could not start ${process.execPath}`);
    child.unref();
    writeFileSync(files.pid, `${pid}\n`);
    started.push({ node: status.node, pid });
  }
  const clock = systemClock();
  const deadline = clock.monotonicMs() + readyWaitMsMax;
  for (const { node, pid } of started) {
    const files = nodeRunFiles(fleet, node.id);
    for (;;) {
      const ready = readReady(files.ready);
      if (ready !== undefined && ready.pid === pid) break;
      if (!processAlive(pid)) throw new Error(`node ${node.id} exited before it was ready; the end of ${files.log}:\n${logTail(files.log)}`);
      if (clock.monotonicMs() > deadline) throw new Error(`node ${node.id} was not ready within ${readyWaitMsMax} ms; the end of ${files.log}:\n${logTail(files.log)}`);
      await clock.sleep(pollIntervalMs);
    }
  }
  return { statuses: fleetStatus(fleet), credentials };
}

/** Stops every local node: SIGTERM, then SIGKILL for one still alive after `exitWaitMsMax`. */
export async function fleetDown(fleet: Fleet): Promise<{ node: FleetFileNode; outcome: "stopped" | "killed" | "not running" }[]> {
  const clock = systemClock();
  const running = fleetStatus(fleet).filter((status) => status.pid !== undefined);
  for (const status of running) process.kill(status.pid!, "SIGTERM");
  const deadline = clock.monotonicMs() + exitWaitMsMax;
  const outcomes = new Map<string, "stopped" | "killed">();
  for (const status of running) {
    while (processAlive(status.pid!) && clock.monotonicMs() < deadline) await clock.sleep(pollIntervalMs);
    if (processAlive(status.pid!)) {
      process.kill(status.pid!, "SIGKILL");
      outcomes.set(status.node.id, "killed");
    } else {
      outcomes.set(status.node.id, "stopped");
    }
    const files = nodeRunFiles(fleet, status.node.id);
    rmSync(files.pid, { force: true });
    rmSync(files.ready, { force: true });
  }
  return fleet.nodes.filter((node) => isLocalAddress(node.address)).map((node) => ({ node, outcome: outcomes.get(node.id) ?? "not running" }));
}

/** A status table for people. */
export function formatFleetStatus(fleet: Fleet, statuses: readonly NodeStatus[]): string {
  const rows = [["node", "roles", "state", "pid", "incarnation", "cluster", "s3", "disks"]];
  for (const { node, state, pid, ready } of statuses) {
    rows.push([
      node.id,
      [...node.roles].sort().join(","),
      state,
      pid === undefined ? "-" : String(pid),
      ready === undefined ? "-" : String(ready.incarnation),
      `${node.address}:${node.clusterPort}`,
      node.s3Port === undefined ? "-" : `http://${node.address}:${node.s3Port}`,
      String(node.disks.length),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
  const remote = statuses.filter((status) => status.state === "remote");
  if (remote.length > 0) {
    lines.push("", "nodes on other machines run there with:");
    for (const { node } of remote) lines.push(`  cairn node --fleet ${fleet.path} --id ${node.id}`);
  }
  return `fleet ${fleet.name} (${fleet.path})\n${lines.join("\n")}`;
}

function logTail(path: string): string {
  if (!existsSync(path)) return "(no log)";
  return readFileSync(path, "utf8").split("\n").slice(-20).join("\n");
}
