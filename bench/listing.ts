/**
 * ListObjects on a bucket of 1,000,000 objects (lmdb backend).
 *
 *   bun run bench/listing.ts [--pages N] [--seed S] [--path DIR] [--only TEXT]
 *   npm run bench:listing -- --pages 200
 *
 * Fills a fresh LMDB environment (a temporary directory unless --path names
 * one; an existing --path that already holds the data set is reused) with one
 * bucket of 1,000,000 object records, written through the MetaStore in
 * transactions inside FoundationDB's limits:
 *
 * | key shape                                   | keys    | what it exercises                        |
 * |---------------------------------------------|---------|------------------------------------------|
 * | `object-NNNNNNN` (no "/")                   | 100,000 | the flat part                            |
 * | `logs/2026-11-29/host-0000/NNNNNNN`         | 500,000 | one huge common prefix                   |
 * | `logs/2026-11-29/host-NNNN/…`, 1..1999      | 290,000 | uneven prefixes (a few big, most small)  |
 * | `cmp/small/p-NNNN/NN` (1,000 × 10)          |  10,000 | 1,000 common prefixes, 10 keys each      |
 * | `cmp/large/p-NNNN/NNN` (1,000 × 100)        | 100,000 | 1,000 common prefixes, 100 keys each     |
 *
 * Then times pages of 1,000 (p50 / p90 / p99 / max over --pages pages, default
 * 200, each from a random start marker drawn from the seeded source; the
 * cases take turns page by page, so background load hits them alike) for:
 * no delimiter; delimiter "/" at the top; delimiter "/" under the prefix
 * `logs/2026-11-29/` (pages of 1,000 common prefixes, host-0000's 500,000
 * keys among those skipped); and the two `cmp/` prefixes, same number of
 * common prefixes with 10x more keys beneath (`--only TEXT` runs only the
 * cases whose name contains TEXT, e.g. to count one case's collections with
 * `BUN_JSC_logGC=1`). Besides the time it counts what the listing read from
 * the store per page (pairs with values, keys of keys-only seeks, reads,
 * transactions), the machine-independent evidence that skipping a common
 * prefix does not read the keys beneath it; the counts come from
 * `countedPages` extra pages per case read through a counting wrapper after
 * the timed ones, so the wrapper's own promises and closures are not timed.
 * It also reports the process's CPU time per page (p50, p99): unlike the wall time it does
 * not grow while the page waits for a core other processes hold, but it does
 * include the garbage collector's threads. The load average (`uptime`'s
 * three figures) is printed before and after, since on a shared machine the
 * tail follows it.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeObjectRecord, ObjectCatalog, objectKey, openLmdbStore } from "../cluster/metadata/index.ts";
import type { KeyValue, ListObjectsRequest, MetaStore, MetaTransaction, ObjectRecord } from "../cluster/metadata/index.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";

const { values } = parseArgs({
  options: {
    pages: { type: "string", default: "200" },
    seed: { type: "string" },
    path: { type: "string" },
    only: { type: "string" },
  },
});
const pages = Number(values.pages);
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
const random = seededRandom(seed);
const clock = systemClock();
const bucket = "bench";
const pageKeys = 1_000;
/** Pages per case read through the counting wrapper, untimed, for the pairs / keys / reads / txs columns. */
const countedPages = 30;
/** Records per filling transaction: about 250 bytes each, well inside the 10 MB limit. */
const fillBatchRecords = 20_000;

interface Shape {
  readonly name: string;
  readonly count: number;
  readonly key: (index: number) => string;
}

const pad = (value: number, width: number): string => String(value).padStart(width, "0");

