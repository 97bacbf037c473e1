/**
 * The ClusterManager: spawned on every node, acting only on the node that
 * holds the manager lease. Each tick (every `tickMs` on the actor's clock) it
 * runs one metadata transaction that acquires or renews the lease, reads the
 * nodes, their leases, the registered partitions and the stored map, plans
 * the next map (`planFleetMap`) and writes it under its term. The lease and
 * the write share the transaction, so a manager deposed in between cannot
 * write: its transaction conflicts and the retry finds the new term.
 *
 * After a write it tells every live node's agent `ClusterMapChanged` (agents
 * also poll, so a lost notification only delays), then asks every agent
 * `Heartbeat` with a timeout. Missed heartbeats are logged as suspicion;
 * only a lapsed lease makes a node `down`.
 */
import {
  actorRef,
  assertNever,
  fault,
  isFault,
  sleepUnlessAborted,
  type ActorContext,
  type Behavior,
  type Fault,
} from "../../runtime/index.ts";
import { MetaStoreError, type MetaStore } from "../../cluster/metadata/index.ts";
import {
  acquireManagerLease,
  emptyFleetMap,
  planFleetMap,
  readFleetMap,
  readNodeLeases,
  readNodeRecords,
  readPartitionUnits,
  readPlacementDirectives,
  registerPartitionUnits,
  releaseManagerLease,
  writeFleetMap,
  type FleetMap,
  type FleetPlanEvent,
  type NodeRun,
} from "../../cluster/membership/index.ts";
import { nodeAgentActorPath, type HeartbeatReply, type NodeAgentMessage } from "../node-agent/protocol.ts";
import type { ClusterManagerMessage, StatClusterManagerReply } from "./protocol.ts";

export interface ClusterManagerBehaviorOptions {
  readonly store: MetaStore;
  /** Period of the manager's ticks. */
  readonly tickMs: number;
  /** How long one acquisition or renewal keeps the manager lease; several ticks. */
  readonly leaseMs: number;
  /** Bound on clock disagreement between nodes; leases are judged lapsed only this long after their expiry. */
  readonly clockSkewMsMax: number;
  /** Units moved between live nodes per map when a node joins. Moves off down nodes are never held back. */
  readonly rebalanceMovesPerTickMax: number;
  /** How long a node's lease lasts (the NodeAgents' `leaseMs`); defaults to `leaseMs`. */
  readonly nodeLeaseMs?: number;
  /** Timeout of each heartbeat ask; below `tickMs` so rounds do not pile up. */
  readonly heartbeatTimeoutMs: number;
  /** PG count of a fleet whose store has no map yet (fixed once written). */
  readonly placementGroupCount: number;
  /** The acting-set width shards are stored at (the widest storage class); see `FleetPlanInput.actingSetWidth`. */
  readonly actingSetWidth?: number;
  /** Structured log lines; defaults to JSON on stderr. */
  readonly log?: (line: Record<string, unknown>) => void;
}

export interface ClusterManagerState {
  readonly run: NodeRun;
  /** The term held, or undefined when this node is not the manager. */
  readonly term: number | undefined;
  /** Local time until which the held lease is surely valid (start of the last good renewal + leaseMs). */
  readonly leaseValidUntilMs: number;
  readonly map: FleetMap | undefined;
  readonly missedHeartbeats: ReadonlyMap<string, number>;
  readonly heartbeatsInFlight: boolean;
  readonly ticks: AbortController;
  /**
   * Local time of the first successful tick since the metadata store last
   * failed this actor (or since it started): node leases that lapsed before
   * one node lease period after it may have lapsed because nobody could
   * reach the store, so they are not yet verdicts.
   */
  readonly storeReachableSinceMs: number | undefined;
}

