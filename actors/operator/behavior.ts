/**
 * The OperatorActor: answers `cairn repl` on a fleet node. It holds no state
 * of its own; every answer comes from the node wiring's callbacks (the
 * node's actors, its Healer and Scrubber, the metadata store), which is what
 * lets the same behaviour run wherever a node is wired (cluster/repl/
 * operator-endpoint.ts wires it).
 */
import { assertNever, fault, type ActorContext, type ActorRef, type Behavior, type Fault } from "../../runtime/index.ts";
import type {
  AddUserReply,
  BucketStatsCursor,
  BucketStatsReply,
  ListBucketsReply,
  ListUsersReply,
  OperatorMessage,
  RestartActorReply,
  StartScrubReply,
  StatOperatorNodeReply,
  SetPlacementDirectiveReply,
  StopActorReply,
  SweepPlacementGroupReply,
} from "./protocol.ts";

type Body<R> = Omit<R, "kind">;

export interface OperatorBehaviorOptions {
  readonly fleetMap: () => Promise<unknown>;
  readonly node: () => Promise<Body<StatOperatorNodeReply>>;
  readonly stopActor: (path: string) => Promise<Body<StopActorReply>>;
  readonly restartActor: (path: string) => Promise<Body<RestartActorReply>>;
  /** Sweeps a PG hosted here for missing shards (recorded on its heal list); "not-here" when it is hosted elsewhere. */
  readonly sweepPlacementGroup: (placementGroupId: number) => Promise<SweepPlacementGroupReply>;
  /** Must answer at once: the scrub itself runs in the background. */
  readonly startScrub: (diskId: string) => StartScrubReply["outcome"];
  readonly listBuckets: () => Promise<ListBucketsReply["buckets"]>;
  readonly listUsers: () => Promise<ListUsersReply["users"]>;
  readonly addUser: (name: string, role: "admin" | "user") => Promise<Body<AddUserReply>>;
  readonly removeUser: (name: string) => Promise<"removed" | "not-found">;
  readonly setPlacementDirective: (target: "disk" | "node", id: string, active: boolean, from: string) => Promise<Body<SetPlacementDirectiveReply>>;
  /** One page of a bucket's counts (bounded: one read-only transaction). */
  readonly bucketStats: (bucket: string, cursor: BucketStatsCursor | undefined) => Promise<BucketStatsReply>;
  readonly log?: (entry: Record<string, unknown>) => void;
}

export type OperatorState = Record<string, never>;

/** The operator endpoint's behaviour. */
export function operatorBehavior(options: OperatorBehaviorOptions): Behavior<OperatorState, OperatorMessage> {
  return {
    initialState: () => ({}),
    async receive(state, message, context) {
      switch (message.kind) {
        case "GetFleetMap":
          await answer(context, message.replyTo, async () => ({ kind: "GetFleetMapReply", map: await options.fleetMap() }));
          return state;
        case "StatOperatorNode":
          await answer(context, message.replyTo, async () => ({ kind: "StatOperatorNodeReply", ...(await options.node()) }));
          return state;
        case "StopActor":
          options.log?.({ level: "info", event: "operator-stop-actor", actor: message.path, from: message.replyTo.nodeId });
          await answer(context, message.replyTo, async () => ({ kind: "StopActorReply", ...(await options.stopActor(message.path)) }));
          return state;
        case "RestartActor":
          options.log?.({ level: "info", event: "operator-restart-actor", actor: message.path, from: message.replyTo.nodeId });
          await answer(context, message.replyTo, async () => ({ kind: "RestartActorReply", ...(await options.restartActor(message.path)) }));
          return state;
        case "StartScrub":
          options.log?.({ level: "info", event: "operator-start-scrub", disk: message.diskId, from: message.replyTo.nodeId });
          await answer(context, message.replyTo, async () => ({ kind: "StartScrubReply", diskId: message.diskId, outcome: options.startScrub(message.diskId) }));
          return state;
        case "ListBuckets":
          await answer(context, message.replyTo, async () => ({ kind: "ListBucketsReply", buckets: await options.listBuckets() }));
          return state;
        case "ListUsers":
          await answer(context, message.replyTo, async () => ({ kind: "ListUsersReply", users: await options.listUsers() }));
          return state;
        case "AddUser":
          options.log?.({ level: "info", event: "operator-add-user", user: message.name, role: message.role, from: message.replyTo.nodeId });
          await answer(context, message.replyTo, async () => ({ kind: "AddUserReply", ...(await options.addUser(message.name, message.role)) }));
          return state;
        case "RemoveUser":
          options.log?.({ level: "info", event: "operator-remove-user", user: message.name, from: message.replyTo.nodeId });
          await answer(context, message.replyTo, async () => ({ kind: "RemoveUserReply", name: message.name, outcome: await options.removeUser(message.name) }));
          return state;
        case "SetPlacementDirective": {
          const reply = await answerWith(context, message.replyTo, async () => ({
            kind: "SetPlacementDirectiveReply" as const,
            ...(await options.setPlacementDirective(message.target, message.id, message.active, message.replyTo.nodeId)),
          }));
          options.log?.({ level: "info", event: "operator-placement-directive", target: message.target, id: message.id, active: message.active, from: message.replyTo.nodeId, outcome: reply });
          return state;
        }
        case "BucketStats":
          await answer(context, message.replyTo, () => options.bucketStats(message.bucket, message.cursor));
          return state;
        case "SweepPlacementGroup":
          // Answered when the sweep is done, which may take a while on a large PG: the actor goes on
          // with other operators' messages meanwhile (the sweep works through the PG and disk actors).
          void answerWith(context, message.replyTo, () => options.sweepPlacementGroup(message.placementGroupId)).then((reply) =>
            options.log?.({ level: "info", event: "operator-sweep-pg", placementGroupId: message.placementGroupId, from: message.replyTo.nodeId, outcome: reply }),
          );
          return state;
        default:
          return assertNever(message);
      }
    },
  };
}

/**
 * Replies with what `build` makes. A callback that throws met an operating
 * failure (the metadata store refused or timed out): the asker gets it as
 * an `Unreachable` fault with the error's text, and the actor goes on.
 */
async function answer<R>(context: ActorContext<OperatorMessage>, replyTo: ActorRef<unknown>, build: () => Promise<R>): Promise<void> {
  await answerWith(context, replyTo, build);
}

/** `answer`, returning what was sent (for the log line of a change). */
async function answerWith<R>(context: ActorContext<OperatorMessage>, replyTo: ActorRef<unknown>, build: () => Promise<R>): Promise<R | Fault> {
  let reply: R | Fault;
  try {
    reply = await build();
  } catch (error) {
    reply = fault("Unreachable", `operator on ${context.nodeId}: ${String(error)}`);
  }
  context.tell(replyTo as ActorRef<R | Fault>, reply);
  return reply;
}
