/**
 * One chaos run against a real fleet on 127.0.0.1: clients PUT, GET, DELETE
 * and LIST overlapping keys through every gateway while a fault schedule
 * drawn from the seed kills nodes (SIGKILL, then `fleet up`), pauses them
 * past their lease (SIGSTOP … SIGCONT), flips bytes in volume files, stops
 * PG, partition and disk actors through the operator interface, and fills a
 * disk's filesystem for a few seconds (a ballast file on the disk's own
 * tmpfs, see `FleetOptions.diskFilesystemBytes`). Then
 * the faults stop, every key is read back, the history is checked
 * (test/chaos/: linearizability per key, acknowledged writes read back,
 * deletes stay deleted, every value read was written), and the run waits
 * until the fleet is back to full redundancy: every node up, every disk
 * scrubbed since the faults ended, no PG with a shard left to heal. The
 * report gives the time that took; a failure names the seed.
 *
 * Everything random comes from the seed: which operations, keys, sizes,
 * gateways and faults, and when (real processes still make the run's timing
 * differ between replays, as any test against real processes does).
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { open, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { readFleetFile } from "../../cluster/fleet/fleet-file.ts";
import { fleetActingSetWidth } from "../../cluster/fleet/fleet-node.ts";
import type { FleetMap } from "../../cluster/membership/index.ts";
import { decodeRecordOf, placementGroupCompleteKey, placementGroupHealRange } from "../../cluster/metadata/index.ts";
import { actingSet } from "../../cluster/placement/index.ts";
import { seededRandom, systemClock, type Random } from "../../runtime/index.ts";
import { checkHistoryAnomalies, formatAnomaly } from "../chaos/anomalies.ts";
import type { HistoryOperation } from "../chaos/history.ts";
import { checkLinearizability, formatLinearizabilityReport } from "../chaos/linearizability.ts";
import { repositoryRoot, testAccessKeyId, testSecretAccessKey } from "../support/server.ts";
import type { TestFleet } from "../support/fleet.ts";

const clock = systemClock();

export interface ChaosOptions {
  readonly seed: number;
  /** How long the workload and the faults run. */
  readonly durationMs: number;
  readonly clients: number;
  readonly keys: number;
  /** The largest object a PUT writes (sizes are skewed small; 0 B occurs). */
  readonly sizeBytesMax: number;
  /** Faults per minute of workload (at least one per run). */
  readonly faultsPerMinute: number;
  /** The kinds of fault the schedule draws from (in this order: the seed picks by index). */
  readonly faultKinds: readonly FaultKind[];
  /** How long, after the faults stop, the fleet may take to be fully redundant again. */
  readonly recoveryMsMax: number;
  /** The fleet's repair schedule (the run waits for a scrub of every disk after the faults). */
  readonly scrubIntervalMs: number;
  readonly log: (line: string) => void;
}

export interface ChaosReport {
  readonly seed: number;
  readonly operations: number;
  readonly acknowledgedWrites: number;
  readonly faults: readonly string[];
  /** Problems found; empty when the run passed. */
  readonly problems: readonly string[];
  /** From the end of the faults to full redundancy. */
  readonly recoveryMs: number;
  /** What `pg.sweep` found once the fleet was fully redundant (every indexed shard on its disk), or why it did not run. */
  readonly audit: string;
  /** What the clients did and heard (test/chaos/history.ts), to save when the run failed. */
  readonly history: readonly HistoryOperation[];
}

export type FaultKind = "kill" | "pause" | "corrupt" | "stop-actor" | "stop-disk" | "fill-disk" | "out-disk";
/** Every kind of fault. */
export const allFaultKinds: readonly FaultKind[] = ["kill", "pause", "corrupt", "stop-actor", "stop-disk", "fill-disk", "out-disk"];
/** The kinds before disks were stopped and filled (a seed draws the same schedule as it did then). */
export const nodeAndActorFaultKinds: readonly FaultKind[] = ["kill", "pause", "corrupt", "stop-actor"];
interface PlannedFault {
  readonly atMs: number;
  readonly kind: FaultKind;
  readonly nodeId: string;
}

