/**
 * Actor addresses. Every ref names the node that hosts the actor, so a ref is
 * meaningful across machines even while the fleet is a single node.
 */
export type NodeId = string;

/**
 * A typed address of an actor that accepts messages of type `M`. The type
 * parameter is a phantom: refs are plain data and can be sent in messages.
 */
export interface ActorRef<M> {
  readonly nodeId: NodeId;
  /** Slash-separated path under the node's root, e.g. `disks/disk-0`. */
  readonly path: string;
  /** Phantom marker; never set at run time. */
  readonly __message?: M;
}

/** Builds a ref. */
export function actorRef<M>(nodeId: NodeId, path: string): ActorRef<M> {
  return { nodeId, path };
}

/** A stable text form for logs and map keys. */
export function refText(ref: ActorRef<unknown>): string {
  return `${ref.nodeId}:${ref.path}`;
}
