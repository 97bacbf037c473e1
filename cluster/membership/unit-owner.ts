/**
 * Units and their owners. A unit is what the ClusterManager assigns to a
 * node: a placement group or a bucket partition. Each has one owner record
 * `("own", …)` → {nodeId, incarnation, epoch}: the run that claimed it and
 * the map epoch of the assignment it claimed under.
 *
 * Fencing by epoch on every metadata write: a unit's writes call
 * `checkOwner` inside their own transaction. The read puts the owner key in
 * the transaction's read set, so a claim by a newer owner that commits first
 * makes the older owner's write conflict, retry, and then see `Fenced`. A
 * deposed owner can therefore never commit after its successor has claimed.
 */
import { fault, type Fault } from "../../runtime/index.ts";
import { bucketPartitionOwnerKey, placementGroupOwnerKey, type MetaTransaction } from "../metadata/index.ts";
import { decodeUnitOwner, encodeUnitOwner, type UnitOwner } from "./records.ts";

export type Unit =
  | { readonly kind: "placementGroup"; readonly placementGroupId: number }
  | { readonly kind: "bucketPartition"; readonly bucket: string; readonly partition: number };

/** A stable text form for logs and map keys (`pg/7`, `bp/photos/3`). */
export function unitText(unit: Unit): string {
  return unit.kind === "placementGroup" ? `pg/${unit.placementGroupId}` : `bp/${unit.bucket}/${unit.partition}`;
}

function ownerKey(unit: Unit): Uint8Array {
  return unit.kind === "placementGroup" ? placementGroupOwnerKey(unit.placementGroupId) : bucketPartitionOwnerKey(unit.bucket, unit.partition);
}

/** The stored owner of `unit`, if it was ever claimed. */
export async function readOwner(tx: MetaTransaction, unit: Unit): Promise<UnitOwner | undefined> {
  const bytes = await tx.get(ownerKey(unit));
  return bytes === undefined ? undefined : decodeUnitOwner(bytes);
}

function sameOwner(a: UnitOwner, b: UnitOwner): boolean {
  return a.nodeId === b.nodeId && a.incarnation === b.incarnation && a.epoch === b.epoch;
}

/**
 * Claims `unit` for `claim` (a run and the epoch of its assignment). Granted
 * when the stored owner has an older epoch or is this very claim (a repeat is
 * harmless); Fenced when the stored epoch is newer, or equal but held by
 * another run: one epoch has at most one owner.
 */
export async function claimOwner(tx: MetaTransaction, unit: Unit, claim: UnitOwner): Promise<Fault | undefined> {
  const stored = await readOwner(tx, unit);
  if (stored !== undefined && !sameOwner(stored, claim) && stored.epoch >= claim.epoch) {
    return fault("Fenced", `${unitText(unit)}: owned by ${stored.nodeId}#${stored.incarnation} at epoch ${stored.epoch}, claim at epoch ${claim.epoch}`);
  }
  if (stored === undefined || !sameOwner(stored, claim)) tx.set(ownerKey(unit), encodeUnitOwner(claim));
  return undefined;
}

/**
 * The check a unit's metadata write makes in its own transaction: Fenced
 * unless `claim` is still the stored owner. A unit that gets Fenced has been
 * replaced and must stop itself.
 */
export async function checkOwner(tx: MetaTransaction, unit: Unit, claim: UnitOwner): Promise<Fault | undefined> {
  const stored = await readOwner(tx, unit);
  if (stored === undefined || !sameOwner(stored, claim)) {
    const holder = stored === undefined ? "nobody" : `${stored.nodeId}#${stored.incarnation} at epoch ${stored.epoch}`;
    return fault("Fenced", `${unitText(unit)}: claim ${claim.nodeId}#${claim.incarnation} at epoch ${claim.epoch} is stale; owner is ${holder}`);
  }
  return undefined;
}
