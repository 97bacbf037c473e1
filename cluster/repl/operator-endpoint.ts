/**
 * The operator endpoint of a fleet node: spawns the OperatorActor
 * (actors/operator/) with callbacks over the node's actors, its repair and
 * the metadata store, and runs the node's unit keeper.
 *
 * The keeper: once per `keeperIntervalMs` it probes every disk actor (when
 * the wiring gives `restartDisk`; one that is gone is spawned again, which
 * reopens its volumes) and every placement-group and bucket-partition actor
 * this node runs (a cheap local ask); a unit actor that is
 * gone (stopped by `actor.stop`, or stopped by its supervisor after too many
 * crashes) is started again at the epoch it was assigned, which this run
 * still owns, if the NodeAgent still runs it at that epoch. The NodeAgent
 * does not notice an actor that stopped under it (it only reconciles with
 * the map), so without the keeper a stopped unit would stay down until the
 * map moved it. A window remains: the agent may stop the unit (a new map, a
 * fence) while the keeper starts it again; the actor started then runs at
 * a stale epoch, where every write it makes is fenced. Doing the restart
 * inside the agent would close it.
 */
import { diskActorPath, type DiskMessage, type StatDiskReply } from "../../actors/disk/index.ts";
import { operatorActorPath, operatorBehavior, OperatorMessage } from "../../actors/operator/index.ts";
import type { ScrubJob } from "../../actors/operator/protocol.ts";
import type { GetActingSetReply, PlacementGroupMessage } from "../../actors/placement-group/protocol.ts";
import type { BucketPartitionMessage, StatBucketPartitionReply } from "../../actors/bucket-partition/protocol.ts";
import { nodeAgentActorPath, type NodeAgentMessage, type StatNodeAgentReply } from "../../actors/node-agent/protocol.ts";
import { actorRef, assert, isFault, sleepUnlessAborted, type ActorRef, type Fault, type Host } from "../../runtime/index.ts";
import { readFleetMap, setDiskOut, setNodeDraining, unitText, type Unit } from "../membership/index.ts";
import { bucketPartitionCountDefault, ObjectCatalog, type MetaStore } from "../metadata/index.ts";
import type { HealProgress, ScrubProgress, ScrubReport } from "../repair/index.ts";
import { addUser, invalidUserName, listUsers, removeUser } from "../users.ts";
import { countBucketStatsPage } from "./bucket-stats-scan.ts";

/** An actor this node runs, as the endpoint sees it. */
export interface LocalActor {
  readonly path: string;
  readonly kind: "disk" | "placementGroup" | "bucketPartition";
  readonly ref: ActorRef<unknown>;
  /** The unit and the epoch it was started at, for PG and partition actors. */
  readonly unit?: Unit;
  readonly epoch?: number;
  /**
   * The epoch the actor answers at now, when it is above `epoch`: a PG told
   * of a new acting set moves to that map's epoch and fences asks below it.
   * The keeper probes with it (a probe fenced every second is a log line
   * every second); it restarts at `epoch`, the one the unit was claimed at.
   */
  readonly askEpoch?: number;
}

export interface OperatorEndpointOptions {
  readonly host: Host;
  readonly store: MetaStore;
  readonly localActors: () => readonly LocalActor[];
  /** Stops the unit's actor if one runs and starts it again at `epoch` (the node wiring's `startUnit`). */
  readonly restartUnit: (unit: Unit, epoch: number) => Promise<void>;
  /**
   * Stops the disk actor of `diskId` if one runs and spawns it again as the node did at start (its volume
   * store reopens and rescans the directory). Without it, disk actors are refused by stop and restart and
   * the keeper leaves them alone.
   */
  readonly restartDisk?: (diskId: string) => Promise<void>;
  /** Scrubs a local disk; `onProgress` is called after each page with the pass's counts so far. */
  readonly scrubDisk: (diskId: string, onProgress?: (soFar: ScrubProgress) => void) => Promise<ScrubReport>;
  readonly healProgress: () => HealProgress;
  /**
   * Sweeps a PG hosted on this node for missing shards (recorded on its heal list): the acting set
   * swept and how many were recorded, or undefined when the PG is not hosted here.
   */
  readonly sweepPlacementGroup: (placementGroupId: number) => Promise<{ readonly actingSet: readonly string[]; readonly recorded: number } | undefined>;
  /** The fleet's acting-set width: a disk.out or node.drain leaving fewer eligible disks is refused. */
  readonly actingSetWidth: number;
  /** Time between keeper rounds; default 1 s. */
  readonly keeperIntervalMs?: number;
  /** Bound on each keeper probe; default 2 s. */
  readonly probeTimeoutMs?: number;
  /** Records one `BucketStats` page counts; default 10,000 (bucket-stats-scan.ts). Tests make it small to page. */
  readonly bucketStatsItemsPerPageMax?: number;
  readonly log: (entry: Record<string, unknown>) => void;
}

