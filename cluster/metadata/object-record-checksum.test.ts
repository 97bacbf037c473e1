/**
 * The optional `checksum` of an object record (issue 6): it survives the
 * stored encoding, and a version-3 record written before the field existed
 * reads as having none.
 */
import { expect, test } from "bun:test";
import type { ObjectRecord } from "./object-catalog.ts";
import { decodeObjectRecord, encodeObjectRecord } from "./object-catalog.ts";

const base: ObjectRecord = {
  bucket: "b",
  key: "k",
  sizeBytes: 3,
  etag: "0123456789abcdef0123456789abcdef",
  lastModifiedMs: 1_000,
  storageClass: "STANDARD",
  headers: {},
  userMetadata: {},
  dataId: "data-k",
  versionId: "null",
  layout: { kind: "replicated", placementGroupId: 1, copies: 3, chunkBytes: 1_048_576, chunkCount: 1 },
};

test("a record with a checksum round-trips; one without reads as none", () => {
  const withChecksum: ObjectRecord = { ...base, checksum: { algorithm: "CRC64NVME", value: "rosUhgp5mIg=", type: "FULL_OBJECT" } };
  expect(decodeObjectRecord(encodeObjectRecord(withChecksum))).toEqual(withChecksum);
  const decoded = decodeObjectRecord(encodeObjectRecord(base));
  expect(decoded.checksum).toBeUndefined();
  expect(decoded).toEqual(base);
});
