/**
 * `bucket.stats` on a bucket of 1,000,000 objects (lmdb backend): how many
 * pages, how long, and the longest page (each must stay far inside
 * FoundationDB's 5 s transaction limit).
 *
 *   bun run bench/bucket-stats.ts [--objects N] [--seed S]
 *
 * Fills a fresh LMDB environment in a temporary directory with one bucket of
 * N current objects, each with its `("o")` record and its `("ov")` version
 * (as a versioned write leaves them), sizes drawn from the seeded source,
 * plus 1 delete marker per 100 keys; written 5,000 keys a transaction. Then
 * counts it page by page with the operator endpoint's function
 * (cluster/repl/bucket-stats-scan.ts, default page: 10,000 records or 1 s),
 * checks every count against what was written, and prints the figures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeRecord, encodeObjectRecord, ObjectCatalog, objectKey, objectVersionKey, openLmdbStore } from "../cluster/metadata/index.ts";
import { addBucketStatsCounts, countBucketStatsPage, emptyBucketStatsCounts, type BucketStatsCursor } from "../cluster/repl/bucket-stats-scan.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";

const { values } = parseArgs({ options: { objects: { type: "string" }, seed: { type: "string" } } });
const objectCount = Number(values.objects ?? 1_000_000);
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
const random = seededRandom(seed);
const clock = systemClock();
const bucket = "stats-bench";
const keysPerTransaction = 5_000;
const orderTop = Number.MAX_SAFE_INTEGER;

console.log(`bucket-stats bench: ${objectCount} objects, seed ${seed} (replay: bun run bench/bucket-stats.ts --objects ${objectCount} --seed ${seed})`);
const directory = mkdtempSync(join(tmpdir(), "cairn-bucket-stats-"));
const store = await openLmdbStore({ path: directory });
try {
  await new ObjectCatalog(store).createBucket(bucket, clock.nowMs(), 4);
  let expectedBytes = 0;
  let expectedMarkers = 0;
  const fillStartMs = clock.monotonicMs();
  for (let first = 0; first < objectCount; first += keysPerTransaction) {
    const rows: { key: string; sizeBytes: number; marker: boolean }[] = [];
    for (let index = first; index < Math.min(objectCount, first + keysPerTransaction); index += 1) {
      const sizeBytes = random.integer(10 * 1024 * 1024);
      const marker = index % 100 === 0;
      rows.push({ key: `data/${String(random.integer(1_000)).padStart(3, "0")}/object-${String(index).padStart(8, "0")}`, sizeBytes, marker });
      expectedBytes += sizeBytes;
      if (marker) expectedMarkers += 1;
    }
    await store.transact(async (tx) => {
      for (const row of rows) {
        const record = {
          bucket,
          key: row.key,
          sizeBytes: row.sizeBytes,
          etag: "0123456789abcdef0123456789abcdef",
          lastModifiedMs: 0,
          storageClass: "STANDARD",
          headers: {},
          userMetadata: {},
          dataId: `data-${row.key}`,
          layout: { kind: "replicated" as const, placementGroupId: 1, copies: 3, chunkBytes: 1024 * 1024, chunkCount: 1 },
          versionId: "00000000000aaaaaaaaaaaaaaaaaaaaa",
        };
        tx.set(objectKey(bucket, row.key), encodeObjectRecord(record));
        tx.set(objectVersionKey(bucket, row.key, orderTop), encodeObjectRecord(record));
        // An older delete marker below the current version, for every hundredth key.
        if (row.marker) {
          tx.set(
            objectVersionKey(bucket, row.key, orderTop - 1),
            encodeRecord("deleteMarker", 1, { bucket, key: row.key, versionId: "00000000001bbbbbbbbbbbbbbbbbbbbb", lastModifiedMs: 0 }),
          );
        }
      }
    });
  }
  console.log(`filled in ${((clock.monotonicMs() - fillStartMs) / 1000).toFixed(1)} s`);

  const total = emptyBucketStatsCounts();
  let cursor: BucketStatsCursor | undefined;
  let pages = 0;
  let records = 0;
  let pageMsMax = 0;
  const countStartMs = clock.monotonicMs();
  for (;;) {
    const pageStartMs = clock.monotonicMs();
    const page = await countBucketStatsPage(store, bucket, cursor, { monotonicMs: clock.monotonicMs });
    pageMsMax = Math.max(pageMsMax, clock.monotonicMs() - pageStartMs);
    pages += 1;
    records += page.records;
    addBucketStatsCounts(total, page.counts);
    if (page.cursor === undefined) break;
    cursor = page.cursor;
  }
  const countMs = clock.monotonicMs() - countStartMs;
  const checks = {
    objects: total.objects === objectCount,
    objectBytes: total.objectBytes === expectedBytes,
    versions: total.versions === objectCount,
    versionBytes: total.versionBytes === expectedBytes,
    deleteMarkers: total.deleteMarkers === expectedMarkers,
  };
  console.log(
    `counted ${records} records in ${pages} pages, ${(countMs / 1000).toFixed(1)} s (${Math.round(records / (countMs / 1000))} records/s); ` +
      `longest page ${pageMsMax.toFixed(0)} ms; counts ${JSON.stringify(total)}`,
  );
  console.log(`checks: ${JSON.stringify(checks)}`);
  if (Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
} finally {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
}
