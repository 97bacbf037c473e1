/**
 * The metadata key layout: FoundationDB tuple encoding (`fdb-tuple`), the same
 * in every backend. Each subspace is a tuple prefix:
 *
 * | key tuple                  | holds                                         |
 * |----------------------------|-----------------------------------------------|
 * | `("v",)`                   | keyspace format version                       |
 * | `("b", bucket)`            | bucket record                                 |
 * | `("bc", bucket, name)`     | a bucket configuration document (tagging, cors, policy) |
 * | `("o", bucket, key)`       | current object record                         |
 * | `("p", dataId)`            | pending (PREPARING) data record               |
 * | `("g", dataId)`            | garbage: data of replaced/deleted objects     |
 * | `("ov", bucket, key, order)` | every version of an object (delete markers too), newest first: `order` decreases with time |
 * | `("on", bucket, key)`      | the order of the key's null version, when it has one |
 * | `("it", bucket, key, token)` | idempotency token → the version its PUT committed |
 * | `("ix", expiresMs, bucket, key, token)` | expiry index of idempotency tokens, oldest first |
 * | `("u", bucket, key, uploadId)` | an incomplete multipart upload             |
 * | `("up", bucket, uploadId, partNumber)` | a part of that upload, then of the object it became |
 * | `("c", accessKeyId)`       | credentials                                   |
 * | `("m",)`                   | the cluster map (hosts, disks, PG count)      |
 * | `("pg", pg, "d", dataId)`  | a placement group's index: data it stores     |
 * | `("pg", pg, "h", dataId, stripe, shard)` | a shard of that PG to heal      |
 * | `("pg", pg, "c")`          | the acting set the PG last had every shard on |
 * | `("n", nodeId)`            | a node's registration (address, roles, disks, incarnation) |
 * | `("nl", nodeId)`           | a node's lease                                |
 * | `("ml",)`                  | the ClusterManager's lease (holder, term)     |
 * | `("own", "pg", pg)`        | the owner (node, incarnation, epoch) of a PG  |
 * | `("own", "bp", bucket, partition)` | the owner of a bucket partition       |
 * | `("pu", bucket, partition)` | a bucket partition registered for assignment |
 * | `("od", "disk", diskId)`   | an operator's directive: this disk is out     |
 * | `("od", "node", nodeId)`   | an operator's directive: drain this node      |
 *
 * The tuple encoding of a string is its UTF-8 bytes with each 0x00 escaped as
 * 0x00 0xff, then a 0x00 terminator. Encoded strings therefore sort exactly as
 * their UTF-8 bytes do, which is S3's listing order, and a string that is a
 * prefix of another sorts first.
 */
import { pack, unpack } from "fdb-tuple";
import { strinc } from "./bytes.ts";

export { strinc } from "./bytes.ts";

/** The keyspace layout version stored at `formatVersionKey()`. */
export const keyspaceFormatVersion = 1;

/** Half-open key range `begin <= key < end`. */
export interface KeyRange {
  readonly begin: Uint8Array;
  readonly end: Uint8Array;
}

function encode(items: (string | number)[]): Uint8Array {
  return new Uint8Array(pack(items));
}

/**
 * Every key of a tuple subspace: the tuple layer's own range, `prefix‖0x00` to
 * `prefix‖0xff`. Not `strinc(prefix)`: a string element ending in NUL is
 * encoded `…0x00 0xff`, so `("o", "b1\0", k)` starts with the bytes of
 * `("o", "b1")` but must not be counted among bucket b1's objects.
 */
function tupleRange(prefix: Uint8Array): KeyRange {
  const begin = new Uint8Array(prefix.length + 1);
  begin.set(prefix);
  const end = begin.slice();
  end[prefix.length] = 0xff;
  return { begin, end };
}

/** The key of the keyspace format version. */
export function formatVersionKey(): Uint8Array {
  return encode(["v"]);
}

/** The key of a bucket's record. */
export function bucketKey(name: string): Uint8Array {
  return encode(["b", name]);
}

/** Every bucket record, in bucket-name order. */
export function bucketRange(): KeyRange {
  return tupleRange(encode(["b"]));
}

