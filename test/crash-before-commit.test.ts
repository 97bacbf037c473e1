/**
 * A node killed between PREPARE and COMMIT (issue 5): a real server process
 * receives a large PUT whose body stops half-way; once the first stripes'
 * shards are durable on the disks, the process is killed with SIGKILL. Then
 * - after a restart the object is not visible (HEAD 404, absent from both
 *   listings);
 * - the Janitor (with a tiny PREPARING bound, CAIRN_PREPARING_MAX_AGE_MS)
 *   reclaims the abandoned PUT;
 * - after a clean stop, no disk holds a live shard of that data.
 *
 * How "no shard is left behind" is checked: each disk directory is opened
 * with the disk actor's own `VolumeStore` (which rebuilds its index from the
 * volume files exactly as the disk actor does on start, tombstones applied),
 * and every live shard key's dataId (the part before "/") must belong to a
 * version record in the metadata store. The same check run right after the
 * kill finds the orphaned dataId, so the check can fail.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { request } from "node:http";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VolumeStore } from "../actors/disk/volume/volume-store.ts";
import { garbageRange, objectVersionRange, openLmdbStore, pendingRange, decodeObjectRecord } from "../cluster/metadata/index.ts";
import { decodeRecord } from "../cluster/metadata/record-codec.ts";
import { randomSeed, seededRandom } from "../runtime/index.ts";
import { signedFetch, signedHeaders } from "./support/signer.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`crash-before-commit: seed ${seed} (replay with CAIRN_TEST_SEED=${seed} bun test test/crash-before-commit.test.ts)`);

const bucket = "crash";
const diskIds = ["disk-0", "disk-1", "disk-2", "disk-3", "disk-4", "disk-5"];
const declaredBytes = 64 * 1024 * 1024;
/** Sent before the body stalls: a few 4 MiB stripes. */
const sentBytes = 16 * 1024 * 1024;
const dataDir = mkdtempSync(join(tmpdir(), "cairn-crash-"));

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

/** The dataIds of every live shard on every disk, read from the volume files. */
async function liveShardDataIds(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const diskId of diskIds) {
    const volumes = await VolumeStore.open({ directory: join(dataDir, "disks", diskId), diskId });
    try {
      for (const shardKey of volumes.shardKeys()) {
        const dataId = shardKey.slice(0, shardKey.indexOf("/"));
        counts.set(dataId, (counts.get(dataId) ?? 0) + 1);
      }
    } finally {
      await volumes.close();
    }
  }
  return counts;
}

/** dataIds referenced by version records, and how many pending and garbage records exist. */
async function metadataSummary(): Promise<{ live: Set<string>; pending: number; garbage: number }> {
  const store = await openLmdbStore({ path: join(dataDir, "meta") });
  try {
    return await store.transact(async (tx) => {
      const versions = objectVersionRange(bucket);
      const live = new Set<string>();
      for (const pair of await tx.getRange(versions.begin, versions.end, { limit: 1_000 })) {
        if (decodeRecord(pair.value).kind === "object") live.add(decodeObjectRecord(pair.value).dataId);
      }
      const pending = (await tx.getRange(pendingRange().begin, pendingRange().end, { limit: 1_000 })).length;
      const garbage = (await tx.getRange(garbageRange().begin, garbageRange().end, { limit: 1_000 })).length;
      return { live, pending, garbage };
    });
  } finally {
    await store.close();
  }
}

/** Starts a PUT of `declaredBytes` and sends only `sentBytes` of it; the request stays open. */
async function startStalledPut(server: ServerProcess, key: string): Promise<{ abort: () => void }> {
  const path = `/${bucket}/${key}`;
  const headers = await signedHeaders(server, {
    method: "PUT",
    path,
    payloadHash: "UNSIGNED-PAYLOAD",
    headers: { "content-length": String(declaredBytes) },
  });
  const outgoing = request({ host: "127.0.0.1", port: server.port, method: "PUT", path, headers });
  outgoing.on("error", () => undefined); // the server is killed under it
  const random = seededRandom(seed);
  const pieceBytes = 1024 * 1024;
  for (let offset = 0; offset < sentBytes; offset += pieceBytes) {
    const piece = random.bytes(pieceBytes);
    if (!outgoing.write(piece)) await new Promise<void>((resolve) => outgoing.once("drain", resolve));
  }
  return { abort: () => outgoing.destroy() };
}