/** The chaos runs of the test command: short, small objects, frequent faults. */
export const shortRunDefaults: Omit<ChaosOptions, "seed" | "log"> = {
  durationMs: 3_000,
  clients: 4,
  keys: 12,
  sizeBytesMax: 2 * 1024 * 1024,
  faultsPerMinute: 20,
  faultKinds: allFaultKinds,
  recoveryMsMax: 60_000,
  scrubIntervalMs: 2_000,
};

/** Runs one seed on `fleet` (every node up, with the repair schedule `scrubIntervalMs` asks for). */
export async function runChaos(fleet: TestFleet, options: ChaosOptions): Promise<ChaosReport> {
  const random = seededRandom(options.seed);
  const bucket = `chaos-${options.seed.toString(36)}`;
  // Each run starts from a whole fleet, so one run's failure does not become the next one's.
  if ((await fleet.currentMap()).nodes.some((node) => node.state !== "up")) {
    await fleetUp(fleet);
    await fleet.waitForMap("every node up before the run", (map) => map.nodes.every((node) => node.state === "up"), 60_000);
  }
  const gateways = [...fleet.clients.values()];
  await retry(() => gateways[0]!.send(new CreateBucketCommand({ Bucket: bucket })), 30_000);
  const problems: string[] = [];
  const history: HistoryOperation[] = [];
  const values = new Map<string, string>(); // sha256 of bytes → value id
  let acknowledgedWrites = 0;
  const emptyKeys: string[] = [];
  const startMs = clock.monotonicMs();
  const endMs = startMs + options.durationMs;

  // ---- faults ----
  const plan = planFaults(random, fleet.nodeIds, options);
  const faultLog: string[] = [];
  const down = new Set<string>();
  const paused = new Set<string>();
  const faults = (async () => {
    for (const fault of plan) {
      const waitMs = startMs + fault.atMs - clock.monotonicMs();
      if (waitMs > 0) await clock.sleep(waitMs);
      if (clock.monotonicMs() >= endMs) break;
      faultLog.push(`${fault.kind} ${fault.nodeId} at ${fault.atMs} ms`);
      switch (fault.kind) {
        case "kill": {
          down.add(fault.nodeId);
          process.kill(fleet.pidOf(fault.nodeId), "SIGKILL");
          await clock.sleep(1_000 + random.integer(2_000));
          await fleetUp(fleet);
          down.delete(fault.nodeId);
          break;
        }
        case "pause": {
          const pid = fleet.pidOf(fault.nodeId);
          paused.add(fault.nodeId);
          process.kill(pid, "SIGSTOP");
          // Past the node's 2 s lease: the fleet must take its PGs elsewhere, and the node must fence itself on waking.
          await clock.sleep(2_500 + random.integer(1_500));
          process.kill(pid, "SIGCONT");
          paused.delete(fault.nodeId);
          break;
        }
        case "corrupt":
          faultLog.push(`  ${corruptVolume(fleet, fault.nodeId, random)}`);
          break;
        case "stop-actor": {
          // Through the operator interface, as an operator's drill would: a PG actor or one of this run's
          // bucket partitions; the node restarts it (cluster/repl/operator-endpoint.ts).
          const map = await fleet.currentMap();
          const target =
            random.integer(2) === 0
              ? `pg/${random.integer(map.placementGroups.length)}`
              : `bucket/${bucket}/${random.integer(4)}`;
          faultLog.push(`  actor.stop ${target}: ${await operatorCommand(fleet, `actor.stop ${target} --apply`)}`);
          break;
        }
        case "stop-disk": {
          // The disk actor closes its volume files; the node's keeper spawns it again (reopening them) about a
          // second later. Meanwhile its shards are read by reconstruction and writes to its PGs go degraded.
          const diskId = diskOf(fleet, fault.nodeId, random);
          faultLog.push(`  actor.stop disk/${diskId}: ${await operatorCommand(fleet, `actor.stop disk/${diskId} --apply`)}`);
          break;
        }
        case "out-disk": {
          // An operator marks a disk out (its PGs backfill onto other disks while clients write) and back in
          // (they backfill onto it again): `disk.out` / `disk.in` through the REPL, as cluster/repl documents.
          const diskId = diskOf(fleet, fault.nodeId, random);
          faultLog.push(`  disk.out ${diskId}: ${await operatorCommand(fleet, `disk.out ${diskId} --apply`)}`);
          await clock.sleep(1_500 + random.integer(1_500));
          faultLog.push(`  disk.in ${diskId}: ${await operatorCommand(fleet, `disk.in ${diskId} --apply`)}`);
          break;
        }
        case "fill-disk": {
          const diskId = diskOf(fleet, fault.nodeId, random);
          // Half the fills stop 1 MiB short (the disk actor's reserve refuses writes), half go to the last byte
          // (what is in flight meets ENOSPC from the filesystem itself).
          const leaveBytes = random.integer(2) === 0 ? 0 : 1024 * 1024;
          const holdMs = 2_000 + random.integer(2_000);
          faultLog.push(`  ${await fillDisk(fleet, diskId, leaveBytes, holdMs)}`);
          break;
        }
      }
    }
  })();

  // ---- workload ----
  const keyName = (index: number): string => `k${index.toString().padStart(3, "0")}`;
  const clientLoop = async (clientId: number): Promise<void> => {
    const own = random.fork(`client-${clientId}`);
    let counter = 0;
    // Empty objects: each client writes one to its own key, read back at the end (0 B must stay 0 B).
    const empty = await classify(() => gateways[clientId % gateways.length]!.send(new PutObjectCommand({ Bucket: bucket, Key: `empty-${clientId}`, Body: new Uint8Array(0) }), requestOptions()));
    if (empty === "ok") emptyKeys.push(`empty-${clientId}`);
    while (clock.monotonicMs() < endMs) {
      const s3 = gateways[own.integer(gateways.length)]!;
      const key = keyName(own.integer(options.keys));
      const roll = own.integer(100);
      const callMs = clock.monotonicMs();
      if (roll < 50) {
        counter += 1;
        const valueId = `v${options.seed}-${clientId}-${counter}`;
        const body = bodyFor(valueId, sizeFor(own, options.sizeBytesMax));
        values.set(digest(body), valueId);
        const ifNoneMatch = roll < 5;
        const outcome = await classify(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(ifNoneMatch ? { IfNoneMatch: "*" } : {}) }), requestOptions()));
        const returnMs = clock.monotonicMs();
        const put = outcome === "ok" ? "ok" : outcome === 412 ? "precondition-failed" : outcome === "unknown" ? "unknown" : "failed";
        if (put === "ok") acknowledgedWrites += 1;
        history.push({ kind: "put", key, clientId, callMs, returnMs: put === "unknown" ? Infinity : returnMs, valueId, ifNoneMatch, outcome: put });
      } else if (roll < 85) {
        let bytes: Uint8Array | undefined;
        const outcome = await classify(async () => {
          const reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), requestOptions());
          bytes = await reply.Body!.transformToByteArray();
        });
        const returnMs = clock.monotonicMs();
        if (outcome === "ok" && bytes !== undefined) {
          const valueId = values.get(digest(bytes)) ?? `never-written-${digest(bytes).slice(0, 12)}`;
          history.push({ kind: "get", key, clientId, callMs, returnMs, outcome: "found", valueId });
        } else if (outcome === 404) {
          history.push({ kind: "get", key, clientId, callMs, returnMs, outcome: "absent", valueId: null });
        } else {
          history.push({ kind: "get", key, clientId, callMs, returnMs, outcome: "failed", valueId: null });
        }
      } else if (roll < 95) {
        const outcome = await classify(() => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), requestOptions()));
        const returnMs = clock.monotonicMs();
        const deleted = outcome === "ok" ? "ok" : outcome === "unknown" ? "unknown" : "failed";
        history.push({ kind: "delete", key, clientId, callMs, returnMs: deleted === "unknown" ? Infinity : returnMs, outcome: deleted });
      } else {
        // Listings are not part of the register model; a listing must still never fail with a 4xx.
        const outcome = await classify(() => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "k" }), requestOptions()));
        if (typeof outcome === "number" && outcome < 500 && outcome !== 404) problems.push(`LIST answered ${outcome}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, clientId) => clientLoop(clientId)));
  await faults;
  const faultsEndMs = clock.monotonicMs();
  // Nothing may stay stopped: a pause or kill cut short by the end of the run is undone.
  for (const nodeId of paused) process.kill(fleet.pidOf(nodeId), "SIGCONT");
  if (down.size > 0) await fleetUp(fleet);

  // ---- read back: every key, once the fleet serves again ----
  const finalClientId = options.clients;
  for (let index = 0; index < options.keys; index += 1) {
    const key = keyName(index);
    const deadline = clock.monotonicMs() + options.recoveryMsMax;
    for (;;) {
      const callMs = clock.monotonicMs();
      let bytes: Uint8Array | undefined;
      const outcome = await classify(async () => {
        const reply = await gateways[index % gateways.length]!.send(new GetObjectCommand({ Bucket: bucket, Key: key }), requestOptions());
        bytes = await reply.Body!.transformToByteArray();
      });
      const returnMs = clock.monotonicMs();
      if (outcome === "ok" && bytes !== undefined) {
        history.push({ kind: "get", key, clientId: finalClientId, callMs, returnMs, outcome: "found", valueId: values.get(digest(bytes)) ?? `never-written-${digest(bytes).slice(0, 12)}` });
        break;
      }
      if (outcome === 404) {
        history.push({ kind: "get", key, clientId: finalClientId, callMs, returnMs, outcome: "absent", valueId: null });
        break;
      }
      if (clock.monotonicMs() > deadline) {
        problems.push(`${key}: unreadable ${options.recoveryMsMax} ms after the faults stopped (last answer ${String(outcome)})`);
        break;
      }
      await clock.sleep(200);
    }
  }

  for (const key of emptyKeys) {
    let sizeBytes: number | undefined;
    const outcome = await classify(async () => {
      const reply = await gateways[0]!.send(new GetObjectCommand({ Bucket: bucket, Key: key }), requestOptions());
      sizeBytes = (await reply.Body!.transformToByteArray()).byteLength;
    });
    if (outcome !== "ok" || sizeBytes !== 0) problems.push(`${key}: the empty object read back as ${outcome === "ok" ? `${sizeBytes} bytes` : String(outcome)}`);
  }

  // ---- the checks ----
  const linearizability = checkLinearizability(history);
  if (linearizability.verdict === "violation") problems.push(`not linearizable:\n${formatLinearizabilityReport(linearizability)}`);
  if (linearizability.verdict === "unknown") problems.push(`linearizability undecided within the checker's budget:\n${formatLinearizabilityReport(linearizability)}`);
  for (const anomaly of checkHistoryAnomalies(history)) problems.push(formatAnomaly(anomaly));

  // ---- back to full redundancy ----
  const problemsBefore = problems.length;
  const recoveryMs = await waitForRedundancy(fleet, options, faultsEndMs, problems);
  const audit = problems.length === problemsBefore ? await auditShards(fleet, problems) : "no audit: the fleet did not get back to full redundancy";
  return { seed: options.seed, operations: history.length, acknowledgedWrites, faults: faultLog, problems, recoveryMs, audit, history };
}