/** The key of a bucket's configuration document `name` ("tagging", "cors", "policy"). */
export function bucketConfigurationKey(bucket: string, name: string): Uint8Array {
  return encode(["bc", bucket, name]);
}

/** Every configuration document of a bucket. */
export function bucketConfigurationRange(bucket: string): KeyRange {
  return tupleRange(encode(["bc", bucket]));
}

/** The key of an object's current record. */
export function objectKey(bucket: string, key: string): Uint8Array {
  return encode(["o", bucket, key]);
}

/** Every object record of a bucket, in key order (UTF-8 binary). */
export function objectRange(bucket: string): KeyRange {
  return tupleRange(encode(["o", bucket]));
}

/**
 * The bytes that begin the stored key of every object of `bucket` whose key
 * starts with `keyPrefix`: the encoded key without its terminator. With an
 * empty `keyPrefix` it is the string type code alone, shared by all keys.
 */
export function objectKeyPrefix(bucket: string, keyPrefix: string): Uint8Array {
  const full = objectKey(bucket, keyPrefix);
  return full.subarray(0, full.length - 1);
}

/** Every object record of `bucket` whose key starts with `keyPrefix`. */
export function objectPrefixRange(bucket: string, keyPrefix: string): KeyRange {
  const prefix = objectKeyPrefix(bucket, keyPrefix);
  return { begin: prefix, end: strinc(prefix) };
}

/** The (bucket, key) named by a stored object key; a key from another subspace is a bug. */
export function objectKeyFromStoredKey(stored: Uint8Array): { bucket: string; key: string } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, bucket, key] = items;
  if (items.length !== 3 || tag !== "o" || typeof bucket !== "string" || typeof key !== "string") {
    throw new Error("objectKeyFromStoredKey: not an object key");
  }
  return { bucket, key };
}

/** The key of a pending (PREPARING) data record. */
export function pendingKey(dataId: string): Uint8Array {
  return encode(["p", dataId]);
}

/** Every pending data record. */
export function pendingRange(): KeyRange {
  return tupleRange(encode(["p"]));
}

/** The key of a garbage record: data whose bytes may be freed. */
export function garbageKey(dataId: string): Uint8Array {
  return encode(["g", dataId]);
}

/** Every garbage record. */
export function garbageRange(): KeyRange {
  return tupleRange(encode(["g"]));
}

/**
 * The key of one version of an object. `order` is a non-negative safe
 * integer that decreases as versions are added, so a key's versions read
 * newest first in key order (the tuple encoding orders integers numerically).
 */
export function objectVersionKey(bucket: string, key: string, order: number): Uint8Array {
  return encode(["ov", bucket, key, order]);
}

/** Every version of one object, newest first. */
export function objectVersionsOfKeyRange(bucket: string, key: string): KeyRange {
  return tupleRange(encode(["ov", bucket, key]));
}

/** Every version of every object of a bucket, in key order, newest first within a key. */
export function objectVersionRange(bucket: string): KeyRange {
  return tupleRange(encode(["ov", bucket]));
}

/**
 * The bytes that begin the stored version key of every object of `bucket`
 * whose key starts with `keyPrefix` (the encoded key without its terminator).
 */
export function objectVersionKeyPrefix(bucket: string, keyPrefix: string): Uint8Array {
  const full = encode(["ov", bucket, keyPrefix]);
  return full.subarray(0, full.length - 1);
}

/** The (bucket, key, order) named by a stored version key; a key from another subspace is a bug. */
export function objectVersionFromStoredKey(stored: Uint8Array): { bucket: string; key: string; order: number } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, bucket, key, order] = items;
  if (items.length !== 4 || tag !== "ov" || typeof bucket !== "string" || typeof key !== "string" || typeof order !== "number") {
    throw new Error("objectVersionFromStoredKey: not an object version key");
  }
  return { bucket, key, order };
}

/** The key that names the order of an object's null version. */
export function nullVersionKey(bucket: string, key: string): Uint8Array {
  return encode(["on", bucket, key]);
}

