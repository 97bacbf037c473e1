/**
 * The simulated host keeps the nact host's semantics (runtime/host-nact.test.ts
 * is the reference): the same scenarios, driven by the world's event queue
 * instead of real time.
 */
import { describe, expect, test } from "bun:test";
import { Type } from "@sinclair/typebox";
import { AssertionError, assert } from "../assert.ts";
import type { ActorCrash, Behavior, SupervisionPolicy } from "../behavior.ts";
import { isFault, type Fault } from "../fault.ts";
import { actorRef, type ActorRef } from "../ref.ts";
import type { SimulatedHost } from "./simulated-host.ts";
import { createSimulatedWorld, type SimulatedWorld } from "./world.ts";

type CounterMessage =
  | { readonly kind: "Add"; readonly amount: number }
  | { readonly kind: "Get"; readonly replyTo: ActorRef<number> }
  | { readonly kind: "Crash"; readonly how: "throw" | "reject" | "assert" }
  | { readonly kind: "Hold"; readonly holdMs: number }
  | { readonly kind: "Swallow"; readonly replyTo: ActorRef<number> }
  | { readonly kind: "ReplySwallowed" };

interface CounterState {
  readonly incarnation: number;
  readonly total: number;
  readonly swallowed: readonly ActorRef<number>[];
}

interface CounterProbe {
  incarnations: number;
  readonly handled: string[];
  readonly stoppedStates: CounterState[];
}

function counterBehavior(probe: CounterProbe): Behavior<CounterState, CounterMessage> {
  return {
    async initialState() {
      await Promise.resolve();
      probe.incarnations += 1;
      return { incarnation: probe.incarnations, total: 0, swallowed: [] };
    },
    async receive(state, message, context) {
      probe.handled.push(message.kind);
      switch (message.kind) {
        case "Add":
          return { ...state, total: state.total + message.amount };
        case "Get":
          context.tell(message.replyTo, state.total);
          return state;
        case "Crash":
          if (message.how === "assert") assert(false, "counter invariant broken");
          if (message.how === "reject") {
            await Promise.resolve();
            throw new Error("rejected on purpose");
          }
          throw new Error("thrown on purpose");
        case "Hold":
          // Holds the actor on the simulated clock, as a slow disk write would.
          await context.clock.sleep(message.holdMs);
          return state;
        case "Swallow":
          return { ...state, swallowed: [...state.swallowed, message.replyTo] };
        case "ReplySwallowed":
          for (const replyTo of state.swallowed) context.tell(replyTo, -1);
          return { ...state, swallowed: [] };
      }
    },
    stopped(state) {
      probe.stoppedStates.push(state);
    },
  };
}

const newProbe = (): CounterProbe => ({ incarnations: 0, handled: [], stoppedStates: [] });
const instantRestarts: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 0, backoffMsMax: 0 };
const askTimeoutMs = 10_000;

interface Fixture {
  readonly world: SimulatedWorld;
  readonly host: SimulatedHost;
  readonly logs: Record<string, unknown>[];
}

/** One started node on a world with the given seed; assertion crashes are observed, not fatal. */
async function oneNode(seed = 1): Promise<Fixture> {
  const logs: Record<string, unknown>[] = [];
  const world = createSimulatedWorld({ seed, failOnAssertion: false, log: (line) => logs.push(line) });
  const host = world.addNode("node-a", () => {});
  expect(await world.runUntil(() => world.allStarted(), 1)).toBe(true);
  return { world, host, logs };
}

/** Runs the world until `promise` settles (at most `simulatedMsMax`) and returns its value. */
async function settle<T>(world: SimulatedWorld, promise: Promise<T>, simulatedMsMax = 60_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  expect(await world.runUntil(() => settled, simulatedMsMax)).toBe(true);
  return tracked;
}

function getTotal(world: SimulatedWorld, host: SimulatedHost, ref: ActorRef<CounterMessage>): Promise<number | Fault> {
  return settle(world, host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs));
}

function crashActions(world: SimulatedWorld): ActorCrash["action"][] {
  return world.crashes().map((crash) => crash.action);
}

