/**
 * The stored formats of membership. Every value is a `record-codec.ts`
 * envelope `[kind, version, msgpack]`; the msgpack body is a plain map with
 * exactly the fields below. Readers accept every version ever written.
 *
 * | key                                  | kind (id) | v | fields                                                                 |
 * |--------------------------------------|-----------|---|------------------------------------------------------------------------|
 * | `("n", nodeId)`                      | node (10) | 1 | nodeId, address, roles[], disks[{diskId, weight}], incarnation, registeredAtMs |
 * | `("nl", nodeId)`                     | nodeLease (11) | 1 | nodeId, incarnation, expiresAtMs, renewedAtMs                     |
 * | `("ml",)`                            | managerLease (12) | 1 | nodeId, incarnation, term, expiresAtMs                         |
 * | `("own", "pg", pg)` / `("own", "bp", bucket, partition)` | unitOwner (13) | 1 | nodeId, incarnation, epoch           |
 * | `("pu", bucket, partition)`          | partitionUnit (14) | 1 | registeredAtMs                                                |
 * | `("od", "disk"|"node", id)`          | operatorDirective (23) | 1 | setAtMs, setBy (who asked: the operator's node id)          |
 * | `("m",)`                             | clusterMap (9) | 1 | placement's `ClusterMap` (the one-node server's format)          |
 * | `("m",)`                             | clusterMap (9) | 2 | the fleet map: epoch, managerTerm, nodes[], placement, placementGroups[], partitions[] (`FleetMap`); a node may carry `draining: true` (added later; absent = false) |
 *
 * Times are milliseconds of the writer's wall clock (`Clock.nowMs`); a
 * reader on another node compares them with its own clock only after adding
 * `clockSkewMsMax` (leases.ts).
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { decodeRecordOf, encodeRecord, type RecordKind } from "../metadata/index.ts";
import type { ClusterMap } from "../placement/index.ts";

const NodeId = Type.String({ minLength: 1, maxLength: 128 });
const Incarnation = Type.Integer({ minimum: 1 });
const Epoch = Type.Integer({ minimum: 0 });
const TimeMs = Type.Number();

export const NodeRole = Type.Union([Type.Literal("storage"), Type.Literal("gateway")]);
export type NodeRole = Static<typeof NodeRole>;

export const NodeDisk = Type.Object({ diskId: Type.String({ minLength: 1, maxLength: 256 }), weight: Type.Number({ minimum: 0 }) });
export type NodeDisk = Static<typeof NodeDisk>;

/** A node's registration; `incarnation` is the per-node counter (never cleared, so it only grows). */
export const NodeRecord = Type.Object({
  nodeId: NodeId,
  address: Type.String({ maxLength: 1024 }),
  roles: Type.Array(NodeRole, { maxItems: 2 }),
  disks: Type.Array(NodeDisk, { maxItems: 256 }),
  incarnation: Incarnation,
  registeredAtMs: TimeMs,
});
export type NodeRecord = Static<typeof NodeRecord>;

/** A node's lease: held by one incarnation of the node until `expiresAtMs` (holder's clock). */
export const NodeLease = Type.Object({ nodeId: NodeId, incarnation: Incarnation, expiresAtMs: TimeMs, renewedAtMs: TimeMs });
export type NodeLease = Static<typeof NodeLease>;

/** The ClusterManager's lease; `term` grows by one at every acquisition by a new holder. */
export const ManagerLease = Type.Object({ nodeId: NodeId, incarnation: Incarnation, term: Type.Integer({ minimum: 1 }), expiresAtMs: TimeMs });
export type ManagerLease = Static<typeof ManagerLease>;

/** Who owns a unit (PG or bucket partition), and from which map epoch. */
export const UnitOwner = Type.Object({ nodeId: NodeId, incarnation: Incarnation, epoch: Epoch });
export type UnitOwner = Static<typeof UnitOwner>;

export const PartitionUnitRecord = Type.Object({ registeredAtMs: TimeMs });
export type PartitionUnitRecord = Static<typeof PartitionUnitRecord>;

/** An operator's directive (a disk out, a node draining): in force while the record exists. */
export const OperatorDirectiveRecord = Type.Object({ setAtMs: TimeMs, setBy: Type.String({ maxLength: 256 }) });
export type OperatorDirectiveRecord = Static<typeof OperatorDirectiveRecord>;

export const NodeState = Type.Union([Type.Literal("joining"), Type.Literal("up"), Type.Literal("down")]);
/** `joining`: alive but not yet given units; `up`: alive and eligible; `down`: its lease lapsed. */
export type NodeState = Static<typeof NodeState>;

export const FleetNode = Type.Object({
  nodeId: NodeId,
  address: Type.String({ maxLength: 1024 }),
  roles: Type.Array(NodeRole, { maxItems: 2 }),
  incarnation: Incarnation,
  state: NodeState,
  /** An operator asked to drain it: its disks are out and it is given no units. Absent: not draining. */
  draining: Type.Optional(Type.Literal(true)),
});
export type FleetNode = Static<typeof FleetNode>;

export const PlacementGroupAssignment = Type.Object({ placementGroupId: Type.Integer({ minimum: 0 }), nodeId: NodeId, epoch: Epoch });
export type PlacementGroupAssignment = Static<typeof PlacementGroupAssignment>;

