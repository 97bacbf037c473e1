/**
 * Test support: drives a disk behaviour directly, without a host. Its
 * context records every `tell`, so a test sends a message and reads the one
 * reply told to the reply ref it made (`replyTo`, `send`, `replyFor`).
 */
import { actorRef, seededRandom, type ActorContext, type ActorRef, type Behavior, type Clock } from "../../runtime/index.ts";
import { diskActorPath, type DiskState } from "./behavior.ts";
import type { DiskMessage } from "./protocol.ts";

export interface Told {
  readonly to: ActorRef<unknown>;
  readonly message: unknown;
}

export class DiskDriver {
  readonly told: Told[] = [];
  readonly context: ActorContext<DiskMessage>;
  #behavior: Behavior<DiskState, DiskMessage> | undefined;
  #state: DiskState | undefined;
  #replyCounter = 0;

  constructor(clock: Clock, diskId: string) {
    const told = this.told;
    this.context = {
      self: actorRef<DiskMessage>("node-test", 1, diskActorPath(diskId)),
      nodeId: "node-test",
      clock,
      random: seededRandom(1),
      tell<T>(to: ActorRef<T>, message: T): void {
        told.push({ to, message });
      },
      ask(): never {
        throw new Error("the disk actor does not ask");
      },
    };
  }

  /** The running actor's state; a test reads its store and counters. */
  get state(): DiskState {
    if (this.#state === undefined) throw new Error("the disk driver has no running actor");
    return this.#state;
  }

  /** Starts `behavior` (stopping the one running, as a restart with new options would). */
  async start(behavior: Behavior<DiskState, DiskMessage>): Promise<void> {
    await this.stop();
    this.#behavior = behavior;
    this.#state = await behavior.initialState(this.context);
  }

  /** Stops the actor and starts the same behaviour again: its store reopens and rescans the directory. */
  async restart(): Promise<void> {
    if (this.#behavior === undefined) throw new Error("the disk driver has nothing to restart");
    await this.start(this.#behavior);
  }

  /** Runs the `stopped` hook once (closing the store); later calls do nothing. */
  async stop(): Promise<void> {
    if (this.#behavior !== undefined && this.#state !== undefined) await this.#behavior.stopped?.(this.#state, this.context);
    this.#state = undefined;
  }

  replyTo(): ActorRef<never> {
    this.#replyCounter += 1;
    return actorRef("node-client", 1, `temp/reply-${this.#replyCounter}`);
  }

  async send(message: DiskMessage): Promise<void> {
    if (this.#behavior === undefined) throw new Error("the disk driver has no running actor");
    this.#state = await this.#behavior.receive(this.state, message, this.context);
  }

  /**
   * The reply told to `to`. Replies are told when the store's work settles, so
   * this waits for the store to go idle, then for the few promise hops that
   * carry the reply; a reply missing after that is a failure, not a wait.
   */
  async replyFor(to: ActorRef<unknown>): Promise<unknown> {
    await this.state.store.idle();
    for (let turn = 0; turn < 50; turn += 1) await Promise.resolve();
    const replies = this.told.filter((entry) => entry.to.path === to.path);
    if (replies.length !== 1) throw new Error(`expected one reply to ${to.path}, found ${replies.length}`);
    return replies[0]!.message;
  }
}