describe("simulated host: spawn and delivery", () => {
  test("spawn resolves after an async initialState; refs carry node id and incarnation", async () => {
    const { world, host } = await oneNode();
    const ref = await settle(world, host.spawn("disks/disk-0", counterBehavior(newProbe())));
    expect(ref).toEqual({ nodeId: "node-a", incarnation: 1, path: "disks/disk-0" });
    expect(await getTotal(world, host, ref)).toBe(0);
  });

  test("a message told while initialState runs waits for it", async () => {
    const { world, host } = await oneNode();
    const spawning = host.spawn("counter", counterBehavior(newProbe()));
    const ref = actorRef<CounterMessage>("node-a", 1, "counter");
    host.tell(ref, { kind: "Add", amount: 3 });
    await settle(world, spawning);
    expect(await getTotal(world, host, ref)).toBe(3);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("messages are handled one at a time in arrival order under async receive", async () => {
    const { world, host } = await oneNode();
    const random = world.random.fork("test");
    const seen: number[] = [];
    let active = 0;
    let activeMax = 0;
    type Message = { kind: "Item"; index: number; holdMs: number } | { kind: "Done"; replyTo: ActorRef<number[]> };
    const ref = await host.spawn<null, Message>("ordered", {
      initialState: () => null,
      async receive(state, message, context) {
        if (message.kind === "Done") {
          context.tell(message.replyTo, [...seen]);
          return state;
        }
        active += 1;
        activeMax = Math.max(activeMax, active);
        await context.clock.sleep(message.holdMs);
        seen.push(message.index);
        active -= 1;
        return state;
      },
    });
    const count = 60;
    for (let index = 0; index < count; index += 1) host.tell(ref, { kind: "Item", index, holdMs: random.integer(5) });
    const order = await settle(world, host.ask<Message, number[]>(ref, (replyTo) => ({ kind: "Done", replyTo }), askTimeoutMs));
    expect(order).toEqual(Array.from({ length: count }, (_, index) => index));
    expect(activeMax).toBe(1);
  });

  test("duplicate, malformed and reserved paths are assertion failures", async () => {
    const { host } = await oneNode();
    await host.spawn("dup", counterBehavior(newProbe()));
    expect(() => host.spawn("dup", counterBehavior(newProbe()))).toThrow(AssertionError);
    for (const path of ["", "/lead", "trail/", "a//b", "has space", "tmp/ask-1"]) {
      expect(() => host.spawn(path, counterBehavior(newProbe()))).toThrow(AssertionError);
    }
    expect(() => host.spawn("bad-mailbox", counterBehavior(newProbe()), { mailboxMax: 0 })).toThrow(AssertionError);
  });

  test("a failing initialState rejects spawn and frees the path", async () => {
    const { world, host } = await oneNode();
    let caught: unknown;
    await settle(
      world,
      host
        .spawn("broken", {
          async initialState() {
            throw new Error("cannot open volume");
          },
          receive: (state) => state,
        })
        .catch((error: unknown) => {
          caught = error;
        }),
    );
    expect((caught as Error).message).toBe("cannot open volume");
    const ref = await host.spawn("broken", counterBehavior(newProbe()));
    expect(await getTotal(world, host, ref)).toBe(0);
  });

  test("an actor stopped before its start ran never starts, and its spawn rejects", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    let caught: unknown;
    const spawning = host.spawn("counter", counterBehavior(probe)).catch((error: unknown) => {
      caught = error;
    });
    const stopping = host.stop(actorRef("node-a", 1, "counter"));
    await settle(world, Promise.all([spawning, stopping]));
    expect(String(caught)).toMatch(/stopped before it started/);
    expect(probe.incarnations).toBe(0);
    expect(probe.stoppedStates).toEqual([]);
  });
});

describe("simulated host: ask", () => {
  test("ask resolves with the first reply; a second reply is a dead letter", async () => {
    const { world, host } = await oneNode();
    type Message = { kind: "Echo"; text: string; replyTo: ActorRef<string> };
    const ref = await host.spawn<null, Message>("echo", {
      initialState: () => null,
      receive(state, message, context) {
        context.tell(message.replyTo, message.text);
        context.tell(message.replyTo, `${message.text} again`);
        return state;
      },
    });
    expect(await settle(world, host.ask<Message, string>(ref, (replyTo) => ({ kind: "Echo", text: "hello", replyTo }), askTimeoutMs))).toBe("hello");
    expect(host.deadLetterCount()).toBe(1);
  });

  test("an ask with no reply times out exactly at its timeout on the simulated clock; the late reply is a dead letter", async () => {
    const { world, host, logs } = await oneNode();
    const ref = await host.spawn("silent", counterBehavior(newProbe()));
    const startMs = world.elapsedMs();
    let settledAtMs = -1;
    const asking = host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Swallow", replyTo }), 500).then((reply) => {
      settledAtMs = world.elapsedMs();
      return reply;
    });
    await world.runFor(499);
    expect(settledAtMs).toBe(-1);
    const reply = await settle(world, asking);
    expect(isFault(reply) && reply.fault).toBe("Timeout");
    expect(settledAtMs - startMs).toBe(500);

    host.tell(ref, { kind: "ReplySwallowed" });
    expect(await getTotal(world, host, ref)).toBe(0);
    expect(host.deadLetterCount()).toBe(1);
    expect(logs.some((line) => line["event"] === "dead-letter" && String(line["to"]).startsWith("node-a#1:tmp/ask-"))).toBe(true);
  });

  test("a reply cancels the ask's timer: the world goes idle at once", async () => {
    const { world, host } = await oneNode();
    const ref = await host.spawn("counter", counterBehavior(newProbe()));
    expect(await getTotal(world, host, ref)).toBe(0);
    await world.runUntilIdle(1);
    expect(world.elapsedMs()).toBe(0);
  });

  test("asking or telling an unknown actor or a dead incarnation is a counted, logged dead letter", async () => {
    const { world, host, logs } = await oneNode();
    const nowhere = actorRef<CounterMessage>("node-a", 1, "no/such/actor");
    const reply = await getTotal(world, host, nowhere);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    host.tell(nowhere, { kind: "Add", amount: 1 });
    expect(host.deadLetterCount()).toBe(2);

    const current = await host.spawn("counter", counterBehavior(newProbe()));
    const other = actorRef<CounterMessage>("node-a", 2, current.path);
    host.tell(other, { kind: "Add", amount: 5 });
    const otherReply = await getTotal(world, host, other);
    expect(isFault(otherReply) && otherReply.fault).toBe("Unreachable");
    expect(await getTotal(world, host, current)).toBe(0);
    expect(host.deadLetterCount()).toBe(4);
    const reasons = logs.filter((line) => line["event"] === "dead-letter").map((line) => line["reason"]);
    expect(reasons).toEqual(["unknown actor", "unknown actor", "dead incarnation", "dead incarnation"]);
    expect(logs.find((line) => line["event"] === "dead-letter" && line["kind"] === "Add")).toMatchObject({ to: "node-a#1:no/such/actor" });
  });

  test("timeoutMs must be a positive finite number", async () => {
    const { host } = await oneNode();
    const ref = await host.spawn("counter", counterBehavior(newProbe()));
    for (const timeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), timeoutMs)).toThrow(AssertionError);
    }
  });
});