/** The key of an idempotency token of a PUT to (bucket, key). */
export function idempotencyTokenKey(bucket: string, key: string, token: string): Uint8Array {
  return encode(["it", bucket, key, token]);
}

/** Every idempotency token of a bucket. */
export function idempotencyTokenBucketRange(bucket: string): KeyRange {
  return tupleRange(encode(["it", bucket]));
}

/** The expiry index entry of an idempotency token. */
export function idempotencyExpiryKey(expiresMs: number, bucket: string, key: string, token: string): Uint8Array {
  return encode(["ix", expiresMs, bucket, key, token]);
}

/** Expiry index entries of tokens that expire before `beforeMs`, oldest first. */
export function idempotencyExpiryRange(beforeMs: number): KeyRange {
  return { begin: tupleRange(encode(["ix"])).begin, end: encode(["ix", beforeMs]) };
}

/** The (expiresMs, bucket, key, token) named by a stored expiry index key. */
export function idempotencyExpiryFromStoredKey(stored: Uint8Array): { expiresMs: number; bucket: string; key: string; token: string } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, expiresMs, bucket, key, token] = items;
  if (
    items.length !== 5 ||
    tag !== "ix" ||
    typeof expiresMs !== "number" ||
    typeof bucket !== "string" ||
    typeof key !== "string" ||
    typeof token !== "string"
  ) {
    throw new Error("idempotencyExpiryFromStoredKey: not an expiry index key");
  }
  return { expiresMs, bucket, key, token };
}

/**
 * The key of an incomplete multipart upload (records: multipart-uploads.ts).
 * Uploads of a key sort by upload id, which the creator makes time-ordered,
 * so ListMultipartUploads reads (key, initiation) order straight from the range.
 */
export function multipartUploadKey(bucket: string, key: string, uploadId: string): Uint8Array {
  return encode(["u", bucket, key, uploadId]);
}

/** Every upload in progress in a bucket, in (key, upload id) order. */
export function multipartUploadRange(bucket: string): KeyRange {
  return tupleRange(encode(["u", bucket]));
}

/**
 * The key of part `partNumber` of an upload. The bucket leads so that a
 * bucket's parts are one range; part numbers (1 to 10,000) sort numerically.
 */
export function multipartPartKey(bucket: string, uploadId: string, partNumber: number): Uint8Array {
  return encode(["up", bucket, uploadId, partNumber]);
}

/** Every part of one upload, in part-number order. */
export function multipartPartRange(bucket: string, uploadId: string): KeyRange {
  return tupleRange(encode(["up", bucket, uploadId]));
}

/** The key of the credentials of an access key id. */
export function credentialKey(accessKeyId: string): Uint8Array {
  return encode(["c", accessKeyId]);
}

/** Every credential record. */
export function credentialRange(): KeyRange {
  return tupleRange(encode(["c"]));
}

/** The key of `dataId` in placement group `placementGroupId`'s index. */
export function placementGroupDataKey(placementGroupId: number, dataId: string): Uint8Array {
  return encode(["pg", placementGroupId, "d", dataId]);
}

/** Every data entry of a placement group's index, in dataId order. */
export function placementGroupDataRange(placementGroupId: number): KeyRange {
  return tupleRange(encode(["pg", placementGroupId, "d"]));
}

/** The dataId named by a stored PG index key `("pg", pg, "d", dataId)`; a key from another subspace is a bug. */
export function placementGroupDataIdFromStoredKey(stored: Uint8Array): string {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, , sub, dataId] = items;
  if (items.length !== 4 || tag !== "pg" || sub !== "d" || typeof dataId !== "string") throw new Error("placementGroupDataIdFromStoredKey: not a PG data key");
  return dataId;
}

/** The key of one shard that placement group `placementGroupId` must heal. */
export function placementGroupHealKey(placementGroupId: number, dataId: string, stripeIndex: number, shardIndex: number): Uint8Array {
  return encode(["pg", placementGroupId, "h", dataId, stripeIndex, shardIndex]);
}

/** The key of the acting set placement group `placementGroupId` last had every shard on (backfill's "old place"). */
export function placementGroupCompleteKey(placementGroupId: number): Uint8Array {
  return encode(["pg", placementGroupId, "c"]);
}

