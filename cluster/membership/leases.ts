/**
 * Node registration, node leases and the manager lease, as functions over
 * MetaStore transactions. Safety never rests on clocks agreeing: a lease
 * only decides *when* someone else may take over; what stops a deposed
 * holder from doing harm is the fencing token checked in the same
 * transaction as every write (the node's incarnation for its lease, the
 * manager's term for the map, the unit's epoch for unit metadata).
 *
 * Clock rule: a holder writes `expiresAtMs` on its own clock; anyone else
 * judges the lease lapsed only once *their* clock passes
 * `expiresAtMs + clockSkewMsMax`. A holder must itself stop acting once its
 * own clock passes the expiry of its last successful renewal (self-fencing),
 * so with skew under `clockSkewMsMax` it has stopped before anyone else starts.
 */
import { assert, fault, type Fault } from "../../runtime/index.ts";
import { managerLeaseKey, nodeKey, nodeLeaseKey, nodeLeaseRange, nodeRange, type MetaStore, type MetaTransaction } from "../metadata/index.ts";
import {
  decodeManagerLease,
  decodeNodeLease,
  decodeNodeRecord,
  encodeManagerLease,
  encodeNodeLease,
  encodeNodeRecord,
  type ManagerLease,
  type NodeDisk,
  type NodeLease,
  type NodeRecord,
  type NodeRole,
} from "./records.ts";

/** Most nodes a fleet may register; every scan of nodes and leases reads at most this many. */
export const fleetNodesMax = 1024;

export interface NodeRegistration {
  readonly nodeId: string;
  readonly address: string;
  readonly roles: readonly NodeRole[];
  readonly disks: readonly NodeDisk[];
}

/** One run of one node: what a lease and an ownership claim name. */
export interface NodeRun {
  readonly nodeId: string;
  readonly incarnation: number;
}

/** True when a lease written on another clock has lapsed by `nowMs` on this one. */
export function leaseLapsed(lease: { readonly expiresAtMs: number }, nowMs: number, clockSkewMsMax: number): boolean {
  return nowMs > lease.expiresAtMs + clockSkewMsMax;
}

/**
 * Registers a run of a node: allocates its next incarnation (one more than
 * any earlier run's), writes its record and a first lease that expires at
 * `nowMs + leaseMs`. Call it before creating the node's host, which must
 * carry the returned incarnation. An older run still alive is refused at its
 * next renewal (`renewNodeLease` answers Fenced) and must stop.
 */
export async function registerNode(
  store: MetaStore,
  registration: NodeRegistration,
  nowMs: number,
  leaseMs: number,
): Promise<{ readonly record: NodeRecord; readonly lease: NodeLease }> {
  assert(registration.nodeId.length > 0, "registerNode: empty nodeId");
  assert(leaseMs > 0, `registerNode: leaseMs must be positive, got ${leaseMs}`);
  const diskIds = new Set(registration.disks.map((disk) => disk.diskId));
  assert(diskIds.size === registration.disks.length, `registerNode ${registration.nodeId}: duplicate disk ids`);
  for (const disk of registration.disks) {
    assert(disk.diskId.length > 0 && Number.isFinite(disk.weight) && disk.weight >= 0, `registerNode ${registration.nodeId}: bad disk ${JSON.stringify(disk)}`);
  }
  return store.transact(async (tx) => {
    const storedBytes = await tx.get(nodeKey(registration.nodeId));
    const previous = storedBytes === undefined ? undefined : decodeNodeRecord(storedBytes);
    const record: NodeRecord = {
      nodeId: registration.nodeId,
      address: registration.address,
      roles: [...registration.roles],
      disks: registration.disks.map((disk) => ({ diskId: disk.diskId, weight: disk.weight })),
      incarnation: (previous?.incarnation ?? 0) + 1,
      registeredAtMs: nowMs,
    };
    const lease: NodeLease = { nodeId: record.nodeId, incarnation: record.incarnation, expiresAtMs: nowMs + leaseMs, renewedAtMs: nowMs };
    tx.set(nodeKey(record.nodeId), encodeNodeRecord(record));
    tx.set(nodeLeaseKey(record.nodeId), encodeNodeLease(lease));
    return { record, lease };
  });
}

/**
 * Extends the lease of `run` to `nowMs + leaseMs`. Fenced when the node's
 * record names another incarnation (a newer run registered: this one is a
 * zombie and must stop for good) or when the node was never registered.
 */
