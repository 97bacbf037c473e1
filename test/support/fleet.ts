/**
 * A real fleet of `cairn node` processes on 127.0.0.1 for tests and benches:
 * writes a fleet file with free ports, drives `bin/cairn fleet up|status|down`,
 * reads the fleet map from the shared lmdb environment, and gives an S3 client
 * per gateway.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFleetMap, type FleetMap } from "../../cluster/membership/index.ts";
import { openLmdbStore, type MetaStore } from "../../cluster/metadata/index.ts";
import { systemClock } from "../../runtime/index.ts";
import { repositoryRoot, testAccessKeyId, testSecretAccessKey } from "./server.ts";

const clock = systemClock();
const cairn = join(repositoryRoot, "bin/cairn");

export interface FleetOptions {
  readonly nodeIds: readonly string[];
  readonly disksPerNode: number;
  readonly placementGroupCount: number;
  readonly storageClasses: string;
  /** The fleet file's `repair` section (heal, scrub and orphan sweep schedule), when a test wants it faster than the defaults. */
  readonly repair?: { readonly healIntervalMs?: number; readonly scrubIntervalMs?: number; readonly orphanSweepIntervalMs?: number };
  /**
   * Puts each disk directory on a tmpfs of its own of this size (so a test can fill one disk for real),
   * unmounted by `dispose`. Needs root: elsewhere the disks stay on the shared filesystem and
   * `diskFilesystems` says why.
   */
  readonly diskFilesystemBytes?: number;
}

/** Whether each disk directory has a filesystem of its own (`FleetOptions.diskFilesystemBytes`). */
export type DiskFilesystems = { readonly mounted: true; readonly sizeBytes: number } | { readonly mounted: false; readonly why: string };

export interface TestFleet {
  readonly directory: string;
  readonly fleetPath: string;
  readonly nodeIds: readonly string[];
  readonly clients: ReadonlyMap<string, S3Client>;
  readonly store: MetaStore;
  /** Each disk's directory by disk id (`NODE/disk-K`, in the directory `NODE/dK`). */
  readonly diskDirectories: ReadonlyMap<string, string>;
  readonly diskFilesystems: DiskFilesystems;
  /** Runs `bin/cairn ARGS` with the test credentials; never throws on a non-zero exit. */
  cairn(...args: string[]): { code: number | null; stdout: string; stderr: string };
  currentMap(): Promise<FleetMap>;
  /** Polls the stored map until `condition` holds; throws after `boundMs`. */
  waitForMap(label: string, condition: (map: FleetMap) => boolean, boundMs?: number): Promise<FleetMap>;
  /** The pid `fleet up` recorded for a node. */
  pidOf(nodeId: string): number;
  /** `fleet down`, close the store, remove the directory (kept with CAIRN_KEEP_FLEET set). */
  dispose(): Promise<void>;
}

/** Ports this process handed out already: two nodes of one fleet must never share one. */
const portsHandedOut = new Set<number>();
/** Below Linux's ephemeral range (32768–60999 by default), so no outgoing connection takes the port before its node binds it. */
const portRange = { first: 20_000, end: 32_000 } as const;

/**
 * A port on 127.0.0.1 nothing listens on now and this process has not handed out before. Ports
 * the kernel picks for `listen(0)` came back twice within one fleet about once in 400 fleets,
 * and lie in the range outgoing connections draw from.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1_000; attempt += 1) {
    const port = portRange.first + Math.floor(Math.random() * (portRange.end - portRange.first));
    if (portsHandedOut.has(port)) continue;
    if (await canListen(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${portRange.first}–${portRange.end - 1} after 1000 attempts`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Writes the fleet file, runs `fleet up`, and waits until every node is up and every PG assigned. */
