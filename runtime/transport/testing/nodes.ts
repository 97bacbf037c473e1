/**
 * Test support: a host on a real WebSocket transport over loopback, the
 * behaviours the transport tests talk to, and a bounded wait.
 */
import { Type } from "@sinclair/typebox";
import type { Behavior, Host } from "../../behavior.ts";
import { systemClock } from "../../clock.ts";
import { createNactHost } from "../../host-nact.ts";
import type { Random } from "../../behavior.ts";
import type { ActorRef } from "../../ref.ts";
import { createWebSocketTransport, type PeerAddress, type TransportLimits, type WebSocketTransport } from "../transport.ts";

export const testFleetSecret = "cairn-test-fleet-secret-0123456789";

export type EchoMessage =
  | { readonly kind: "Echo"; readonly payload: unknown; readonly replyTo: ActorRef<EchoReply> }
  | { readonly kind: "Record"; readonly sequence: number }
  | { readonly kind: "Recorded"; readonly replyTo: ActorRef<number[]> }
  | { readonly kind: "Swallow"; readonly replyTo: ActorRef<unknown> };

export interface EchoReply {
  readonly kind: "EchoReply";
  readonly payload: unknown;
  readonly from: string;
}

const ReplyTo = Type.Object({ nodeId: Type.String(), incarnation: Type.Integer({ minimum: 1 }), path: Type.String() });

/** The echo actor's wire schema, as a protocol.ts would declare it. */
export const EchoWireSchema = Type.Union([
  Type.Object({ kind: Type.Literal("Echo"), payload: Type.Unknown(), replyTo: ReplyTo }),
  Type.Object({ kind: Type.Literal("Record"), sequence: Type.Integer() }),
  Type.Object({ kind: Type.Literal("Recorded"), replyTo: ReplyTo }),
  Type.Object({ kind: Type.Literal("Swallow"), replyTo: ReplyTo }),
]);

/** Echoes payloads, records sequences, and swallows (never answers) what it is told to. */
export function echoBehavior(): Behavior<number[], EchoMessage> {
  return {
    initialState: () => [],
    receive(recorded, message, context) {
      switch (message.kind) {
        case "Echo":
          context.tell(message.replyTo, { kind: "EchoReply", payload: message.payload, from: context.nodeId });
          return recorded;
        case "Record":
          recorded.push(message.sequence);
          return recorded;
        case "Recorded":
          context.tell(message.replyTo, [...recorded]);
          return recorded;
        case "Swallow":
          return recorded;
      }
    },
  };
}

export interface TestNode {
  readonly host: Host;
  readonly transport: WebSocketTransport;
  readonly logs: Record<string, unknown>[];
  readonly address: PeerAddress;
  echo: ActorRef<EchoMessage>;
}

export interface TestNodeOptions {
  readonly nodeId: string;
  readonly incarnation?: number;
  readonly port?: number;
  readonly fleetSecret?: string;
  readonly directory: Map<string, PeerAddress>;
  readonly random: Random;
  readonly limits?: Partial<TransportLimits>;
  /** Print log lines as they come (a child process does, so its parent sees them). */
  readonly printLogs?: boolean;
}

/** Limits that make failures show within a test's patience. */
export const testLimits: Partial<TransportLimits> = {
  unreachableGraceMs: 300,
  reconnectBackoffMsInitial: 20,
  reconnectBackoffMsMax: 200,
  handshakeTimeoutMs: 2_000,
  heartbeatIntervalMs: 200,
  linkSilenceMsMax: 2_000,
};

/** Starts a host with a transport on 127.0.0.1, registers it in `directory`, and spawns `echo`. */
export async function startTestNode(options: TestNodeOptions): Promise<TestNode> {
  const logs: Record<string, unknown>[] = [];
  const log = (line: Record<string, unknown>): void => {
    logs.push(line);
    if (options.printLogs === true) console.error(JSON.stringify(line));
  };
  const incarnation = options.incarnation ?? 1;
  const transport = createWebSocketTransport({
    nodeId: options.nodeId,
    incarnation,
    listen: { host: "127.0.0.1", port: options.port ?? 0 },
    fleetSecret: options.fleetSecret ?? testFleetSecret,
    peers: (nodeId) => options.directory.get(nodeId),
    clock: systemClock(),
    random: options.random.fork(`transport:${options.nodeId}#${incarnation}`),
    limits: { ...testLimits, ...options.limits },
    log,
  });
  const address = transport.address();
  options.directory.set(options.nodeId, address);
  const host = createNactHost({
    nodeId: options.nodeId,
    incarnation,
    clock: systemClock(),
    random: options.random.fork(`host:${options.nodeId}#${incarnation}`),
    transport,
    log,
  });
  const echo = await host.spawn("echo", echoBehavior(), { wireSchema: EchoWireSchema });
  return { host, transport, logs, address, echo };
}

/** Waits for `condition`, checking every few milliseconds, for at most `boundMs`; throws with `label` if it never holds. */
export async function waitFor(condition: () => boolean, label: string, boundMs = 10_000): Promise<void> {
  const clock = systemClock();
  const startMs = clock.monotonicMs();
  while (!condition()) {
    if (clock.monotonicMs() - startMs > boundMs) throw new Error(`waited ${boundMs} ms for: ${label}`);
    await clock.sleep(5);
  }
}

export function deadLetterLines(node: TestNode): Record<string, unknown>[] {
  return node.logs.filter((line) => line["event"] === "dead-letter");
}