/** The ClusterManager behaviour; spawn it at `clusterManagerActorPath` on every node. */
export function clusterManagerBehavior(options: ClusterManagerBehaviorOptions): Behavior<ClusterManagerState, ClusterManagerMessage> {
  const log = options.log ?? ((line: Record<string, unknown>) => console.error(JSON.stringify(line)));

  const scheduleTick = (state: ClusterManagerState, context: ActorContext<ClusterManagerMessage>): void => {
    void sleepUnlessAborted(context.clock, options.tickMs, state.ticks.signal).then(() => {
      if (!state.ticks.signal.aborted) context.tell(context.self, { kind: "ClusterManagerTick" });
    });
  };

  const tick = async (state: ClusterManagerState, context: ActorContext<ClusterManagerMessage>): Promise<ClusterManagerState> => {
    const startMs = context.clock.nowMs();
    let outcome: { lease: Fault | { term: number }; map: FleetMap | undefined; events: readonly FleetPlanEvent[]; changed: boolean; movesDeferred: number };
    try {
      outcome = await options.store.transact(async (tx) => {
        const nowMs = context.clock.nowMs();
        const lease = await acquireManagerLease(tx, state.run, { nowMs, leaseMs: options.leaseMs, clockSkewMsMax: options.clockSkewMsMax });
        if (isFault(lease)) return { lease, map: undefined, events: [], changed: false, movesDeferred: 0 };
        const previous = (await readFleetMap(tx)) ?? emptyFleetMap(options.placementGroupCount);
        const plan = planFleetMap({
          previous,
          nodes: await readNodeRecords(tx),
          leases: await readNodeLeases(tx),
          partitionUnits: await readPartitionUnits(tx),
          directives: await readPlacementDirectives(tx),
          nowMs,
          clockSkewMsMax: options.clockSkewMsMax,
          rebalanceMovesPerTickMax: options.rebalanceMovesPerTickMax,
          managerTerm: lease.term,
          lapseVerdictsFromMs: (state.storeReachableSinceMs ?? startMs) + (options.nodeLeaseMs ?? options.leaseMs) + options.clockSkewMsMax,
          ...(options.actingSetWidth === undefined ? {} : { actingSetWidth: options.actingSetWidth }),
        });
        if (plan.changed) {
          const fenced = await writeFleetMap(tx, lease.term, plan.map);
          // The lease was granted in this very transaction: a refusal here is a bug.
          if (fenced !== undefined) throw new Error(`manager: own term refused: ${fenced.detail}`);
        }
        return { lease, map: plan.map, events: plan.events, changed: plan.changed, movesDeferred: plan.movesDeferred };
      });
    } catch (error) {
      if (!(error instanceof MetaStoreError)) throw error;
      log({ level: "warn", event: "manager-tick-failed", nodeId: state.run.nodeId, error: error.message });
      // Without a renewal the lease runs out on our own clock: stop acting then.
      const stillHeld = state.term !== undefined && context.clock.nowMs() < state.leaseValidUntilMs;
      if (state.term !== undefined && !stillHeld) log({ level: "warn", event: "manager-stepped-down", nodeId: state.run.nodeId, term: state.term });
      scheduleTick(state, context);
      return stillHeld ? { ...state, storeReachableSinceMs: undefined } : { ...state, term: undefined, storeReachableSinceMs: undefined };
    }

    state = { ...state, storeReachableSinceMs: state.storeReachableSinceMs ?? startMs };
    if (isFault(outcome.lease)) {
      if (state.term !== undefined) log({ level: "info", event: "manager-deposed", nodeId: state.run.nodeId, term: state.term, detail: outcome.lease.detail });
      scheduleTick(state, context);
      return { ...state, term: undefined, missedHeartbeats: new Map() };
    }
    const term = outcome.lease.term;
    if (state.term !== term) log({ level: "info", event: "manager-elected", nodeId: state.run.nodeId, incarnation: state.run.incarnation, term });
    // The event names its own node (a node-state change); the manager is `managerNodeId`.
    for (const event of outcome.events) log({ level: "info", managerNodeId: state.run.nodeId, term, ...event });
    let next: ClusterManagerState = { ...state, term, leaseValidUntilMs: startMs + options.leaseMs, map: outcome.map };
    const map = outcome.map;
    if (map !== undefined) {
      if (outcome.changed) {
        log({ level: "info", event: "map-written", nodeId: state.run.nodeId, term, epoch: map.epoch, movesDeferred: outcome.movesDeferred });
        for (const node of map.nodes) {
          if (node.state === "down") continue;
          context.tell<NodeAgentMessage>(actorRef(node.nodeId, node.incarnation, nodeAgentActorPath), { kind: "ClusterMapChanged", epoch: map.epoch, term });
        }
      }
      if (!state.heartbeatsInFlight) {
        sendHeartbeats(map, term, context);
        next = { ...next, heartbeatsInFlight: true };
      }
    }
    scheduleTick(next, context);
    return next;
  };

  const sendHeartbeats = (map: FleetMap, term: number, context: ActorContext<ClusterManagerMessage>): void => {
    const targets = map.nodes.filter((node) => node.state !== "down");
    const asks = targets.map((node) =>
      context.ask<NodeAgentMessage, HeartbeatReply>(
        actorRef(node.nodeId, node.incarnation, nodeAgentActorPath),
        (replyTo) => ({ kind: "Heartbeat", term, epoch: map.epoch, replyTo }),
        options.heartbeatTimeoutMs,
      ),
    );
    // The round is collected off the mailbox: the manager keeps serving while it waits.
    void Promise.all(asks).then((replies) => {
      const answered: string[] = [];
      const missed: { nodeId: string; fault: string }[] = [];
      replies.forEach((reply, index) => {
        const nodeId = targets[index]!.nodeId;
        if (isFault(reply)) missed.push({ nodeId, fault: reply.fault });
        else answered.push(nodeId);
      });
      context.tell(context.self, { kind: "HeartbeatsSettled", term, answered, missed });
    });
  };

  return {
    initialState(context): ClusterManagerState {
      const state: ClusterManagerState = {
        run: { nodeId: context.nodeId, incarnation: context.self.incarnation },
        term: undefined,
        leaseValidUntilMs: context.clock.nowMs(),
        map: undefined,
        missedHeartbeats: new Map(),
        heartbeatsInFlight: false,
        ticks: new AbortController(),
        storeReachableSinceMs: undefined,
      };
      context.tell(context.self, { kind: "ClusterManagerTick" });
      return state;
    },

    async receive(state, message, context): Promise<ClusterManagerState> {
      switch (message.kind) {
        case "ClusterManagerTick":
          return tick(state, context);
        case "HeartbeatsSettled": {
          if (message.term !== state.term) return { ...state, heartbeatsInFlight: false };
          const missedHeartbeats = new Map(state.missedHeartbeats);
          for (const nodeId of message.answered) {
            const missed = missedHeartbeats.get(nodeId);
            if (missed !== undefined) log({ level: "info", event: "heartbeat-recovered", nodeId: state.run.nodeId, suspect: nodeId, missed });
            missedHeartbeats.delete(nodeId);
          }
          for (const miss of message.missed) {
            const count = (missedHeartbeats.get(miss.nodeId) ?? 0) + 1;
            missedHeartbeats.set(miss.nodeId, count);
            // Suspicion only: the verdict is the node's lease, which the store
            // judges. Logged on the first miss and every tenth after, so a long
            // partition does not flood the log at the tick rate.
            if (count === 1 || count % 10 === 0) {
              log({ level: "warn", event: "heartbeat-missed", nodeId: state.run.nodeId, suspect: miss.nodeId, missed: count, fault: miss.fault });
            }
          }
          return { ...state, missedHeartbeats, heartbeatsInFlight: false };
        }
        case "RegisterPartitions": {
          let reply: Fault | { kind: "RegisterPartitionsReply"; count: number };
          try {
            const refused = await options.store.transact((tx) => registerPartitionUnits(tx, message.partitions, context.clock.nowMs()));
            reply = refused ?? { kind: "RegisterPartitionsReply", count: message.partitions.length };
          } catch (error) {
            if (!(error instanceof MetaStoreError)) throw error;
            reply = fault("Unreachable", `metadata store: ${error.message}`);
          }
          context.tell(message.replyTo, reply);
          return state;
        }
        case "StatClusterManager": {
          const reply: StatClusterManagerReply = {
            kind: "StatClusterManagerReply",
            leader: state.term !== undefined,
            term: state.term ?? 0,
            epoch: state.map?.epoch ?? 0,
            suspects: [...state.missedHeartbeats].map(([nodeId, missed]) => ({ nodeId, missed })),
          };
          context.tell(message.replyTo, reply);
          return state;
        }
        default:
          return assertNever(message);
      }
    },

    async stopped(state): Promise<void> {
      state.ticks.abort();
      if (state.term === undefined) return;
      // A clean stop hands the lease over at once instead of after expiry.
      const term = state.term;
      try {
        await options.store.transact((tx) => releaseManagerLease(tx, state.run, term));
      } catch (error) {
        if (!(error instanceof MetaStoreError)) throw error;
      }
    },
  };
}