/** Waits (bounded) until `condition` holds, polling. */
async function until(condition: () => boolean | Promise<boolean>, what: string, context?: () => string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt += 1) {
    if (await condition()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${context === undefined ? "" : `:\n${context()}`}`);
}

describe("a node killed between PREPARE and COMMIT", () => {
  test("the object never becomes visible, and after the Janitor runs no shard of it is left on any disk", async () => {
    // 1. A committed object (its shards must survive everything below), then a PUT killed mid-body.
    const first = await startServer({ dataDir });
    let stalled: { abort: () => void } | undefined;
    try {
      expect((await signedFetch(first, { method: "PUT", path: `/${bucket}` })).status).toBe(200);
      const keep = seededRandom(seed + 1).bytes(3 * 1024 * 1024);
      expect((await signedFetch(first, { method: "PUT", path: `/${bucket}/keep`, body: keep })).status).toBe(200);
      const baselineBytes = volumeBytes();
      stalled = await startStalledPut(first, "big");
      // PREPARE is durable before any shard is written; wait until two 4 MiB stripes' shards
      // (6 MiB each with 4+2 coding) are on the disks, while the body is still incomplete.
      await until(() => volumeBytes() >= baselineBytes + 12 * 1024 * 1024, "the stalled PUT's shards to reach the disks");
    } finally {
      await first.stop("SIGKILL");
      stalled?.abort();
    }

    // 2. Right after the kill: a pending record, and shards on disk that no version references.
    const afterKill = await metadataSummary();
    expect(afterKill.pending).toBe(1);
    expect(afterKill.live.size).toBe(1);
    const orphansAfterKill = [...(await liveShardDataIds()).keys()].filter((dataId) => !afterKill.live.has(dataId));
    expect(orphansAfterKill.length).toBe(1);
    console.log(`crash-before-commit: orphaned dataId ${orphansAfterKill[0]} after the kill`);

    // 3. Restart with a tiny PREPARING bound: invisible, then reclaimed.
    const second = await startServer({ dataDir, env: { CAIRN_PREPARING_MAX_AGE_MS: "1", CAIRN_JANITOR_INTERVAL_MS: "100" } });
    try {
      expect((await signedFetch(second, { method: "HEAD", path: `/${bucket}/big` })).status).toBe(404);
      const listing = await (await signedFetch(second, { method: "GET", path: `/${bucket}?list-type=2` })).text();
      expect(listing).toContain("<Key>keep</Key>");
      expect(listing).not.toContain("<Key>big</Key>");
      const versions = await signedFetch(second, { method: "GET", path: `/${bucket}?versions` });
      if (versions.status === 200) expect(await versions.text()).not.toContain("<Key>big</Key>");
      const reclaimed = (): boolean =>
        second
          .output()
          .split("\n")
          .some((line) => line.includes('"event":"janitor-run"') && line.includes('"abandoned":1') && /"freed":[1-9]/.test(line));
      await until(reclaimed, "the Janitor to reclaim the abandoned PUT", () => second.output());
      const kept = await signedFetch(second, { method: "GET", path: `/${bucket}/keep` });
      expect(kept.status).toBe(200);
      expect(Buffer.from(await kept.arrayBuffer()).equals(Buffer.from(seededRandom(seed + 1).bytes(3 * 1024 * 1024)))).toBe(true);
    } finally {
      expect(await second.stop()).toBe(0);
    }

    // 4. After a clean stop: nothing pending, no garbage left, and every live shard belongs to a version.
    const afterJanitor = await metadataSummary();
    expect(afterJanitor.pending).toBe(0);
    expect(afterJanitor.garbage).toBe(0);
    const shards = await liveShardDataIds();
    expect([...shards.keys()].filter((dataId) => !afterJanitor.live.has(dataId))).toEqual([]);
    expect(shards.has(orphansAfterKill[0]!)).toBe(false);
    expect([...shards.keys()]).toEqual([...afterJanitor.live]);
  }, 60_000);
});

/** Total bytes of every disk's volume files. */
function volumeBytes(): number {
  let total = 0;
  for (const diskId of diskIds) {
    const directory = join(dataDir, "disks", diskId);
    for (const name of readdirSync(directory)) if (name.startsWith("data.")) total += statSync(join(directory, name)).size;
  }
  return total;
}
