/**
 * A real fleet of `cairn node` processes on 127.0.0.1 for tests and benches:
 * writes a fleet file with free ports, drives `bin/cairn fleet up|status|down`,
 * reads the fleet map from the shared lmdb environment, and gives an S3 client
 * per gateway.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  /** The fleet file's `repair` section (heal and scrub schedule), when a test wants it faster than the defaults. */
  readonly repair?: { readonly healIntervalMs?: number; readonly scrubIntervalMs?: number };
}

export interface TestFleet {
  readonly directory: string;
  readonly fleetPath: string;
  readonly nodeIds: readonly string[];
  readonly clients: ReadonlyMap<string, S3Client>;
  readonly store: MetaStore;
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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/** Writes the fleet file, runs `fleet up`, and waits until every node is up and every PG assigned. */
export async function startFleet(options: FleetOptions): Promise<TestFleet> {
  const directory = mkdtempSync(join(tmpdir(), "cairn-fleet-"));
  const fleetPath = join(directory, "fleet.json");
  const nodes = [];
  const endpoints = new Map<string, string>();
  for (const id of options.nodeIds) {
    const clusterPort = await freePort();
    const s3Port = await freePort();
    endpoints.set(id, `http://127.0.0.1:${s3Port}`);
    const disks = Array.from({ length: options.disksPerNode }, (_, index) => `${id}/d${index}`);
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
  const up = run("fleet", "up", fleetPath);
  if (up.code !== 0) {
    run("fleet", "down", fleetPath);
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
    cairn: run,
    currentMap,
    waitForMap,
    pidOf: (nodeId) => Number(readFileSync(join(directory, "state", "run", `${nodeId}.pid`), "utf8")),
    async dispose() {
      const down = run("fleet", "down", fleetPath);
      if (down.code !== 0) console.log(`fleet down: ${down.stdout}\n${down.stderr}`);
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