/** Faults at seeded times: node faults never overlap (one node at a time is what 3+2 on one disk per host survives with margin). */
function planFaults(random: Random, nodeIds: readonly string[], options: ChaosOptions): PlannedFault[] {
  const count = Math.max(1, Math.round((options.durationMs / 60_000) * options.faultsPerMinute));
  const kinds = options.faultKinds;
  const plan: PlannedFault[] = [];
  for (let index = 0; index < count; index += 1) {
    plan.push({ atMs: random.integer(Math.max(1, options.durationMs - 500)), kind: kinds[random.integer(kinds.length)]!, nodeId: nodeIds[random.integer(nodeIds.length)]! });
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/** One of the node's disks, drawn from the seed. */
function diskOf(fleet: TestFleet, nodeId: string, random: Random): string {
  const disks = [...fleet.diskDirectories.keys()].filter((diskId) => diskId.startsWith(`${nodeId}/`)).sort();
  return disks[random.integer(disks.length)]!;
}

/**
 * Fills the filesystem of one disk (its own tmpfs) with a ballast file up to `leaveBytes` of free space,
 * holds it `holdMs` under the workload, asks `disk.list` meanwhile whether the disk actor says full, and
 * removes the ballast (also when something fails). Says what it did, or why it was skipped.
 */
async function fillDisk(fleet: TestFleet, diskId: string, leaveBytes: number, holdMs: number): Promise<string> {
  if (!fleet.diskFilesystems.mounted) return `fill-disk ${diskId} skipped: ${fleet.diskFilesystems.why}`;
  const directory = fleet.diskDirectories.get(diskId)!;
  const ballast = join(directory, "ballast");
  const chunk = new Uint8Array(4 * 1024 * 1024);
  const startMs = clock.monotonicMs();
  let ballastBytes = 0;
  let leftBytes = 0;
  let said = "";
  let toHeal = 0;
  const handle = await open(ballast, "w");
  try {
    try {
      for (;;) {
        const figures = await statfs(directory);
        const wantBytes = figures.bavail * figures.bsize - leaveBytes;
        if (wantBytes <= 0) break;
        const { bytesWritten } = await handle.write(chunk, 0, Math.min(chunk.length, wantBytes));
        ballastBytes += bytesWritten;
      }
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOSPC") throw error;
    }
    const figures = await statfs(directory);
    leftBytes = figures.bavail * figures.bsize;
    // The disk actor measures again within a second; by then the workload has met the full disk.
    await clock.sleep(1_200);
    said = await diskListSays(fleet, diskId);
    const restMs = startMs + holdMs - clock.monotonicMs();
    if (restMs > 0) await clock.sleep(restMs);
    // Shard writes the full disk refused are on their PGs' heal lists now (with whatever else is there).
    toHeal = await damagedShards(fleet, (await fleet.currentMap()).placementGroups.length);
  } finally {
    await handle.close();
    await unlink(ballast);
  }
  return `fill-disk ${diskId}: ballast ${(ballastBytes / 1048576).toFixed(1)} MiB, ${leftBytes} bytes left, disk.list: ${said}; ${toHeal} shards on heal lists when freed after ${Math.round(clock.monotonicMs() - startMs)} ms`;
}

/** What `disk.list NODE --json` says of one disk: "full", "not full", or the command's failure. */
async function diskListSays(fleet: TestFleet, diskId: string): Promise<string> {
  const nodeId = diskId.slice(0, diskId.indexOf("/"));
  const { code, stdout, stderr } = await replCommand(fleet, `disk.list ${nodeId} --json`);
  if (code !== 0) return `exit ${code}: ${(stderr.trim() || stdout.trim()).split("\n")[0] ?? ""}`;
  try {
    const rows = JSON.parse(stdout) as { diskId: string; full?: boolean; freeBytes?: number; fault?: { fault: string } }[];
    const row = rows.find((entry) => entry.diskId === diskId);
    if (row === undefined) return `no row for ${diskId}`;
    if (row.fault !== undefined) return `fault ${row.fault.fault}`;
    return `${row.full === true ? "full" : "not full"} (${row.freeBytes ?? "?"} bytes free)`;
  } catch {
    return `unparsed: ${stdout.slice(0, 80)}`;
  }
}

/** Flips 16 bytes at seeded offsets of one volume file of one of the node's disks; says what it did. */
function corruptVolume(fleet: TestFleet, nodeId: string, random: Random): string {
  const nodeDirectory = join(fleet.directory, nodeId);
  const volumes: string[] = [];
  const walk = (directory: string): void => {
    for (const name of readdirSync(directory)) {
      const path = join(directory, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.size > 4096 && /^data\.[0-9]{6}$/.test(name)) volumes.push(path);
    }
  };
  try {
    walk(nodeDirectory);
  } catch {
    return `no disk directory under ${nodeDirectory}`;
  }
  if (volumes.length === 0) return `no volume file on ${nodeId} yet`;
  const path = volumes[random.integer(volumes.length)]!;
  const size = statSync(path).size;
  const descriptor = openSync(path, "r+");
  try {
    for (let flip = 0; flip < 16; flip += 1) {
      const offset = random.integer(size);
      const original = new Uint8Array(1);
      readSync(descriptor, original, 0, 1, offset);
      writeSync(descriptor, Uint8Array.of(original[0]! ^ 0xa5), 0, 1, offset);
    }
  } finally {
    closeSync(descriptor);
  }
  return `flipped 16 bytes of ${path.slice(fleet.directory.length + 1)}`;
}

/** Every node up, then two scrub intervals (every disk scrubbed since the faults) with no PG left to heal. */
async function waitForRedundancy(fleet: TestFleet, options: ChaosOptions, faultsEndMs: number, problems: string[]): Promise<number> {
  const deadline = faultsEndMs + options.recoveryMsMax;
  const scrubbedAfterMs = faultsEndMs + 2 * options.scrubIntervalMs + 1_000;
  for (;;) {
    const map = await fleet.currentMap();
    const allUp = map.nodes.every((node) => node.state === "up");
    const damaged = allUp ? await damagedShards(fleet, map.placementGroups.length) : -1;
    // Every PG has every shard on its current acting set (no backfill left after a disk went out and in).
    const backfilling = allUp ? await backfillingPlacementGroups(fleet, map) : [];
    const nowMs = clock.monotonicMs();
    if (allUp && damaged === 0 && backfilling.length === 0 && nowMs >= scrubbedAfterMs) return nowMs - faultsEndMs;
    if (nowMs > deadline) {
      const notUp = map.nodes.filter((node) => node.state !== "up");
      problems.push(
        `not back to full redundancy ${options.recoveryMsMax} ms after the faults: ${allUp ? `${damaged} shards still to heal, PGs backfilling: ${backfilling.join(", ") || "none"}` : `not up: ${notUp.map((node) => `${node.nodeId} (${node.state})`).join(", ")}`}`,
      );
      for (const node of notUp) problems.push(`last lines of ${node.nodeId}'s log:\n${logTail(fleet, node.nodeId, 30)}`);
      return nowMs - faultsEndMs;
    }
    await clock.sleep(250);
  }
}

/**
 * Full redundancy as heal lists see it means only that no damage is *known*. `pg.sweep` checks every
 * shard of every indexed datum (but data being written or freed) on its disk: after full redundancy
 * nothing may be missing, or a shard was lost without anyone noticing (a write's damage report that
 * never arrived, a delete of a shard that was still needed). Says what it found.
 */
async function auditShards(fleet: TestFleet, problems: string[]): Promise<string> {
  const { code, stdout, stderr } = await replCommand(fleet, "pg.sweep --apply --json");
  if (code !== 0) {
    problems.push(`pg.sweep exited ${code}: ${stderr.trim() || stdout.trim()}`);
    return "pg.sweep failed";
  }
  const result = JSON.parse(stdout) as { swept: number; placementGroups: number; recorded: number; rows: { placementGroupId: number; outcome: string; recorded?: number; detail?: string }[] };
  if (result.swept !== result.placementGroups) {
    problems.push(`pg.sweep swept ${result.swept} of ${result.placementGroups} PGs: ${JSON.stringify(result.rows.filter((row) => row.outcome !== "swept"))}`);
  }
  if (result.recorded > 0) {
    const where = result.rows.filter((row) => (row.recorded ?? 0) > 0).map((row) => `pg ${row.placementGroupId}: ${row.recorded}`);
    problems.push(`${result.recorded} shards missing after full redundancy, found by pg.sweep (${where.join(", ")})`);
  }
  return `pg.sweep: ${result.swept} of ${result.placementGroups} PGs, ${result.recorded} missing shards`;
}

/** The end of a node's log (`fleet up` writes it under the fleet's state directory). */
function logTail(fleet: TestFleet, nodeId: string, lines: number): string {
  try {
    return readFileSync(join(fleet.directory, "state", "run", `${nodeId}.log`), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${String(error)})`;
  }
}

/** PGs whose recorded complete acting set is not the map's acting set for them (at the fleet's width). */
async function backfillingPlacementGroups(fleet: TestFleet, map: FleetMap): Promise<number[]> {
  const width = fleetActingSetWidth(readFleetFile(fleet.fleetPath));
  return fleet.store.transact(async (tx) => {
    const backfilling: number[] = [];
    for (const entry of map.placementGroups) {
      const bytes = await tx.get(placementGroupCompleteKey(entry.placementGroupId));
      const complete = bytes === undefined ? null : (decodeRecordOf("placementGroupComplete", bytes).value as { diskIds: string[] }).diskIds;
      if (complete?.join(",") !== actingSet(entry.placementGroupId, map.placement, width).join(",")) backfilling.push(entry.placementGroupId);
    }
    return backfilling;
  });
}

async function damagedShards(fleet: TestFleet, placementGroupCount: number): Promise<number> {
  return fleet.store.transact(async (tx) => {
    let total = 0;
    for (let id = 0; id < placementGroupCount; id += 1) {
      const range = placementGroupHealRange(id);
      total += (await tx.getRange(range.begin, range.end, { limit: 10_000 })).length;
    }
    return total;
  });
}

/**
 * A size skewed small: most under 64 KiB, some up to 1 MiB, a few up to
 * `max`. Never 0: every empty body is the same, so a read of one could not
 * say which PUT it saw; empty objects get their own keys (see `runChaos`).
 */
function sizeFor(random: Random, max: number): number {
  const roll = random.integer(100);
  if (roll < 70) return 1 + random.integer(64 * 1024);
  if (roll < 95) return 1 + random.integer(Math.min(max, 1024 * 1024));
  return 1 + random.integer(max);
}

/** Unique bytes for a value id (its digest names it when read back). */
function bodyFor(valueId: string, sizeBytes: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  const words = new Uint32Array(bytes.buffer, 0, Math.floor(sizeBytes / 4));
  let state = createHash("sha256").update(valueId).digest().readUInt32LE(0) || 1;
  for (let index = 0; index < words.length; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[index] = state >>> 0;
  }
  const tag = new TextEncoder().encode(valueId);
  bytes.set(tag.subarray(0, Math.min(tag.length, sizeBytes)));
  return bytes;
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** "ok", the HTTP status of an S3 error, or "unknown" (no answer: timeout, connection cut). */
async function classify(run: () => Promise<unknown>): Promise<"ok" | "unknown" | number> {
  try {
    await run();
    return "ok";
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined || status >= 500) return "unknown";
    return status;
  }
}

function requestOptions(): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(15_000) };
}

async function retry<T>(run: () => Promise<T>, boundMs: number): Promise<T> {
  const deadline = clock.monotonicMs() + boundMs;
  for (;;) {
    try {
      return await run();
    } catch (error) {
      if (clock.monotonicMs() > deadline) throw error;
      await clock.sleep(200);
    }
  }
}

/** One REPL command through `cairn repl --exec` (the fleet secret is the operator's credential); its exit code and first line. */
async function operatorCommand(fleet: TestFleet, command: string): Promise<string> {
  const { code, stdout, stderr } = await replCommand(fleet, command);
  return `exit ${code}: ${(stdout.trim() || stderr.trim()).split("\n")[0] ?? ""}`;
}

async function replCommand(fleet: TestFleet, command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([join(repositoryRoot, "bin/cairn"), "repl", "--fleet", fleet.fleetPath, "--exec", command], {
    cwd: repositoryRoot,
    env: { ...process.env, CAIRN_ACCESS_KEY: testAccessKeyId, CAIRN_SECRET_KEY: testSecretAccessKey },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

/** `cairn fleet up` without blocking the event loop (clients keep running meanwhile). */
async function fleetUp(fleet: TestFleet): Promise<void> {
  const child = Bun.spawn([join(repositoryRoot, "bin/cairn"), "fleet", "up", fleet.fleetPath], {
    cwd: repositoryRoot,
    env: { ...process.env, CAIRN_ACCESS_KEY: testAccessKeyId, CAIRN_SECRET_KEY: testSecretAccessKey },
    stdout: "pipe",
    stderr: "pipe",
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`fleet up failed (${code}): ${await new Response(child.stderr).text()}`);
}
