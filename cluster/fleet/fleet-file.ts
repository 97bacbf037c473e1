/**
 * The fleet file: one JSON document naming every node of a fleet, its roles,
 * addresses, ports and disk directories. `cairn fleet up|down|status FILE`
 * reads it to manage the local node processes, and `cairn node --fleet FILE
 * --id ID` reads it to run one node. Every machine of a deployment holds the
 * same file.
 *
 * | field | meaning |
 * |---|---|
 * | `version` | format version of this file: 1 |
 * | `name` | the fleet's name (logs, status) |
 * | `secretFile` | file holding the fleet secret that node-to-node connections authenticate with (mode 0600; `fleet up` creates it when missing) |
 * | `metadata` | `{ "backend": "lmdb", "path": DIR }`: one lmdb environment shared by the node processes of one machine; or `{ "backend": "foundationdb", "clusterFile": FILE, "keyPrefix": TEXT, "apiVersion"?: N, "libraryPath"?: FILE }` for a fleet on many machines |
 * | `stateDirectory` | root credentials, pid files and logs of `fleet up` |
 * | `placementGroupCount` | fixed when the fleet is created |
 * | `storageClasses` | `NAME=K+M,…` (as `CAIRN_STORAGE_CLASSES`); default `STANDARD=4+2,REDUCED_REDUNDANCY=4+1` |
 * | `writeQuorum` | `k+N` (as `CAIRN_WRITE_QUORUM`); default `k+1` |
 * | `repair` | optional `{ healIntervalMs?, scrubIntervalMs?, healBytesPerSecondMax?, scrubBytesPerSecondMax?, orphanSweepIntervalMs? }`: how often each node heals its PGs and scrubs its disks, their pace, and how often it sweeps its disks for orphaned shards (defaults 10 s, 24 h, 64 MiB/s, 32 MiB/s, 1 h) |
 * | `nodes[]` | `{ id, roles, address, clusterPort, s3Port?, adminPort?, disks[] }`: `roles` ⊆ {storage, gateway}; a gateway needs `s3Port`, a storage node at least one disk directory; `adminPort` (any node, optional) serves `/metrics` and `/health` only, so a storage-only node can be scraped |
 *
 * Relative paths are relative to the fleet file's directory. Each node is its
 * own failure domain (a placement host).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/** Format version of fleet files this code writes; readers accept every version ever written. */
export const fleetFileVersion = 1;

const identifier = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$" });
const port = Type.Integer({ minimum: 1, maximum: 65535 });

const FleetNodeSchema = Type.Object(
  {
    id: identifier,
    roles: Type.Array(Type.Union([Type.Literal("storage"), Type.Literal("gateway")]), { minItems: 1, maxItems: 2, uniqueItems: true }),
    address: Type.String({ minLength: 1, maxLength: 255 }),
    clusterPort: port,
    s3Port: Type.Optional(port),
    adminPort: Type.Optional(port),
    disks: Type.Array(Type.String({ minLength: 1 }), { maxItems: 64 }),
  },
  { additionalProperties: false },
);

export const FleetFileSchema = Type.Object(
  {
    version: Type.Literal(fleetFileVersion),
    name: identifier,
    secretFile: Type.String({ minLength: 1 }),
    metadata: Type.Union([
      Type.Object({ backend: Type.Literal("lmdb"), path: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      Type.Object(
        {
          backend: Type.Literal("foundationdb"),
          clusterFile: Type.String({ minLength: 1 }),
          keyPrefix: Type.String({ minLength: 1, maxLength: 256 }),
          apiVersion: Type.Optional(Type.Integer({ minimum: 610, maximum: 10_000 })),
          libraryPath: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ]),
    stateDirectory: Type.String({ minLength: 1 }),
    placementGroupCount: Type.Integer({ minimum: 1, maximum: 65_536 }),
    storageClasses: Type.Optional(Type.String({ minLength: 1 })),
    writeQuorum: Type.Optional(Type.String({ minLength: 1 })),
    repair: Type.Optional(
      Type.Object(
        {
          healIntervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 86_400_000 })),
          scrubIntervalMs: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 365 * 86_400_000 })),
          healBytesPerSecondMax: Type.Optional(Type.Integer({ minimum: 1_048_576 })),
          scrubBytesPerSecondMax: Type.Optional(Type.Integer({ minimum: 1_048_576 })),
          orphanSweepIntervalMs: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 365 * 86_400_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    nodes: Type.Array(FleetNodeSchema, { minItems: 1, maxItems: 1024 }),
  },
  { additionalProperties: false },
);

export type FleetFileContents = Static<typeof FleetFileSchema>;
export type FleetNodeContents = Static<typeof FleetNodeSchema>;

/** One node of a fleet, with its paths resolved. */
export interface FleetFileNode {
  readonly id: string;
  readonly roles: ReadonlySet<"storage" | "gateway">;
  readonly address: string;
  readonly clusterPort: number;
  readonly s3Port: number | undefined;
  /** The port serving only `/metrics` and `/health` (no S3), when the file gives one. */
  readonly adminPort: number | undefined;
  /** Absolute disk directories; the disk ids are `<node id>/disk-<index>`. */
  readonly disks: readonly { readonly diskId: string; readonly directory: string }[];
}

/** Where the fleet's metadata lives, paths resolved. */
export type FleetMetadata =
  | { readonly backend: "lmdb"; readonly path: string }
  | { readonly backend: "foundationdb"; readonly clusterFile: string; readonly keyPrefix: string; readonly apiVersion?: number; readonly libraryPath?: string };

/** A validated fleet file, paths resolved against its directory. */
export interface Fleet {
  readonly path: string;
  readonly name: string;
  readonly secretPath: string;
  readonly metadata: FleetMetadata;
  readonly stateDirectory: string;
  readonly placementGroupCount: number;
  readonly storageClasses: string | undefined;
  readonly writeQuorum: string | undefined;
  /** Overrides of the repair schedule and pace (the fleet timing's defaults otherwise). */
  readonly repair: {
    readonly healIntervalMs?: number;
    readonly scrubIntervalMs?: number;
    readonly healBytesPerSecondMax?: number;
    readonly scrubBytesPerSecondMax?: number;
    readonly orphanSweepIntervalMs?: number;
  };
  readonly nodes: readonly FleetFileNode[];
}

/** A fleet file that cannot be used; the message names the file and what is wrong. */
export class FleetFileError extends Error {}

/** Reads and validates a fleet file. Throws `FleetFileError` with every problem found. */
export function readFleetFile(path: string): Fleet {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new FleetFileError(`${absolute}: no such fleet file`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(absolute, "utf8"));
  } catch (error) {
    throw new FleetFileError(`${absolute}: not valid JSON (${(error as Error).message})`);
  }
  return parseFleet(absolute, parsed);
}