describe("simulated host: bounded mailboxes", () => {
  test("beyond mailboxMax a tell is a dead letter and an ask is Overloaded", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const ref = await host.spawn("small", counterBehavior(probe), { mailboxMax: 3 });
    host.tell(ref, { kind: "Hold", holdMs: 100 });
    host.tell(ref, { kind: "Add", amount: 1 });
    host.tell(ref, { kind: "Add", amount: 10 });
    host.tell(ref, { kind: "Add", amount: 100 }); // refused: three already wait
    expect(host.deadLetterCount()).toBe(1);
    await world.runUntil(() => probe.handled.length === 1, 10); // the Hold is running, still counted
    const overloaded = await settle(world, host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs), 1);
    expect(isFault(overloaded) && overloaded.fault).toBe("Overloaded");
    expect(host.deadLetterCount()).toBe(2);
    // Once the Hold has finished there is room again; the refused Add never ran.
    expect(await world.runUntil(() => probe.handled.length >= 2, 1_000)).toBe(true);
    expect(world.elapsedMs()).toBe(100);
    expect(await getTotal(world, host, ref)).toBe(11);
  });
});

describe("simulated host: supervision", () => {
  test("a throw restarts the actor with fresh state; the crash is reported; later messages are handled", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: instantRestarts });
    host.tell(ref, { kind: "Add", amount: 2 });
    host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 5 });
    expect(await getTotal(world, host, ref)).toBe(5);
    expect(crashActions(world)).toEqual(["restarted"]);
    expect(world.crashes()[0]!.ref).toEqual(ref);
    expect(probe.incarnations).toBe(2);
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 2, swallowed: [] }]);
    expect(probe.handled.filter((kind) => kind === "Crash").length).toBe(1);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("a rejected async receive is a crash like a throw", async () => {
    const { world, host } = await oneNode();
    const ref = await host.spawn("counter", counterBehavior(newProbe()), { supervision: instantRestarts });
    host.tell(ref, { kind: "Crash", how: "reject" });
    expect(await getTotal(world, host, ref)).toBe(0);
    expect(crashActions(world)).toEqual(["restarted"]);
  });

  test("the restart backoff doubles on the simulated clock up to its cap; messages wait meanwhile", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 100, backoffMsMax: 150 };
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: policy });
    host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 7 });
    const restartTimes: number[] = [];
    let seen = 1;
    const watch = (): boolean => {
      if (probe.incarnations > seen) {
        seen = probe.incarnations;
        restartTimes.push(world.elapsedMs());
      }
      return probe.handled.length === 3;
    };
    expect(await world.runUntil(watch, 10_000)).toBe(true);
    // First crash at 0: restart at 100; the second crash waits 200 capped at 150.
    expect(restartTimes).toEqual([100, 250]);
    expect(await getTotal(world, host, ref)).toBe(7);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("more than restartsMax restarts inside the window stops the actor for good", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 2, windowMs: 60_000, backoffMsInitial: 0, backoffMsMax: 0 };
    const ref = await host.spawn("fragile", counterBehavior(probe), { supervision: policy });
    for (let crash = 0; crash < 3; crash += 1) host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 1 });
    expect(await world.runUntil(() => host.deadLetterCount() === 1, 1_000)).toBe(true);
    expect(crashActions(world)).toEqual(["restarted", "restarted", "stopped"]);
    const reply = await getTotal(world, host, ref);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(probe.incarnations).toBe(3);
    expect(probe.stoppedStates.length).toBe(3);
    await host.spawn("fragile", counterBehavior(newProbe()));
  });

  test("restarts outside the window do not count toward the limit", async () => {
    const { world, host } = await oneNode();
    const policy: SupervisionPolicy = { restartsMax: 1, windowMs: 1_000, backoffMsInitial: 0, backoffMsMax: 0 };
    const ref = await host.spawn("counter", counterBehavior(newProbe()), { supervision: policy });
    host.tell(ref, { kind: "Crash", how: "throw" });
    await world.runFor(1_000);
    host.tell(ref, { kind: "Crash", how: "throw" });
    await world.runFor(1);
    host.tell(ref, { kind: "Crash", how: "throw" });
    await world.runFor(1);
    expect(crashActions(world)).toEqual(["restarted", "restarted", "stopped"]);
  });

  test("an AssertionError stops the actor at once, and fails the world unless told otherwise", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const ref = await host.spawn("buggy", counterBehavior(probe));
    host.tell(ref, { kind: "Add", amount: 4 });
    host.tell(ref, { kind: "Crash", how: "assert" });
    host.tell(ref, { kind: "Add", amount: 1 });
    expect(await world.runUntil(() => host.deadLetterCount() === 1, 1_000)).toBe(true);
    expect(crashActions(world)).toEqual(["stopped"]);
    expect(world.crashes()[0]!.error).toBeInstanceOf(AssertionError);
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 4, swallowed: [] }]);

    const strict = createSimulatedWorld({ seed: 9 });
    const strictHost = strict.addNode("node-a", () => {});
    const buggy = await strictHost.spawn("buggy", counterBehavior(newProbe()));
    strictHost.tell(buggy, { kind: "Crash", how: "assert" });
    let caught: unknown;
    try {
      await strict.runFor(100);
    } catch (error) {
      caught = error;
    }
    expect(String(caught)).toContain("simulation seed 9");
    expect(String(caught)).toContain("counter invariant broken");
  });
});