/** Every shard a placement group must heal. */
export function placementGroupHealRange(placementGroupId: number): KeyRange {
  return tupleRange(encode(["pg", placementGroupId, "h"]));
}

/** Every shard of `dataId` that placement group `placementGroupId` must heal. */
export function placementGroupHealDataRange(placementGroupId: number, dataId: string): KeyRange {
  return tupleRange(encode(["pg", placementGroupId, "h", dataId]));
}

/** The (dataId, stripe, shard) named by a stored heal key; a key from another subspace is a bug. */
export function healShardFromStoredKey(stored: Uint8Array): { dataId: string; stripeIndex: number; shardIndex: number } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, , sub, dataId, stripeIndex, shardIndex] = items;
  if (items.length !== 6 || tag !== "pg" || sub !== "h" || typeof dataId !== "string" || typeof stripeIndex !== "number" || typeof shardIndex !== "number") {
    throw new Error("healShardFromStoredKey: not a heal key");
  }
  return { dataId, stripeIndex, shardIndex };
}

/** The key of the cluster map. */
export function clusterMapKey(): Uint8Array {
  return encode(["m"]);
}

/** The key of a node's registration record. */
export function nodeKey(nodeId: string): Uint8Array {
  return encode(["n", nodeId]);
}

/** Every node registration record, in nodeId order. */
export function nodeRange(): KeyRange {
  return tupleRange(encode(["n"]));
}

/** The key of a node's lease. */
export function nodeLeaseKey(nodeId: string): Uint8Array {
  return encode(["nl", nodeId]);
}

/** Every node lease, in nodeId order. */
export function nodeLeaseRange(): KeyRange {
  return tupleRange(encode(["nl"]));
}

/** The key of the ClusterManager's lease. */
export function managerLeaseKey(): Uint8Array {
  return encode(["ml"]);
}

/** The key of the owner record of placement group `placementGroupId`. */
export function placementGroupOwnerKey(placementGroupId: number): Uint8Array {
  return encode(["own", "pg", placementGroupId]);
}

/** The key of the owner record of partition `partition` of `bucket`. */
export function bucketPartitionOwnerKey(bucket: string, partition: number): Uint8Array {
  return encode(["own", "bp", bucket, partition]);
}

/** The key under which bucket partition (`bucket`, `partition`) is registered for assignment. */
export function partitionUnitKey(bucket: string, partition: number): Uint8Array {
  return encode(["pu", bucket, partition]);
}

/** Every registered bucket partition, in (bucket, partition) order. */
export function partitionUnitRange(): KeyRange {
  return tupleRange(encode(["pu"]));
}

/**
 * An operator's placement directive (cluster/membership/operator-directives.ts):
 * `disk` marks a disk out, `node` drains a node. Present means in force.
 */
export function operatorDirectiveKey(target: "disk" | "node", id: string): Uint8Array {
  return encode(["od", target, id]);
}

/** Every operator directive, disks first, each in id order. */
export function operatorDirectiveRange(): KeyRange {
  return tupleRange(encode(["od"]));
}

/** The (target, id) named by a stored directive key; a key from another subspace is a bug. */
export function operatorDirectiveFromStoredKey(stored: Uint8Array): { target: "disk" | "node"; id: string } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, target, id] = items;
  if (items.length !== 3 || tag !== "od" || (target !== "disk" && target !== "node") || typeof id !== "string") {
    throw new Error("operatorDirectiveFromStoredKey: not an operator directive key");
  }
  return { target, id };
}

/** The (bucket, partition) named by a stored partition-unit key; a key from another subspace is a bug. */
export function partitionUnitFromStoredKey(stored: Uint8Array): { bucket: string; partition: number } {
  const items = unpack(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  const [tag, bucket, partition] = items;
  if (items.length !== 3 || tag !== "pu" || typeof bucket !== "string" || typeof partition !== "number") {
    throw new Error("partitionUnitFromStoredKey: not a partition unit key");
  }
  return { bucket, partition };
}