/** Validates parsed fleet file contents; `path` resolves relative paths and names the file in errors. */
export function parseFleet(path: string, contents: unknown): Fleet {
  const problems: string[] = [];
  if (!Value.Check(FleetFileSchema, contents)) {
    // TypeBox reports one error per failing schema node; the first few say enough.
    for (const error of [...Value.Errors(FleetFileSchema, contents)].slice(0, 8)) {
      problems.push(`${error.path === "" ? "(top level)" : error.path}: ${error.message}`);
    }
    throw new FleetFileError(`${path}: ${problems.join("; ")}`);
  }
  const file = contents;
  const base = dirname(path);
  const at = (relative: string): string => (isAbsolute(relative) ? relative : resolve(base, relative));

  const ids = new Set<string>();
  const endpoints = new Set<string>();
  const directories = new Set<string>();
  const nodes = file.nodes.map((node, index): FleetFileNode => {
    const where = `nodes[${index}] (${node.id})`;
    if (ids.has(node.id)) problems.push(`${where}: the id is used twice`);
    ids.add(node.id);
    const roles = new Set(node.roles);
    for (const [label, value] of [["clusterPort", node.clusterPort], ["s3Port", node.s3Port], ["adminPort", node.adminPort]] as const) {
      if (value === undefined) continue;
      const endpoint = `${node.address}:${value}`;
      if (endpoints.has(endpoint)) problems.push(`${where}: ${label} ${endpoint} is used twice`);
      endpoints.add(endpoint);
    }
    if (roles.has("gateway") && node.s3Port === undefined) problems.push(`${where}: a gateway node needs an s3Port`);
    if (roles.has("storage") && node.disks.length === 0) problems.push(`${where}: a storage node needs at least one disk directory`);
    if (!roles.has("storage") && node.disks.length > 0) problems.push(`${where}: only a storage node has disks`);
    const disks = node.disks.map((disk, diskIndex) => {
      const directory = at(disk);
      if (directories.has(directory)) problems.push(`${where}: disk directory ${directory} is used twice`);
      directories.add(directory);
      return { diskId: `${node.id}/disk-${diskIndex}`, directory };
    });
    return { id: node.id, roles, address: node.address, clusterPort: node.clusterPort, s3Port: node.s3Port, adminPort: node.adminPort, disks };
  });
  if (!nodes.some((node) => node.roles.has("gateway"))) problems.push("no node has the gateway role: nothing would serve S3");
  if (!nodes.some((node) => node.roles.has("storage"))) problems.push("no node has the storage role: nothing would store data");
  if (problems.length > 0) throw new FleetFileError(`${path}: ${problems.join("; ")}`);
  return {
    path,
    name: file.name,
    secretPath: at(file.secretFile),
    metadata:
      file.metadata.backend === "lmdb"
        ? { backend: "lmdb", path: at(file.metadata.path) }
        : {
            backend: "foundationdb",
            clusterFile: at(file.metadata.clusterFile),
            keyPrefix: file.metadata.keyPrefix,
            ...(file.metadata.apiVersion === undefined ? {} : { apiVersion: file.metadata.apiVersion }),
            ...(file.metadata.libraryPath === undefined ? {} : { libraryPath: at(file.metadata.libraryPath) }),
          },
    stateDirectory: at(file.stateDirectory),
    placementGroupCount: file.placementGroupCount,
    storageClasses: file.storageClasses,
    writeQuorum: file.writeQuorum,
    repair: { ...(file.repair ?? {}) },
    nodes,
  };
}

/** The node named `id`, or a `FleetFileError` listing the ids there are. */
export function fleetNode(fleet: Fleet, id: string): FleetFileNode {
  const node = fleet.nodes.find((candidate) => candidate.id === id);
  if (node === undefined) throw new FleetFileError(`${fleet.path}: no node "${id}" (nodes: ${fleet.nodes.map((candidate) => candidate.id).join(", ")})`);
  return node;
}