export async function renewNodeLease(tx: MetaTransaction, run: NodeRun, nowMs: number, leaseMs: number): Promise<NodeLease | Fault> {
  const recordBytes = await tx.get(nodeKey(run.nodeId));
  if (recordBytes === undefined) return fault("Fenced", `node ${run.nodeId} is not registered`);
  const record = decodeNodeRecord(recordBytes);
  if (record.incarnation !== run.incarnation) {
    return fault("Fenced", `node ${run.nodeId} run ${run.incarnation} was replaced by run ${record.incarnation}`);
  }
  const lease: NodeLease = { nodeId: run.nodeId, incarnation: run.incarnation, expiresAtMs: nowMs + leaseMs, renewedAtMs: nowMs };
  tx.set(nodeLeaseKey(run.nodeId), encodeNodeLease(lease));
  return lease;
}

/** Every registered node, in nodeId order (at most `fleetNodesMax`). */
export async function readNodeRecords(tx: MetaTransaction): Promise<NodeRecord[]> {
  const range = nodeRange();
  const pairs = await tx.getRange(range.begin, range.end, { limit: fleetNodesMax });
  return pairs.map((pair) => decodeNodeRecord(pair.value));
}

/** Every node lease by nodeId (at most `fleetNodesMax`). */
export async function readNodeLeases(tx: MetaTransaction): Promise<Map<string, NodeLease>> {
  const range = nodeLeaseRange();
  const pairs = await tx.getRange(range.begin, range.end, { limit: fleetNodesMax });
  return new Map(pairs.map((pair) => decodeNodeLease(pair.value)).map((lease) => [lease.nodeId, lease]));
}

/** The manager lease as stored, if any. */
export async function readManagerLease(tx: MetaTransaction): Promise<ManagerLease | undefined> {
  const bytes = await tx.get(managerLeaseKey());
  return bytes === undefined ? undefined : decodeManagerLease(bytes);
}

export interface ManagerLeaseTerms {
  readonly nowMs: number;
  readonly leaseMs: number;
  readonly clockSkewMsMax: number;
}

/**
 * Acquires or renews the manager lease for `candidate`. The holder renews
 * and keeps its term; anyone else gets the lease only when there is none or
 * the stored one has lapsed (by this clock, after the skew allowance), and
 * then with `term + 1`. Fenced when another holder's lease is still valid.
 */
export async function acquireManagerLease(tx: MetaTransaction, candidate: NodeRun, terms: ManagerLeaseTerms): Promise<ManagerLease | Fault> {
  assert(terms.leaseMs > 0 && terms.clockSkewMsMax >= 0, "acquireManagerLease: leaseMs must be positive and clockSkewMsMax non-negative");
  const stored = await readManagerLease(tx);
  const holds = stored !== undefined && stored.nodeId === candidate.nodeId && stored.incarnation === candidate.incarnation;
  if (stored !== undefined && !holds && !leaseLapsed(stored, terms.nowMs, terms.clockSkewMsMax)) {
    return fault("Fenced", `manager lease held by ${stored.nodeId}#${stored.incarnation} (term ${stored.term}) until ${stored.expiresAtMs}`);
  }
  const term = stored === undefined ? 1 : holds ? stored.term : stored.term + 1;
  const lease: ManagerLease = { nodeId: candidate.nodeId, incarnation: candidate.incarnation, term, expiresAtMs: terms.nowMs + terms.leaseMs };
  tx.set(managerLeaseKey(), encodeManagerLease(lease));
  return lease;
}

/**
 * Gives the lease up at once (a clean stop), keeping the term so that the
 * next holder's term is still larger. Does nothing unless `holder` holds `term`.
 */
export async function releaseManagerLease(tx: MetaTransaction, holder: NodeRun, term: number): Promise<void> {
  const stored = await readManagerLease(tx);
  if (stored === undefined || stored.term !== term || stored.nodeId !== holder.nodeId || stored.incarnation !== holder.incarnation) return;
  // An expiry far in the past reads as lapsed whatever the reader's skew allowance.
  tx.set(managerLeaseKey(), encodeManagerLease({ ...stored, expiresAtMs: Number.MIN_SAFE_INTEGER }));
}

/**
 * The check every cluster-map write makes in its own transaction: Fenced
 * unless the stored manager lease still carries `term`. The read puts the
 * lease key in the transaction's read set, so a concurrent takeover makes
 * the write conflict and retry, and the retry sees the new term.
 */
export async function checkManagerTerm(tx: MetaTransaction, term: number): Promise<Fault | undefined> {
  const stored = await readManagerLease(tx);
  if (stored === undefined || stored.term !== term) {
    return fault("Fenced", `manager term ${term} is over (stored term ${stored?.term ?? "none"})`);
  }
  return undefined;
}
