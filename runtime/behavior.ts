import type { TSchema } from "@sinclair/typebox";
import type { Fault } from "./fault.ts";
import type { ActorRef, NodeId } from "./ref.ts";

/** Wall clock and monotonic time. Only `runtime/` reads real time. */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall clock). */
  nowMs(): number;
  /** Monotonic milliseconds, for measuring durations. */
  monotonicMs(): number;
  /** Resolves after `delayMs` of this clock's time. */
  sleep(delayMs: number): Promise<void>;
}

/** A seeded pseudo-random source. Only `runtime/` touches `Math.random`. */
export interface Random {
  readonly seed: number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  integer(bound: number): number;
  /** `length` random bytes. */
  bytes(length: number): Uint8Array;
  /** A child source whose sequence is fixed by this one's seed and `label`. */
  fork(label: string): Random;
}

/** What a behaviour sees while it handles a message. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly random: Random;
  /** Fire and forget. A message to a stopped or unknown actor is a dead letter and is counted. */
  tell<T>(to: ActorRef<T>, message: T): void;
  /**
   * Sends the message built by `build` with a fresh one-shot reply ref and
   * waits for the reply at most `timeoutMs`. There is no default timeout.
   * Resolves to the reply, or to a `Timeout` / `Unreachable` / `Overloaded` fault.
   */
  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault>;
}

/**
 * An actor is a behaviour: `(state, message, context) → state`. Hosts run it:
 * nact in production, a deterministic host in simulation.
 */
export interface Behavior<S, M> {
  /** Builds the first state (and the state after a restart). */
  initialState(context: ActorContext<M>): S | Promise<S>;
  /** Handles one message. Messages are handled one at a time, in arrival order. */
  receive(state: S, message: M, context: ActorContext<M>): S | Promise<S>;
  /** Releases what the state holds (files, timers) when the actor stops or restarts. */
  stopped?(state: S, context: ActorContext<M>): void | Promise<void>;
}

/** How a host restarts a crashing actor. */
export interface SupervisionPolicy {
  /** Restarts allowed inside `windowMs` before the actor is stopped and its crash escalated. */
  readonly restartsMax: number;
  readonly windowMs: number;
  /** First restart delay; doubles per consecutive restart up to `backoffMsMax`. */
  readonly backoffMsInitial: number;
  readonly backoffMsMax: number;
}

export interface SpawnOptions {
  readonly supervision?: SupervisionPolicy;
  /** Mailbox bound; a message beyond it is refused with an `Overloaded` fault (to an ask) or counted as a dead letter (a tell). */
  readonly mailboxMax?: number;
  /**
   * The schema of the messages this actor accepts (usually the union from its
   * `protocol.ts`). A message from another node is checked against it once,
   * where it is decoded, and refused as undeliverable ("invalid message") when
   * it does not match. Local messages and replies to reply refs are not checked.
   */
  readonly wireSchema?: TSchema;
}

/** Something that went wrong in an actor, reported to the host's listener. */
export interface ActorCrash {
  readonly ref: ActorRef<unknown>;
  readonly error: unknown;
  /** What the supervisor did about it. */
  readonly action: "restarted" | "stopped";
}

/** A node's actor host. */
export interface Host {
  readonly nodeId: NodeId;
  /** This run of the node; every ref it hands out carries it. */
  readonly incarnation: number;
  readonly clock: Clock;
  readonly random: Random;
  spawn<S, M>(path: string, behavior: Behavior<S, M>, options?: SpawnOptions): Promise<ActorRef<M>>;
  tell<T>(to: ActorRef<T>, message: T): void;
  ask<T, R>(to: ActorRef<T>, build: (replyTo: ActorRef<R>) => T, timeoutMs: number): Promise<R | Fault>;
  /** Stops one actor (running its `stopped` hook). */
  stop(ref: ActorRef<unknown>): Promise<void>;
  /** Messages that could not be delivered, since the host started. */
  deadLetterCount(): number;
  /** Stops every actor and the host. */
  shutdown(): Promise<void>;
}