export async function startFleet(options: FleetOptions): Promise<TestFleet> {
  const directory = mkdtempSync(join(tmpdir(), "cairn-fleet-"));
  const fleetPath = join(directory, "fleet.json");
  const diskDirectories = new Map<string, string>();
  const nodes = [];
  const endpoints = new Map<string, string>();
  for (const id of options.nodeIds) {
    const clusterPort = await freePort();
    const s3Port = await freePort();
    endpoints.set(id, `http://127.0.0.1:${s3Port}`);
    const disks = Array.from({ length: options.disksPerNode }, (_, index) => `${id}/d${index}`);
    // Disk ids as cluster/fleet/fleet-file.ts names a node's disks: `NODE/disk-INDEX`, in the file's order.
    disks.forEach((disk, index) => diskDirectories.set(`${id}/disk-${index}`, join(directory, disk)));
    nodes.push({ id, roles: ["storage", "gateway"], address: "127.0.0.1", clusterPort, s3Port, disks });
  }
  writeFileSync(
    fleetPath,
    JSON.stringify({
      version: 1,
      name: "test",
      secretFile: "fleet.secret",
      metadata: { backend: "lmdb", path: "meta" },
      stateDirectory: "state",
      placementGroupCount: options.placementGroupCount,
      storageClasses: options.storageClasses,
      ...(options.repair === undefined ? {} : { repair: options.repair }),
      nodes,
    }),
  );
  const run = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const result = spawnSync(cairn, args, {
      cwd: repositoryRoot,
      encoding: "utf8",
      env: { ...process.env, CAIRN_ACCESS_KEY: testAccessKeyId, CAIRN_SECRET_KEY: testSecretAccessKey },
      timeout: 120_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const diskFilesystems = options.diskFilesystemBytes === undefined ? null : mountDiskFilesystems([...diskDirectories.values()], options.diskFilesystemBytes);
  const up = run("fleet", "up", fleetPath);
  if (up.code !== 0) {
    run("fleet", "down", fleetPath);
    unmountAll(directory);
    throw new Error(`fleet up failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  }
  const store = await openLmdbStore({ path: join(directory, "meta") });
  const clients = new Map<string, S3Client>();
  for (const [id, endpoint] of endpoints) {
    clients.set(
      id,
      new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: testAccessKeyId, secretAccessKey: testSecretAccessKey },
        maxAttempts: 1,
      }),
    );
  }
  const currentMap = async (): Promise<FleetMap> => {
    const map = await store.transact((tx) => readFleetMap(tx));
    if (map === undefined) throw new Error("no fleet map stored");
    return map;
  };
  const waitForMap = async (label: string, condition: (map: FleetMap) => boolean, boundMs = 60_000): Promise<FleetMap> => {
    const deadline = clock.monotonicMs() + boundMs;
    for (;;) {
      const map = await currentMap();
      if (condition(map)) return map;
      if (clock.monotonicMs() > deadline) throw new Error(`${label}: not reached within ${boundMs} ms; map epoch ${map.epoch}: ${JSON.stringify(map.nodes)}`);
      await clock.sleep(50);
    }
  };
  const fleet: TestFleet = {
    directory,
    fleetPath,
    nodeIds: options.nodeIds,
    clients,
    store,
    diskDirectories,
    diskFilesystems: diskFilesystems ?? { mounted: false, why: "not asked for" },
    cairn: run,
    currentMap,
    waitForMap,
    pidOf: (nodeId) => Number(readFileSync(join(directory, "state", "run", `${nodeId}.pid`), "utf8")),
    async dispose() {
      const down = run("fleet", "down", fleetPath);
      if (down.code !== 0) console.log(`fleet down: ${down.stdout}\n${down.stderr}`);
      // Before the directory is removed (its mount points would be busy) and even when it is kept.
      unmountAll(directory);
      await store.close();
      if (process.env.CAIRN_KEEP_FLEET === undefined) rmSync(directory, { recursive: true, force: true });
      else console.log(`fleet directory kept: ${directory}`);
    },
  };
  try {
    await waitForMap(
      "all nodes up",
      (map) => map.nodes.filter((node) => node.state === "up").length === options.nodeIds.length && map.placementGroups.length === options.placementGroupCount,
    );
  } catch (error) {
    await fleet.dispose();
    throw error;
  }
  console.log(up.stdout);
  return fleet;
}

/**
 * Mounts a tmpfs of `sizeBytes` on each directory (root only). On any failure, unmounts what it mounted and
 * reports why, so a test runs on the shared filesystem instead of failing to start.
 */
function mountDiskFilesystems(directories: readonly string[], sizeBytes: number): DiskFilesystems {
  if (process.getuid?.() !== 0) return { mounted: false, why: "mounting a tmpfs per disk needs root" };
  for (const path of directories) {
    mkdirSync(path, { recursive: true });
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0700`, "tmpfs", path], { encoding: "utf8" });
    if (mount.status !== 0) {
      unmountAll(directories);
      return { mounted: false, why: `mount -t tmpfs on ${path} failed: ${(mount.stderr || mount.error?.message || "").trim()}` };
    }
  }
  return { mounted: true, sizeBytes };
}

/**
 * Unmounts every tmpfs under `root` (or each of the paths given), deepest first. A mount still busy (a node
 * process not yet gone) is detached lazily: the kernel frees it once the last file closes.
 */
function unmountAll(root: string | readonly string[]): void {
  const mounts =
    typeof root === "string"
      ? readFileSync("/proc/self/mounts", "utf8")
          .split("\n")
          .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
          .filter((path): path is string => path !== undefined && path.startsWith(`${root}/`))
      : root.filter((path) => readFileSync("/proc/self/mounts", "utf8").includes(` ${path} `));
  for (const path of [...mounts].sort((a, b) => b.length - a.length)) {
    if (spawnSync("umount", [path]).status !== 0) spawnSync("umount", ["-l", path]);
  }
}

/** Deterministic bytes per key, so a read is checked without keeping what was written. */
export function bodyOf(key: string, sizeBytes: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let state = createHash("sha256").update(key).digest().readUInt32LE(0) || 1;
  for (let index = 0; index < sizeBytes; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}
