/**
 * Actor addresses. Every ref names the node that hosts the actor, so a ref is
 * meaningful across machines even while the fleet is a single node.
 */
export type NodeId = string;

/**
 * A typed address of an actor that accepts messages of type `M`. The type
 * parameter is a phantom: refs are plain data and can be sent in messages.
 *
 * `incarnation` names one run of the node process: a node that restarts gets
 * a new one, so a ref to an actor of the dead run is refused (a fault and a
 * dead letter), never delivered to whatever now lives at the same path.
 */
export interface ActorRef<M> {
  readonly nodeId: NodeId;
  /** The run of the node that hosts the actor; positive integer, grows across restarts. */
  readonly incarnation: number;
  /** Slash-separated path under the node's root, e.g. `disks/disk-0`. */
  readonly path: string;
  /** Phantom marker; never set at run time. */
  readonly __message?: M;
}

/** Builds a ref. */
export function actorRef<M>(nodeId: NodeId, incarnation: number, path: string): ActorRef<M> {
  return { nodeId, incarnation, path };
}

/** A stable text form for logs and map keys. */
export function refText(ref: ActorRef<unknown>): string {
  return `${ref.nodeId}#${ref.incarnation}:${ref.path}`;
}
