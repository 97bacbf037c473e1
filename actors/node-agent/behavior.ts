/**
 * The NodeAgent: one per node. It keeps the node's lease, learns the fleet
 * map, and runs the units the map assigns to this run of the node through
 * the callbacks it was built with (the node wiring spawns PG and partition
 * actors in them).
 *
 * Every `leaseRenewMs` it renews the lease and reads the stored map in one
 * transaction, so a lost `ClusterMapChanged` only delays a change by one
 * renewal period. Before starting a unit assigned at epoch e it claims the
 * unit's owner record for e; an older owner is refused at its next write.
 *
 * Self-fencing: the agent counts its lease as valid until the local time at
 * which its last successful renewal *began* plus `leaseMs` — never later than
 * the expiry others read (written from a clock reading taken after that
 * moment) and earlier still than `expiry + clockSkewMsMax`, when others may
 * act. Past it without a renewal, the agent stops every unit and starts
 * nothing until a renewal succeeds. A renewal refused because a newer run of
 * this node registered retires the agent for good.
 */
import {
  assertNever,
  isFault,
  sleepUnlessAborted,
  type ActorContext,
  type Behavior,
} from "../../runtime/index.ts";
import { MetaStoreError, type MetaStore } from "../../cluster/metadata/index.ts";
import {
  claimOwner,
  readFleetMap,
  renewNodeLease,
  unitsOfNode,
  unitText,
  type FleetMap,
  type NodeRun,
  type Unit,
} from "../../cluster/membership/index.ts";
import type { NodeAgentMessage, StatNodeAgentReply } from "./protocol.ts";

export interface NodeAgentBehaviorOptions {
  readonly store: MetaStore;
  /** How long a renewal keeps the lease. */
  readonly leaseMs: number;
  /** Renewal period (and map poll period); well below `leaseMs` so one lost renewal does not lose the lease. */
  readonly leaseRenewMs: number;
  /** Starts a unit this run now owns at `epoch` (its owner record is already claimed). A throw is logged and retried at the next map. */
  readonly startUnit: (unit: Unit, epoch: number) => Promise<void>;
  /** Stops a unit this run no longer owns. A throw is logged; the unit counts as stopped. */
  readonly stopUnit: (unit: Unit) => Promise<void>;
  /** Most owner claims per transaction. */
  readonly claimBatchMax?: number;
  /** Structured log lines; defaults to JSON on stderr. */
  readonly log?: (line: Record<string, unknown>) => void;
}

interface RunningUnit {
  readonly unit: Unit;
  readonly epoch: number;
}

export interface NodeAgentState {
  readonly run: NodeRun;
  /** Local clock time until which this run may serve: start of the last good renewal + leaseMs. */
  readonly leaseValidUntilMs: number;
  readonly selfFenced: boolean;
  readonly replaced: boolean;
  /** Newest map applied. */
  readonly epoch: number;
  /** Units started and not stopped, by `unitText`. */
  readonly running: ReadonlyMap<string, RunningUnit>;
  readonly ticks: AbortController;
}