describe("simulated host: stop and shutdown", () => {
  test("stop waits for the message in progress, runs stopped, and removes the actor", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe));
    host.tell(ref, { kind: "Add", amount: 3 });
    host.tell(ref, { kind: "Hold", holdMs: 50 });
    host.tell(ref, { kind: "Add", amount: 9 });
    await world.runUntil(() => probe.handled.includes("Hold"), 10);
    let stopDone = false;
    const stopping = host.stop(ref).then(() => {
      stopDone = true;
    });
    host.tell(ref, { kind: "Add", amount: 1 });
    await world.runFor(49);
    expect(stopDone).toBe(false);
    expect(probe.stoppedStates).toEqual([]);
    await settle(world, stopping);
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 3, swallowed: [] }]);
    expect(host.deadLetterCount()).toBe(2);
    const reply = await getTotal(world, host, ref);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
  });

  test("an ask queued when its actor stops is answered Unreachable when the stop drops it, not at its timeout (as the nact host does)", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe));
    host.tell(ref, { kind: "Hold", holdMs: 50 });
    await world.runUntil(() => probe.handled.includes("Hold"), 10);
    const startMs = world.elapsedMs();
    let settledAtMs = -1;
    const asking = host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), 10_000).then((reply) => {
      settledAtMs = world.elapsedMs();
      return reply;
    });
    const stopping = host.stop(ref);
    const reply = await settle(world, asking);
    await settle(world, stopping);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect((reply as Fault).detail).toContain("actor stopped before it handled Get");
    // Answered when the Hold ended and the stop dropped it: 50 ms, far from the 10 s timeout.
    expect(settledAtMs - startMs).toBeLessThanOrEqual(50);
    expect(probe.handled).toEqual(["Hold"]);
  });

  test("shutdown stops every actor in reverse spawn order, releases waiting asks, and takes the node down", async () => {
    const { world, host } = await oneNode();
    const order: string[] = [];
    const named = (name: string): Behavior<null, CounterMessage> => ({
      initialState: () => null,
      receive: (state) => state,
      stopped: () => {
        order.push(name);
      },
    });
    await host.spawn("first", named("first"));
    await host.spawn("second", named("second"));
    const third = await host.spawn("third", named("third"));
    const waiting = host.ask<CounterMessage, number>(third, (replyTo) => ({ kind: "Swallow", replyTo }), askTimeoutMs);
    await settle(world, host.shutdown());
    expect(order).toEqual(["third", "second", "first"]);
    const reply = await waiting;
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(world.isUp("node-a")).toBe(false);
    expect(() => host.spawn("late", named("late"))).toThrow(AssertionError);
    // Its transport is closed: nothing more leaves the node.
    const before = host.deadLetterCount();
    host.tell(actorRef<CounterMessage>("node-b", 1, "counter"), { kind: "Add", amount: 1 });
    const remote = await host.ask<CounterMessage, number>(actorRef("node-b", 1, "counter"), (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    expect(isFault(remote) && remote.fault).toBe("Unreachable");
    expect(host.deadLetterCount()).toBe(before + 2);
    expect(world.network.stats().sent).toBe(0);
  });

  test("a stop during the restart backoff ends the restart without a fresh state", async () => {
    const { world, host } = await oneNode();
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 1_000, backoffMsMax: 1_000 };
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: policy });
    host.tell(ref, { kind: "Crash", how: "throw" });
    await world.runFor(10);
    host.tell(ref, { kind: "Add", amount: 1 });
    await settle(world, host.stop(ref), 1);
    expect(probe.incarnations).toBe(1);
    expect(probe.stoppedStates.length).toBe(1);
    expect(host.deadLetterCount()).toBe(1);
    // The backoff's timer was cancelled with the stop.
    await world.runUntilIdle(1);
  });
});

