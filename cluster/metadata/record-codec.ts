/**
 * Every value the metadata layer stores carries its kind and format version,
 * so readers can accept every version ever written (STYLE.md §8).
 *
 * | offset | bytes | field                                              |
 * |--------|-------|----------------------------------------------------|
 * | 0      | 1     | record kind (`recordKinds`; ids are never reused)  |
 * | 1      | 1     | format version of that kind, from 1                |
 * | 2      | …     | the value, MessagePack (`msgpackr`, plain maps)    |
 *
 * What each (kind, version) holds is defined where the kind is used
 * (`object-catalog.ts` for buckets, objects, pending and garbage records).
 */
import { Packr } from "msgpackr";
import { readMessagePack } from "./msgpack-reader.ts";

/** Wire ids of record kinds. Add, never reuse. */
export const recordKinds = {
  bucket: 1,
  object: 2,
  pending: 3,
  garbage: 4,
  credential: 5,
  keyspaceVersion: 6,
  placementGroupData: 7,
  placementGroupHeal: 8,
  clusterMap: 9,
  // Membership (cluster/membership/records.ts defines their versions).
  node: 10,
  nodeLease: 11,
  managerLease: 12,
  unitOwner: 13,
  partitionUnit: 14,
  // Versioning (object-catalog.ts and object-versions.ts define their versions).
  deleteMarker: 15,
  nullVersion: 16,
  idempotencyToken: 17,
  idempotencyExpiry: 18,
  // Per-bucket configuration documents (object-catalog.ts defines the version).
  bucketConfiguration: 19,
  // Multipart uploads (multipart-uploads.ts defines their versions).
  multipartUpload: 20,
  multipartPart: 21,
  // The acting set a PG last had every shard on (actors/placement-group).
  placementGroupComplete: 22,
  // An operator's placement directive (cluster/membership/operator-directives.ts).
  operatorDirective: 23,
} as const;

export type RecordKind = keyof typeof recordKinds;

export interface DecodedRecord {
  readonly kind: RecordKind;
  readonly version: number;
  readonly value: unknown;
}

// Records (msgpackr's structure extension) would make values depend on
// per-process shared state; plain maps keep every value self-describing.
const packer = new Packr({ useRecords: false });

const kindById = new Map<number, RecordKind>(
  Object.entries(recordKinds).map(([name, id]) => [id, name as RecordKind]),
);

/** Encodes `value` as a record of `kind` in format `version` (1 to 255). */
export function encodeRecord(kind: RecordKind, version: number, value: unknown): Uint8Array {
  if (!(Number.isInteger(version) && version >= 1 && version <= 255)) {
    throw new Error(`encodeRecord: version must be 1..255, got ${version}`);
  }
  const body = packer.pack(value);
  const out = new Uint8Array(2 + body.length);
  out[0] = recordKinds[kind];
  out[1] = version;
  out.set(body, 2);
  return out;
}

/**
 * Decodes a stored record. A value too short or of an unknown kind is not
 * something this code ever wrote: it throws.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  if (bytes.length < 3) throw new Error(`decodeRecord: ${bytes.length} bytes is too short for a record`);
  const kind = kindById.get(bytes[0] as number);
  if (kind === undefined) throw new Error(`decodeRecord: unknown record kind ${bytes[0]}`);
  const version = bytes[1] as number;
  if (version === 0) throw new Error("decodeRecord: version 0 is never written");
  // The subset reader is several times faster on the small records listings
  // decode by the thousand; whatever it does not cover is msgpackr's, as before.
  const fast = readMessagePack(bytes, 2);
  return { kind, version, value: fast !== undefined ? fast : packer.unpack(bytes.subarray(2)) };
}

/** Decodes a record that must be of `kind`; any other kind is a bug or corruption. */
export function decodeRecordOf(kind: RecordKind, bytes: Uint8Array): DecodedRecord {
  const record = decodeRecord(bytes);
  if (record.kind !== kind) throw new Error(`decodeRecord: expected a ${kind} record, found ${record.kind}`);
  return record;
}