/** The NodeAgent behaviour; spawn it at `nodeAgentActorPath` on a host whose incarnation came from `registerNode`. */
export function nodeAgentBehavior(options: NodeAgentBehaviorOptions): Behavior<NodeAgentState, NodeAgentMessage> {
  const claimBatchMax = options.claimBatchMax ?? 64;
  const log = options.log ?? ((line: Record<string, unknown>) => console.error(JSON.stringify(line)));
  const renewMs = options.leaseRenewMs;

  const scheduleTick = (state: NodeAgentState, context: ActorContext<NodeAgentMessage>, delayMs: number): void => {
    void sleepUnlessAborted(context.clock, Math.max(0, delayMs), state.ticks.signal).then(() => {
      if (!state.ticks.signal.aborted) context.tell(context.self, { kind: "NodeAgentTick" });
    });
  };

  const stopUnits = async (state: NodeAgentState, keep: (entry: RunningUnit) => boolean, why: string): Promise<Map<string, RunningUnit>> => {
    const running = new Map(state.running);
    for (const [text, entry] of state.running) {
      if (keep(entry)) continue;
      running.delete(text);
      try {
        await options.stopUnit(entry.unit);
        log({ level: "info", event: "unit-stopped", nodeId: state.run.nodeId, unit: text, epoch: entry.epoch, why });
      } catch (error) {
        log({ level: "error", event: "unit-stop-failed", nodeId: state.run.nodeId, unit: text, error: String(error) });
      }
    }
    return running;
  };

  /** Makes the running set match what `map` assigns to this run. */
  const apply = async (state: NodeAgentState, map: FleetMap | undefined): Promise<NodeAgentState> => {
    if (map !== undefined && map.epoch < state.epoch) return state;
    const epoch = map?.epoch ?? state.epoch;
    const self = map?.nodes.find((node) => node.nodeId === state.run.nodeId);
    // A map that names another run of this node assigns nothing to this one.
    const serving = !state.selfFenced && !state.replaced && self !== undefined && self.incarnation === state.run.incarnation;
    const wanted = new Map<string, RunningUnit>();
    if (serving && map !== undefined) for (const entry of unitsOfNode(map, state.run.nodeId)) wanted.set(unitText(entry.unit), entry);

    // Stop first: a unit assigned back at a newer epoch restarts under the new claim.
    let running = await stopUnits(state, (entry) => wanted.get(unitText(entry.unit))?.epoch === entry.epoch, "not assigned to this run at this epoch");
    const toStart = [...wanted.values()].filter((entry) => !running.has(unitText(entry.unit)));
    for (let offset = 0; offset < toStart.length; offset += claimBatchMax) {
      const batch = toStart.slice(offset, offset + claimBatchMax);
      let granted: RunningUnit[];
      try {
        granted = await options.store.transact(async (tx) => {
          const ok: RunningUnit[] = [];
          for (const entry of batch) {
            const refused = await claimOwner(tx, entry.unit, { ...state.run, epoch: entry.epoch });
            if (refused === undefined) ok.push(entry);
          }
          return ok;
        });
      } catch (error) {
        if (!(error instanceof MetaStoreError)) throw error;
        log({ level: "warn", event: "unit-claim-failed", nodeId: state.run.nodeId, error: error.message });
        break; // the next tick retries
      }
      for (const entry of batch.filter((candidate) => !granted.includes(candidate))) {
        log({ level: "warn", event: "unit-claim-refused", nodeId: state.run.nodeId, unit: unitText(entry.unit), epoch: entry.epoch });
      }
      for (const entry of granted) {
        try {
          await options.startUnit(entry.unit, entry.epoch);
          running = new Map(running).set(unitText(entry.unit), entry);
          log({ level: "info", event: "unit-started", nodeId: state.run.nodeId, unit: unitText(entry.unit), epoch: entry.epoch });
        } catch (error) {
          log({ level: "error", event: "unit-start-failed", nodeId: state.run.nodeId, unit: unitText(entry.unit), error: String(error) });
        }
      }
    }
    return { ...state, epoch, running };
  };

  const tick = async (state: NodeAgentState, context: ActorContext<NodeAgentMessage>): Promise<NodeAgentState> => {
    if (state.replaced) return state;
    const startMs = context.clock.nowMs();
    let outcome: Awaited<ReturnType<typeof renewNodeLease>> | "unreachable";
    let map: FleetMap | undefined;
    const renewal = options.store
      .transact(async (tx) => {
        const lease = await renewNodeLease(tx, state.run, context.clock.nowMs(), options.leaseMs);
        return { lease, map: isFault(lease) ? undefined : await readFleetMap(tx) };
      })
      .then(
        (result) => ({ settled: "done" as const, result }),
        (error: unknown) => ({ settled: "failed" as const, error }),
      );
    // A renewal that hangs must not keep units running past the lease: race it
    // against the lease's local end. A renewal that wins later is dropped; the
    // next tick renews again and lifts the fence.
    const untilEndMs = state.leaseValidUntilMs - startMs;
    const expiry = new AbortController();
    const first =
      state.selfFenced || untilEndMs <= 0
        ? await renewal
        : await Promise.race([renewal, sleepUnlessAborted(context.clock, untilEndMs, expiry.signal).then(() => ({ settled: "expired" as const }))]);
    expiry.abort();
    if (first.settled === "done") {
      outcome = first.result.lease;
      map = first.result.map;
    } else {
      if (first.settled === "failed" && !(first.error instanceof MetaStoreError)) throw first.error;
      const detail = first.settled === "failed" ? (first.error as MetaStoreError).message : "no answer before the lease ends";
      log({ level: "warn", event: "lease-renewal-failed", nodeId: state.run.nodeId, error: detail });
      if (first.settled === "expired") {
        void renewal.then((late) => {
          if (late.settled === "failed" && !(late.error instanceof MetaStoreError)) log({ level: "error", event: "lease-renewal-bug", nodeId: state.run.nodeId, error: String(late.error) });
        });
      }
      outcome = "unreachable";
    }

    if (outcome !== "unreachable" && isFault(outcome)) {
      log({ level: "error", event: "node-run-replaced", nodeId: state.run.nodeId, incarnation: state.run.incarnation, detail: outcome.detail });
      state.ticks.abort();
      const running = await stopUnits(state, () => false, "a newer run of this node registered");
      return { ...state, replaced: true, running };
    }
    let next = state;
    if (outcome !== "unreachable") {
      next = { ...state, leaseValidUntilMs: startMs + options.leaseMs, selfFenced: false };
      if (state.selfFenced) log({ level: "info", event: "self-fence-lifted", nodeId: state.run.nodeId });
      next = await apply(next, map);
    } else if (!state.selfFenced && context.clock.nowMs() >= state.leaseValidUntilMs) {
      log({ level: "warn", event: "self-fenced", nodeId: state.run.nodeId, leaseValidUntilMs: state.leaseValidUntilMs });
      const running = await stopUnits(state, () => false, "own lease expired without renewal");
      next = { ...state, selfFenced: true, running };
    }
    // After a failed renewal, wake exactly at the local expiry so self-fencing is not late by up to a period.
    const untilExpiryMs = next.leaseValidUntilMs - context.clock.nowMs();
    scheduleTick(next, context, outcome === "unreachable" && !next.selfFenced ? Math.min(renewMs, untilExpiryMs) : renewMs);
    return next;
  };

  return {
    initialState(context): NodeAgentState {
      const state: NodeAgentState = {
        run: { nodeId: context.nodeId, incarnation: context.self.incarnation },
        // Registration wrote a lease of leaseMs just before the host existed;
        // counting from now would overstate it, so the first tick renews at once.
        leaseValidUntilMs: context.clock.nowMs(),
        selfFenced: false,
        replaced: false,
        epoch: 0,
        running: new Map(),
        ticks: new AbortController(),
      };
      context.tell(context.self, { kind: "NodeAgentTick" });
      return state;
    },

    async receive(state, message, context): Promise<NodeAgentState> {
      switch (message.kind) {
        case "NodeAgentTick":
          return tick(state, context);
        case "ClusterMapChanged": {
          if (message.epoch <= state.epoch || state.replaced || state.selfFenced) return state;
          // A notification is a hint to read now instead of at the next renewal.
          if (context.clock.nowMs() >= state.leaseValidUntilMs) return state;
          try {
            const map = await options.store.transact((tx) => readFleetMap(tx));
            return apply(state, map);
          } catch (error) {
            if (!(error instanceof MetaStoreError)) throw error;
            return state;
          }
        }
        case "Heartbeat":
          context.tell(message.replyTo, { kind: "HeartbeatReply", nodeId: state.run.nodeId, incarnation: state.run.incarnation, epoch: state.epoch });
          return state;
        case "ReportFenced": {
          const text = unitText(message.unit);
          const entry = state.running.get(text);
          if (entry === undefined || entry.epoch > message.epoch) return state;
          const running = await stopUnits(state, (candidate) => unitText(candidate.unit) !== text, "fenced by a newer owner");
          return { ...state, running };
        }
        case "StatNodeAgent": {
          const reply: StatNodeAgentReply = {
            kind: "StatNodeAgentReply",
            nodeId: state.run.nodeId,
            incarnation: state.run.incarnation,
            epoch: state.epoch,
            selfFenced: state.selfFenced,
            replaced: state.replaced,
            units: [...state.running.values()].map((entry) => ({ unit: entry.unit, epoch: entry.epoch })),
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
      await stopUnits(state, () => false, "agent stopped");
    },
  };
}