describe("simulated host: across nodes", () => {
  test("a wireSchema refuses an invalid message from another node; the sender's ask ends Unreachable", async () => {
    const world = createSimulatedWorld({ seed: 5 });
    const a = world.addNode("a", () => {});
    const b = world.addNode("b", () => {});
    type Message = { kind: "Get"; replyTo: ActorRef<number> };
    const schema = Type.Object({ kind: Type.Literal("Get"), replyTo: Type.Object({ nodeId: Type.String(), incarnation: Type.Number(), path: Type.String() }) });
    const ref = await b.spawn<null, Message>("typed", { initialState: () => null, receive: (state, message, context) => (context.tell(message.replyTo, 7), state) }, { wireSchema: schema });
    expect(await settle(world, a.ask<Message, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs))).toBe(7);
    const bad = await settle(world, a.ask<unknown, number>(ref, (replyTo) => ({ kind: "Nonsense", replyTo }), askTimeoutMs));
    expect(isFault(bad) && bad.fault).toBe("Unreachable");
    expect((bad as Fault).detail).toContain("invalid message");
    expect(a.deadLetterCount()).toBe(1);
    expect(b.deadLetterCount()).toBe(1);
    // Locally the schema is not checked: local messages are typed by the compiler.
    expect(await settle(world, b.ask<unknown, number>(ref, (replyTo) => ({ kind: "Nonsense", replyTo }), askTimeoutMs))).toBe(7);
  });

  test("messages cross nodes by value: the sender's later mutation does not reach the receiver", async () => {
    const world = createSimulatedWorld({ seed: 6 });
    const a = world.addNode("a", () => {});
    const b = world.addNode("b", () => {});
    const received: number[][] = [];
    const ref = await b.spawn<null, { items: number[] }>("sink", { initialState: () => null, receive: (state, message) => (received.push(message.items), state) });
    const items = [1, 2];
    a.tell(ref, { items });
    items.push(3);
    await world.runUntil(() => received.length === 1, 1_000);
    expect(received).toEqual([[1, 2]]);
    expect(() => a.tell(ref, { items: [], hook: () => 1 } as unknown as { items: number[] })).toThrow(AssertionError);
  });
});
