/**
 * A REPL's connection to a running fleet. The REPL joins the cluster
 * transport as a node of its own (`repl-<random>`, incarnation = its start
 * time in ms, listening on 127.0.0.1 on a free port) and proves, like every
 * node, that it knows the fleet secret: the fleet secret is the operator's
 * credential, so only someone who can read the fleet file's secret file can
 * operate the fleet. Replies come back over the link the REPL dialed; fleet
 * nodes never dial a REPL (they have no address for it).
 */
import { operatorActorPath, type OperatorMessage } from "../../actors/operator/index.ts";
import type { GetFleetMapReply } from "../../actors/operator/protocol.ts";
import {
  actorRef,
  createNactHost,
  createWebSocketTransport,
  isFault,
  randomSeed,
  systemClock,
  type ActorRef,
  type Clock,
  type Fault,
  type Host,
  type WebSocketTransport,
} from "../../runtime/index.ts";
import type { Fleet } from "../fleet/fleet-file.ts";
import { readFleetSecret } from "../fleet/fleet-secret.ts";
import type { FleetMap } from "../membership/index.ts";

/** Bound on every ask a command makes. */
export const replAskTimeoutMs = 5_000;
/** Bound on reaching the entry node. */
const connectTimeoutMs = 5_000;

/** A command's failure, shown to the operator as one line (exit code 1 under `--exec`). */
export class ReplError extends Error {}

export interface ReplSession {
  readonly host: Host;
  readonly clock: Clock;
  readonly fleet: Fleet;
  /** The node the session reached first; its operator answers map reads. */
  readonly entryNodeId: string;
  /** The fleet map as the entry node's store holds it now. */
  map(): Promise<FleetMap>;
  /** The map the last `map()` returned, if any (tab completion uses it without a round trip). */
  lastMap(): FleetMap | undefined;
  /** A ref to `path` on `nodeId` at the incarnation the map names (throws `ReplError` for a node not in the map or down). */
  refOn<M>(map: FleetMap, nodeId: string, path: string): ActorRef<M>;
  /** Asks with the REPL's bound (or `timeoutMs`, for work answered when done); a fault becomes a `ReplError` naming `what`. */
  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, what: string, timeoutMs?: number): Promise<R>;
  /** Asks with the REPL's bound and hands back a fault as a value (for tables that show unreachable rows). */
  tryAsk<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T): Promise<R | Fault>;
  /** Per-session memory of commands (samples for rates and ETAs across `watch` refreshes). */
  readonly memory: Map<string, unknown>;
  close(): Promise<void>;
}

/**
 * Connects to `target` (a node id of the fleet file, or `host:port` of a
 * node's cluster port; the fleet file's first node when absent).
 */
export async function openReplSession(fleet: Fleet, target: string | undefined): Promise<ReplSession> {
  const entry =
    target === undefined
      ? fleet.nodes[0]
      : fleet.nodes.find((node) => node.id === target || `${node.address}:${node.clusterPort}` === target);
  if (entry === undefined) throw new ReplError(`no node ${target} in ${fleet.path} (give a node id or the host:port of a node's cluster port)`);
  const secret = readFleetSecret(fleet.secretPath);
  const clock = systemClock();
  const nodeId = `repl-${randomSeed().toString(16)}`;
  // A fresh incarnation that only grows: the start time in ms (a node refuses a peer proving an older one than it has seen).
  const incarnation = Math.max(1, Math.floor(clock.nowMs()));
  // Only errors reach the operator's terminal, each kind of event once (a wrong secret fails every redial alike).
  const shown = new Set<string>();
  let refusedByPeer: ((refused: false) => void) | undefined;
  const quiet = (line: Record<string, unknown>): void => {
    const event = String(line["event"] ?? line["message"] ?? "");
    // A proof that does not check out will not on a redial either: give up at once.
    if (event === "transport-authentication-failed" || event === "transport-handshake-refused") refusedByPeer?.(false);
    if (line["level"] !== "error" || shown.has(event) || shown.size >= 32) return;
    shown.add(event);
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  const transport: WebSocketTransport = createWebSocketTransport({
    nodeId,
    incarnation,
    listen: { host: "127.0.0.1", port: 0 },
    fleetSecret: secret,
    peers: (peerId) => {
      const node = fleet.nodes.find((candidate) => candidate.id === peerId);
      return node === undefined ? undefined : { host: node.address, port: node.clusterPort };
    },
    clock,
    log: quiet,
  });
  const host = createNactHost({ nodeId, incarnation, transport, clock, log: quiet });

  const linked = new Promise<boolean>((resolve) => {
    refusedByPeer = resolve;
    const unsubscribe = transport.onLinkEvent((event) => {
      if (event.type === "up" && event.nodeId === entry.id) {
        unsubscribe();
        resolve(true);
      }
    });
    void clock.sleep(connectTimeoutMs).then(() => resolve(false));
  });
  transport.connect(entry.id);
  if (transport.linkState(entry.id) !== "up" && !(await linked)) {
    await host.shutdown();
    throw new ReplError(`could not reach ${entry.id} at ${entry.address}:${entry.clusterPort} (is the fleet up, and is this its fleet secret?)`);
  }
  const entryIncarnation = transport.peerIncarnation(entry.id)!;

  let latest: FleetMap | undefined;
  const tryAsk = <T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T): Promise<R | Fault> => host.ask<T, R>(to, build, replAskTimeoutMs);
  const ask = async <T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, what: string, timeoutMs = replAskTimeoutMs): Promise<R> => {
    const reply = await host.ask<T, R>(to, build, timeoutMs);
    if (isFault(reply)) throw new ReplError(`${what}: ${reply.fault} (${reply.detail})`);
    return reply;
  };
  return {
    host,
    clock,
    fleet,
    entryNodeId: entry.id,
    async map() {
      const reply = await ask<OperatorMessage, GetFleetMapReply>(
        actorRef(entry.id, entryIncarnation, operatorActorPath),
        (replyTo) => ({ kind: "GetFleetMap", replyTo }),
        `fleet map from ${entry.id}`,
      );
      if (reply.map === undefined || reply.map === null) throw new ReplError("the fleet has no map yet");
      latest = reply.map as FleetMap;
      return latest;
    },
    lastMap: () => latest,
    refOn<M>(map: FleetMap, target: string, path: string): ActorRef<M> {
      const node = map.nodes.find((candidate) => candidate.nodeId === target);
      if (node === undefined) throw new ReplError(`no node ${target} in map epoch ${map.epoch}`);
      return actorRef<M>(target, node.incarnation, path);
    },
    ask,
    tryAsk,
    memory: new Map(),
    async close() {
      await host.shutdown();
    },
  };
}