export interface OperatorEndpoint {
  stop(): Promise<void>;
}

const keeperIntervalMsDefault = 1_000;
const probeTimeoutMsDefault = 2_000;

/** Spawns the operator actor at `operatorActorPath` and starts the keeper. */
export async function startOperatorEndpoint(options: OperatorEndpointOptions): Promise<OperatorEndpoint> {
  const { host, store, log } = options;
  const catalog = new ObjectCatalog(store);
  // The newest scrub job per local disk only, so the table is bounded by the node's disks.
  const scrubs = new Map<string, ScrubJob>();
  let unitRestarts = 0;
  const find = (path: string): LocalActor | undefined => options.localActors().find((actor) => actor.path === path);
  // One restart per disk at a time: the keeper and an operator's actor.restart may ask at once, and two
  // spawns must never open the same directory's volume store side by side.
  const diskRestarts = new Map<string, Promise<void>>();
  const restartDisk = (actor: LocalActor): Promise<void> => {
    const diskId = diskIdOf(actor);
    const running = diskRestarts.get(diskId);
    if (running !== undefined) return running;
    const restart = options.restartDisk!(diskId).finally(() => diskRestarts.delete(diskId));
    diskRestarts.set(diskId, restart);
    return restart;
  };

  await host.spawn(
    operatorActorPath,
    operatorBehavior({
      fleetMap: () => store.transact((tx) => readFleetMap(tx)),
      node: async () => ({
        nodeId: host.nodeId,
        incarnation: host.incarnation,
        actors: options.localActors().map((actor) => ({ path: actor.path, kind: actor.kind, ...(actor.epoch === undefined ? {} : { epoch: actor.epoch }) })),
        heal: options.healProgress(),
        unitRestarts,
        scrubs: [...scrubs.values()],
        nowMs: host.clock.nowMs(),
      }),
      stopActor: async (path) => {
        const actor = find(path);
        if (actor === undefined) return { path, outcome: "not-here", detail: `no actor ${path} runs on ${host.nodeId}` };
        if (actor.kind === "disk" && options.restartDisk !== undefined) {
          // As a crash that exhausted its restarts: the `stopped` hook closes the volume store (pending writes settle first).
          await host.stop(actor.ref);
          return { path, outcome: "stopped", detail: `stopped; the keeper starts it again (reopening its volumes) within about ${options.keeperIntervalMs ?? keeperIntervalMsDefault} ms` };
        }
        if (actor.unit === undefined) return { path, outcome: "refused", detail: "only placement-group and bucket-partition actors can be stopped on this node: nothing would restart a disk actor" };
        await host.stop(actor.ref);
        return { path, outcome: "stopped", detail: `stopped; the keeper starts it again at epoch ${actor.epoch} within about ${options.keeperIntervalMs ?? keeperIntervalMsDefault} ms` };
      },
      restartActor: async (path) => {
        const actor = find(path);
        if (actor === undefined) return { path, outcome: "not-here", detail: `no actor ${path} runs on ${host.nodeId}` };
        if (actor.kind === "disk" && options.restartDisk !== undefined) {
          await restartDisk(actor);
          return { path, outcome: "restarted", detail: "started again: its volumes reopened and rescanned" };
        }
        if (actor.unit === undefined || actor.epoch === undefined) return { path, outcome: "refused", detail: "only placement-group and bucket-partition actors can be restarted on this node" };
        await options.restartUnit(actor.unit, actor.epoch);
        return { path, outcome: "restarted", detail: `started again at epoch ${actor.epoch}` };
      },
      startScrub: (diskId) => {
        if (!options.localActors().some((actor) => actor.kind === "disk" && actor.path === `disks/${diskId}`)) return "not-here";
        if (scrubs.get(diskId)?.state === "running") return "running";
        const job: ScrubJob = { diskId, state: "running", startedMs: host.clock.nowMs(), checked: 0, bytesChecked: 0, corrupt: 0 };
        scrubs.set(diskId, job);
        // Counts as the pass goes, so heal.status can draw a bar before the pass ends.
        const onProgress = (soFar: ScrubProgress): void => {
          const current = scrubs.get(diskId);
          if (current?.state === "running" && current.startedMs === job.startedMs) scrubs.set(diskId, { ...job, ...soFar });
        };
        void options.scrubDisk(diskId, onProgress).then(
          (report) => scrubs.set(diskId, { ...job, state: "done", finishedMs: host.clock.nowMs(), checked: report.checked, bytesChecked: report.bytesChecked, corrupt: report.corrupt }),
          (error: unknown) => scrubs.set(diskId, { ...job, state: "failed", finishedMs: host.clock.nowMs(), detail: String(error) }),
        );
        return "started";
      },
      listBuckets: async () =>
        (await catalog.listBuckets()).map((bucket) => ({
          name: bucket.name,
          createdMs: bucket.createdMs,
          partitionCount: bucket.partitionCount ?? bucketPartitionCountDefault,
          versioning: bucket.versioning ?? "Unversioned",
          ...(bucket.owner === undefined ? {} : { owner: bucket.owner }),
        })),
      listUsers: async () => (await listUsers(store)).map((user) => ({ name: user.name, role: user.role, accessKeyId: user.accessKeyId, createdMs: user.createdMs })),
      addUser: async (name, role) => {
        const problem = invalidUserName(name);
        if (problem !== undefined) return { name, outcome: "invalid-name", detail: problem };
        const outcome = await addUser(store, { name, role, nowMs: host.clock.nowMs() });
        if (outcome.kind !== "added") return { name, outcome: outcome.kind, detail: outcome.kind === "name-taken" ? `a user named ${name} exists already` : "the user table is full" };
        return { name, outcome: "added", detail: `added ${role} ${name}`, accessKeyId: outcome.user.accessKeyId, secretAccessKey: outcome.user.secretAccessKey };
      },
      removeUser: (name) => removeUser(store, name),
      bucketStats: async (bucket, cursor) => {
        const record = await catalog.getBucket(bucket);
        if (record === undefined) return { kind: "BucketStatsReply", bucket, outcome: "no-such-bucket" };
        const page = await countBucketStatsPage(store, bucket, cursor, {
          monotonicMs: () => host.clock.monotonicMs(),
          ...(options.bucketStatsItemsPerPageMax === undefined ? {} : { itemsPerPageMax: options.bucketStatsItemsPerPageMax }),
        });
        return {
          kind: "BucketStatsReply",
          bucket,
          outcome: "counted",
          versioning: record.versioning ?? "Unversioned",
          partitionCount: record.partitionCount ?? bucketPartitionCountDefault,
          counts: page.counts,
          records: page.records,
          progress: page.progress,
          ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
        };
      },
      sweepPlacementGroup: async (placementGroupId) => {
        const swept = await options.sweepPlacementGroup(placementGroupId);
        if (swept === undefined) return { kind: "SweepPlacementGroupReply", placementGroupId, outcome: "not-here" };
        return { kind: "SweepPlacementGroupReply", placementGroupId, outcome: "swept", actingSet: [...swept.actingSet], recorded: swept.recorded };
      },
      setPlacementDirective: (target, id, active, from) => {
        const request = { nowMs: host.clock.nowMs(), setBy: from, actingSetWidth: options.actingSetWidth };
        return store.transact((tx) => (target === "disk" ? setDiskOut(tx, id, active, request) : setNodeDraining(tx, id, active, request)));
      },
      log,
    }),
    { wireSchema: OperatorMessage },
  );

  const stopping = new AbortController();
  const intervalMs = options.keeperIntervalMs ?? keeperIntervalMsDefault;
  const probeTimeoutMs = options.probeTimeoutMs ?? probeTimeoutMsDefault;
  // Disk actors are the node's own (its fleet-file entry), not the map's: one found gone is started again
  // whatever the NodeAgent runs. Reopening its volume store is its normal start.
  const keepDisks = async (): Promise<void> => {
    if (options.restartDisk === undefined) return;
    const disks = options.localActors().filter((actor) => actor.kind === "disk");
    const probes = await Promise.all(
      disks.map((actor) => host.ask<DiskMessage, StatDiskReply>(actor.ref as ActorRef<DiskMessage>, (replyTo) => ({ kind: "StatDisk", replyTo }), probeTimeoutMs)),
    );
    for (const [index, actor] of disks.entries()) {
      const reply = probes[index];
      if (!isFault(reply) || reply.fault !== "Unreachable" || stopping.signal.aborted) continue;
      try {
        await restartDisk(actor);
        unitRestarts += 1;
        log({ level: "warn", event: "disk-actor-restarted", actor: actor.path });
      } catch (error) {
        log({ level: "error", event: "disk-actor-restart-failed", actor: actor.path, error: String(error) });
      }
    }
  };
  const keep = async (): Promise<void> => {
    await keepDisks();
    const units = options.localActors().filter((actor) => actor.unit !== undefined && actor.epoch !== undefined);
    const probes = await Promise.all(units.map((actor) => probe(host, actor, probeTimeoutMs)));
    // Only "Unreachable" means gone: a local ask to a path with no actor answers it at once. A
    // timeout is a busy actor, left alone.
    const gone = units.filter((_, index) => {
      const reply = probes[index];
      return isFault(reply) && reply.fault === "Unreachable";
    });
    if (gone.length === 0 || stopping.signal.aborted) return;
    // The agent decides what this run runs: restart only units it still runs at the same epoch
    // (a unit it is stopping, because the map moved it or it was fenced, must stay stopped).
    const agent = await host.ask<NodeAgentMessage, StatNodeAgentReply>(
      actorRef(host.nodeId, host.incarnation, nodeAgentActorPath),
      (replyTo) => ({ kind: "StatNodeAgent", replyTo }),
      probeTimeoutMs,
    );
    if (isFault(agent) || agent.selfFenced || agent.replaced) return;
    const agentRuns = new Set(agent.units.map((entry) => `${unitText(entry.unit)}@${entry.epoch}`));
    for (const actor of gone) {
      if (!agentRuns.has(`${unitText(actor.unit!)}@${actor.epoch}`)) continue;
      const still = options.localActors().find((candidate) => candidate.path === actor.path);
      if (still === undefined || still.epoch !== actor.epoch) continue;
      try {
        await options.restartUnit(actor.unit!, actor.epoch!);
        unitRestarts += 1;
        log({ level: "warn", event: "unit-actor-restarted", actor: actor.path, epoch: actor.epoch });
      } catch (error) {
        log({ level: "error", event: "unit-actor-restart-failed", actor: actor.path, epoch: actor.epoch, error: String(error) });
      }
    }
  };
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      await sleepUnlessAborted(host.clock, intervalMs, stopping.signal);
      if (stopping.signal.aborted) break;
      try {
        await keep();
      } catch (error) {
        log({ level: "error", event: "unit-keeper-failed", error: String(error) });
      }
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}

/** The disk id of a disk actor, from its path (`diskActorPath`). */
function diskIdOf(actor: LocalActor): string {
  const prefix = diskActorPath("");
  assert(actor.kind === "disk" && actor.path.startsWith(prefix), `${actor.path} is not a disk actor's path`);
  return actor.path.slice(prefix.length);
}

/** One cheap question to a unit actor: does it answer at all? */
function probe(host: Host, actor: LocalActor, timeoutMs: number): Promise<unknown> {
  const epoch = Math.max(actor.epoch!, actor.askEpoch ?? 0);
  if (actor.kind === "placementGroup") {
    return host.ask<PlacementGroupMessage, GetActingSetReply | Fault>(
      actor.ref as ActorRef<PlacementGroupMessage>,
      (replyTo) => ({ kind: "GetActingSet", epoch, replyTo }),
      timeoutMs,
    );
  }
  return host.ask<BucketPartitionMessage, StatBucketPartitionReply | Fault>(
    actor.ref as ActorRef<BucketPartitionMessage>,
    (replyTo) => ({ kind: "StatBucketPartition", epoch, replyTo }),
    timeoutMs,
  );
}