/** host-0001..host-1999 share 290,000 keys unevenly: every 100th host holds 1,000, the rest 100 or 120. */
function unevenHostCounts(): number[] {
  const counts: number[] = [];
  for (let host = 1; host < 2_000; host++) counts.push(host % 100 === 0 ? 1_000 : host % 2 === 0 ? 120 : 100);
  const total = counts.reduce((sum, count) => sum + count, 0);
  // The last host absorbs the remainder so the whole set is exactly 290,000.
  counts[counts.length - 1] = (counts[counts.length - 1] as number) + (290_000 - total);
  return counts;
}
const hostCounts = unevenHostCounts();
const hostStarts: number[] = [];
{
  let start = 0;
  for (const count of hostCounts) {
    hostStarts.push(start);
    start += count;
  }
}

function unevenHostKey(index: number): string {
  let low = 0;
  let high = hostStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if ((hostStarts[middle] as number) <= index) low = middle;
    else high = middle - 1;
  }
  return `logs/2026-11-29/host-${pad(low + 1, 4)}/${pad(index - (hostStarts[low] as number), 7)}.log`;
}

const shapes: readonly Shape[] = [
  { name: "flat", count: 100_000, key: (index) => `object-${pad(index, 7)}` },
  { name: "host-0000", count: 500_000, key: (index) => `logs/2026-11-29/host-0000/${pad(index, 7)}.log` },
  { name: "hosts", count: 290_000, key: unevenHostKey },
  { name: "cmp-small", count: 10_000, key: (index) => `cmp/small/p-${pad(Math.floor(index / 10), 4)}/${pad(index % 10, 2)}` },
  { name: "cmp-large", count: 100_000, key: (index) => `cmp/large/p-${pad(Math.floor(index / 100), 4)}/${pad(index % 100, 3)}` },
];
const totalKeys = shapes.reduce((sum, shape) => sum + shape.count, 0);

function record(key: string, index: number): ObjectRecord {
  return {
    bucket,
    key,
    sizeBytes: 1_000 + index,
    etag: `"${(index * 2_654_435_761).toString(16).padStart(32, "0").slice(-32)}"`,
    lastModifiedMs: 1_795_000_000_000 + index,
    storageClass: "STANDARD",
    headers: { contentType: "application/octet-stream" },
    userMetadata: {},
    dataId: `d${pad(index, 8)}`,
    versionId: "null",
    layout: { kind: "erasure", placementGroupId: index % 128, dataShards: 4, parityShards: 2, shardBytes: 262_144, stripeCount: 1 },
  };
}

async function fill(store: MetaStore): Promise<void> {
  const startMs = clock.monotonicMs();
  await new ObjectCatalog(store).createBucket(bucket, 1_795_000_000_000);
  let written = 0;
  let transactions = 0;
  for (const shape of shapes) {
    for (let first = 0; first < shape.count; first += fillBatchRecords) {
      const last = Math.min(first + fillBatchRecords, shape.count);
      await store.transact(async (tx) => {
        for (let index = first; index < last; index++) {
          const key = shape.key(index);
          tx.set(objectKey(bucket, key), encodeObjectRecord(record(key, written + index - first)));
        }
      });
      written += last - first;
      transactions += 1;
    }
  }
  console.log(`filled ${written} records in ${transactions} transactions, ${((clock.monotonicMs() - startMs) / 1000).toFixed(1)} s`);
}

/** Counts what every read returns, to show what a listing reads. */
class CountingStore implements MetaStore {
  readonly #inner: MetaStore;
  pairsRead = 0;
  keysRead = 0;
  /** Range reads and keys-only seeks. */
  rangeReads = 0;
  transactions = 0;

  constructor(inner: MetaStore) {
    this.#inner = inner;
  }