export const PartitionAssignment = Type.Object({
  bucket: Type.String({ minLength: 1, maxLength: 255 }),
  partition: Type.Integer({ minimum: 0 }),
  nodeId: NodeId,
  epoch: Epoch,
});
export type PartitionAssignment = Static<typeof PartitionAssignment>;

// Placement's map is embedded as a value owned by cluster/placement/: only
// the fields membership relies on are checked, the rest (pins, versions) is
// carried through untouched.
const PlacementMap = Type.Object(
  {
    epoch: Epoch,
    placementGroupCount: Type.Integer({ minimum: 1 }),
    hosts: Type.Array(
      Type.Object(
        {
          hostId: Type.String(),
          disks: Type.Array(Type.Object({ diskId: Type.String(), weight: Type.Number(), state: Type.Union([Type.Literal("in"), Type.Literal("out")]) }, { additionalProperties: true })),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: true },
);

/**
 * The fleet map (clusterMap v2). `placement.epoch` equals `epoch`; hosts of
 * `placement` are nodes (hostId = nodeId), the failure domain. Assignments
 * list assigned units only, sorted by unit; each carries the epoch at which
 * it was made, which is the epoch its owner claims (unit-owner.ts).
 */
export const FleetMapSchema = Type.Object({
  epoch: Epoch,
  /** Term of the manager that wrote this map (0: converted from v1, never written by a manager). */
  managerTerm: Type.Integer({ minimum: 0 }),
  nodes: Type.Array(FleetNode, { maxItems: 1024 }),
  placement: PlacementMap,
  placementGroups: Type.Array(PlacementGroupAssignment),
  partitions: Type.Array(PartitionAssignment),
});
export interface FleetMap extends Omit<Static<typeof FleetMapSchema>, "placement"> {
  readonly placement: ClusterMap;
}

const clusterMapFleetVersion = 2;

function check<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  // A stored value that does not match its own kind and version was not
  // written by this code: corruption or a bug, never something to guess at.
  if (!Value.Check(schema, value)) {
    const first = [...Value.Errors(schema, value)][0];
    throw new Error(`${what}: stored value does not match its format (${first?.path ?? ""} ${first?.message ?? ""})`);
  }
  return value;
}

function decodeV1<T extends TSchema>(kind: RecordKind, schema: T, bytes: Uint8Array): Static<T> {
  const record = decodeRecordOf(kind, bytes);
  if (record.version !== 1) throw new Error(`${kind}: unknown format version ${record.version}`);
  return check(schema, record.value, kind);
}

export const encodeNodeRecord = (value: NodeRecord): Uint8Array => encodeRecord("node", 1, value);
export const decodeNodeRecord = (bytes: Uint8Array): NodeRecord => decodeV1("node", NodeRecord, bytes);
export const encodeNodeLease = (value: NodeLease): Uint8Array => encodeRecord("nodeLease", 1, value);
export const decodeNodeLease = (bytes: Uint8Array): NodeLease => decodeV1("nodeLease", NodeLease, bytes);
export const encodeManagerLease = (value: ManagerLease): Uint8Array => encodeRecord("managerLease", 1, value);
export const decodeManagerLease = (bytes: Uint8Array): ManagerLease => decodeV1("managerLease", ManagerLease, bytes);
export const encodeUnitOwner = (value: UnitOwner): Uint8Array => encodeRecord("unitOwner", 1, value);
export const decodeUnitOwner = (bytes: Uint8Array): UnitOwner => decodeV1("unitOwner", UnitOwner, bytes);
export const encodePartitionUnit = (value: PartitionUnitRecord): Uint8Array => encodeRecord("partitionUnit", 1, value);
export const decodePartitionUnit = (bytes: Uint8Array): PartitionUnitRecord => decodeV1("partitionUnit", PartitionUnitRecord, bytes);
export const encodeOperatorDirective = (value: OperatorDirectiveRecord): Uint8Array => encodeRecord("operatorDirective", 1, value);
export const decodeOperatorDirective = (bytes: Uint8Array): OperatorDirectiveRecord => decodeV1("operatorDirective", OperatorDirectiveRecord, bytes);

/** Encodes the fleet map as clusterMap v2. */
export function encodeFleetMap(map: FleetMap): Uint8Array {
  return encodeRecord("clusterMap", clusterMapFleetVersion, map);
}

/**
 * Decodes a stored cluster map of any version as a fleet map. A v1 value is
 * placement's map alone (the one-node server): it becomes a fleet map with
 * no nodes and no assignments at the same epoch, which the manager fills in
 * on its first tick.
 */
export function decodeFleetMap(bytes: Uint8Array): FleetMap {
  const record = decodeRecordOf("clusterMap", bytes);
  if (record.version === 1) {
    const placement = check(PlacementMap, record.value, "clusterMap v1") as unknown as ClusterMap;
    return { epoch: placement.epoch, managerTerm: 0, nodes: [], placement, placementGroups: [], partitions: [] };
  }
  if (record.version === clusterMapFleetVersion) {
    return check(FleetMapSchema, record.value, "clusterMap v2") as unknown as FleetMap;
  }
  throw new Error(`clusterMap: unknown format version ${record.version}`);
}

/** Placement's map out of a stored cluster map of any version: what a reader of v1 (`cluster-map-store.ts`) should switch to. */
export function decodePlacementMap(bytes: Uint8Array): ClusterMap {
  return decodeFleetMap(bytes).placement;
}