  transact<T>(body: (tx: MetaTransaction) => Promise<T>): Promise<T> {
    this.transactions += 1;
    return this.#inner.transact((tx) =>
      body({
        get: (key) => tx.get(key),
        getRange: async (begin, end, options): Promise<KeyValue[]> => {
          const pairs = await tx.getRange(begin, end, options);
          this.rangeReads += 1;
          this.pairsRead += pairs.length;
          return pairs;
        },
        firstKey: async (begin, end): Promise<Uint8Array | undefined> => {
          const key = await tx.firstKey(begin, end);
          this.rangeReads += 1;
          this.keysRead += key === undefined ? 0 : 1;
          return key;
        },
        set: (key, value) => tx.set(key, value),
        clear: (key) => tx.clear(key),
        clearRange: (begin, end) => tx.clearRange(begin, end),
        add: (key, delta) => tx.add(key, delta),
      }),
    );
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

interface CaseResult {
  readonly name: string;
  readonly timesMs: number[];
  readonly cpuMs: number[];
  readonly entriesMin: number;
  readonly pairsPerPage: number;
  readonly keysPerPage: number;
  readonly rangeReadsPerPage: number;
  readonly transactionsPerPage: number;
}

interface Case {
  readonly name: string;
  readonly request: () => ListObjectsRequest;
}

/**
 * Times every case page by page, round-robin, so that whatever else the
 * machine is doing meanwhile falls on all cases alike; then reads
 * `countedPages` more pages per case through the counting wrapper.
 */
async function timeCases(store: MetaStore, cases: readonly Case[]): Promise<CaseResult[]> {
  const catalog = new ObjectCatalog(store);
  const runs = cases.map((entry) => {
    const counting = new CountingStore(store);
    return { entry, counting, countingCatalog: new ObjectCatalog(counting), timesMs: [] as number[], cpuMs: [] as number[], entriesMin: Number.POSITIVE_INFINITY };
  });
  // Warm-up: JIT and the page cache, not measured.
  for (const run of runs) {
    for (let page = 0; page < 5; page++) await catalog.listObjects(run.entry.request());
  }
  for (let page = 0; page < pages; page++) {
    for (const run of runs) {
      const input = run.entry.request();
      const cpuStart = process.cpuUsage();
      const startMs = clock.monotonicMs();
      const result = await catalog.listObjects(input);
      run.timesMs.push(clock.monotonicMs() - startMs);
      const cpu = process.cpuUsage(cpuStart);
      run.cpuMs.push((cpu.user + cpu.system) / 1_000);
      if (result === "no-such-bucket") throw new Error("the bench bucket is missing");
      run.entriesMin = Math.min(run.entriesMin, result.objects.length + result.commonPrefixes.length);
    }
  }
  for (const run of runs) {
    for (let page = 0; page < countedPages; page++) await run.countingCatalog.listObjects(run.entry.request());
  }
  return runs.map((run) => ({
    name: run.entry.name,
    timesMs: run.timesMs,
    cpuMs: run.cpuMs,
    entriesMin: run.entriesMin,
    pairsPerPage: run.counting.pairsRead / countedPages,
    keysPerPage: run.counting.keysRead / countedPages,
    rangeReadsPerPage: run.counting.rangeReads / countedPages,
    transactionsPerPage: run.counting.transactions / countedPages,
  }));
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number;
}

function report(result: CaseResult): void {
  const sorted = [...result.timesMs].sort((a, b) => a - b);
  const cpuSorted = [...result.cpuMs].sort((a, b) => a - b);
  console.log(
    `${result.name.padEnd(44)} ${percentile(sorted, 0.5).toFixed(2).padStart(7)} ${percentile(sorted, 0.9).toFixed(2).padStart(7)} ` +
      `${percentile(sorted, 0.99).toFixed(2).padStart(7)} ` +
      `${(sorted[sorted.length - 1] as number).toFixed(2).padStart(7)} ${percentile(cpuSorted, 0.5).toFixed(2).padStart(7)} ${percentile(cpuSorted, 0.99).toFixed(2).padStart(7)}   ${String(result.entriesMin).padStart(5)} ` +
      `${result.pairsPerPage.toFixed(0).padStart(7)} ${result.keysPerPage.toFixed(0).padStart(6)} ${result.rangeReadsPerPage.toFixed(1).padStart(7)} ${result.transactionsPerPage.toFixed(1).padStart(5)}`,
  );
}

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
function formatLoad(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(", ");
}

/** A uniformly random key of the whole data set. */
function randomKey(): string {
  let index = random.integer(totalKeys);
  for (const shape of shapes) {
    if (index < shape.count) return shape.key(index);
    index -= shape.count;
  }
  throw new Error("unreachable");
}

const path = values.path ?? mkdtempSync(join(tmpdir(), "cairn-bench-listing-"));
const store = await openLmdbStore({ path });
try {
  console.log(`listing bench: ${totalKeys} objects in one bucket, lmdb at ${path}, ${pages} pages per case, seed ${seed}`);
  const existing = await store.transact((tx) => tx.get(objectKey(bucket, shapes[shapes.length - 1]!.key(99_999))));
  if (existing === undefined) await fill(store);
  else console.log("reusing the data set already at --path");

  const environmentBytes = statSync(join(path, "data.mdb")).size;
  console.log(`store: ${totalKeys} objects, LMDB data file ${(environmentBytes / 1e6).toFixed(0)} MB; load average before timing ${formatLoad()}`);
  console.log(`${"case (pages of 1,000)".padEnd(44)} ${"p50 ms".padStart(7)} ${"p90 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"max ms".padStart(7)} ${"cpu p50".padStart(7)} ${"cpu p99".padStart(7)}   ${"min n".padStart(5)} ${"pairs".padStart(7)} ${"keys".padStart(6)} ${"reads".padStart(7)} ${"txs".padStart(5)}`);
  const base = { bucket, maxKeys: pageKeys };
  const hostPrefix = "logs/2026-11-29/";
  const cases: Case[] = [
    { name: "no delimiter, random start", request: () => ({ ...base, prefix: "", delimiter: "", after: randomKey() }) },
    {
      name: `prefix ${hostPrefix}host-0000/, no delim.`,
      request: () => ({ ...base, prefix: `${hostPrefix}host-0000/`, delimiter: "", after: `${hostPrefix}host-0000/${pad(random.integer(499_000), 7)}.log` }),
    },
    { name: 'delimiter "/", top level, random start', request: () => ({ ...base, prefix: "", delimiter: "/", after: randomKey() }) },
    {
      // Half the pages start at the beginning and roll up host-0000 (500,000 keys); the others
      // start after a random one of the first 1,000 hosts. Every page holds 1,000 common prefixes.
      name: `delimiter "/", prefix ${hostPrefix}`,
      request: () => {
        const host = random.next() < 0.5 ? 0 : random.integer(1_000);
        return { ...base, prefix: hostPrefix, delimiter: "/", after: host === 0 ? "" : `${hostPrefix}host-${pad(host, 4)}/` };
      },
    },
    { name: 'delimiter "/", prefix cmp/small/ (1,000 x 10)', request: () => ({ ...base, prefix: "cmp/small/", delimiter: "/", after: "" }) },
    { name: 'delimiter "/", prefix cmp/large/ (1,000 x 100)', request: () => ({ ...base, prefix: "cmp/large/", delimiter: "/", after: "" }) },
  ];
  const chosen = values.only === undefined ? cases : cases.filter((entry) => entry.name.includes(values.only as string));
  if (chosen.length === 0) throw new Error(`--only ${values.only}: no case name contains it`);
  for (const result of await timeCases(store, chosen)) report(result);
  console.log(`load average after timing ${formatLoad()}; seed ${seed}`);
  console.log(
    `cpu p50 / p99: process CPU time per page (GC threads included); min n: fewest entries on a page; pairs / keys / reads / txs (over ${countedPages} more pages, untimed): ` +
      "pairs read with values, keys read by keys-only seeks, reads (range reads and seeks) and transactions per page",
  );
} finally {
  await store.close();
  if (values.path === undefined) rmSync(path, { recursive: true, force: true });
}
