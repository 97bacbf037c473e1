import { Type } from "@sinclair/typebox";
import { afterEach, describe, expect, test } from "bun:test";
import { AssertionError, assert } from "./assert.ts";
import type { ActorCrash, Behavior, Clock, Host, SupervisionPolicy } from "./behavior.ts";
import { manualClock } from "./clock.ts";
import { isFault, type Fault } from "./fault.ts";
import { createNactHost } from "./host-nact.ts";
import { seededRandom } from "./random.ts";
import { actorRef, type ActorRef } from "./ref.ts";
import { startTestNode, waitFor } from "./transport/testing/nodes.ts";
import type { PeerAddress, SendOutcome, Transport, TransportReceiver } from "./transport/transport.ts";

// ---------------------------------------------------------------------------
// Test support

type CounterMessage =
  | { readonly kind: "Add"; readonly amount: number }
  | { readonly kind: "Get"; readonly replyTo: ActorRef<number> }
  | { readonly kind: "Crash"; readonly how: "throw" | "reject" | "assert" }
  | { readonly kind: "Hold"; readonly until: Promise<void> }
  | { readonly kind: "Swallow"; readonly replyTo: ActorRef<number> }
  | { readonly kind: "ReplySwallowed" };

interface CounterState {
  readonly incarnation: number;
  readonly total: number;
  readonly swallowed: readonly ActorRef<number>[];
}

/** What a counter actor did, for the test to inspect. */
interface CounterProbe {
  incarnations: number;
  readonly handled: string[];
  readonly stoppedStates: CounterState[];
}

function counterBehavior(probe: CounterProbe): Behavior<CounterState, CounterMessage> {
  return {
    async initialState() {
      // An async start, as a disk actor opening files would have.
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
          await message.until;
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

function newProbe(): CounterProbe {
  return { incarnations: 0, handled: [], stoppedStates: [] };
}

interface TestHost {
  readonly host: Host;
  readonly crashes: ActorCrash[];
  readonly logs: Record<string, unknown>[];
  /** Resolves with crash number `index` (0-based) once it has been reported. */
  crash(index: number): Promise<ActorCrash>;
}

const hosts: Host[] = [];

function createTestHost(clock?: Clock): TestHost {
  const crashes: ActorCrash[] = [];
  const logs: Record<string, unknown>[] = [];
  const waiters: { index: number; resolve: (crash: ActorCrash) => void }[] = [];
  const host = createNactHost({
    nodeId: "node-a",
    random: seededRandom(1),
    ...(clock === undefined ? {} : { clock }),
    onCrash: (crash) => {
      crashes.push(crash);
      for (const waiter of waiters.filter((entry) => entry.index < crashes.length)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(crashes[waiter.index]!);
      }
    },
    log: (line) => logs.push(line),
  });
  hosts.push(host);
  return {
    host,
    crashes,
    logs,
    crash: (index) => {
      const known = crashes[index];
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve) => waiters.push({ index, resolve }));
    },
  };
}

afterEach(async () => {
  for (const host of hosts.splice(0)) await host.shutdown();
});

/** Waits for `check` to hold, yielding to the event loop between tries, at most `turnsMax` turns. */
async function eventually(check: () => boolean, what: string, turnsMax = 1_000): Promise<void> {
  for (let turn = 0; turn < turnsMax; turn += 1) {
    if (check()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`condition not reached after ${turnsMax} event-loop turns: ${what}`);
}

function gate(): { readonly until: Promise<void>; open(): void } {
  let open!: () => void;
  const until = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { until, open };
}

// A long bound so these tests never depend on how fast the machine is; the
// tests that are about timeouts use their own.
const askTimeoutMs = 10_000;

function getTotal(host: Host, ref: ActorRef<CounterMessage>): Promise<number | Fault> {
  return host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
}

const instantRestarts: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 0, backoffMsMax: 0 };

// ---------------------------------------------------------------------------

describe("nact host: spawn and delivery", () => {
  test("spawn resolves after an async initialState; refs carry the node id", async () => {
    const { host } = createTestHost();
    let opened = false;
    const ref = await host.spawn<{ opened: boolean }, { kind: "Ping"; replyTo: ActorRef<boolean> }>("disks/disk-0", {
      async initialState() {
        await new Promise<void>((resolve) => setImmediate(resolve));
        opened = true;
        return { opened: true };
      },
      receive(state, message, context) {
        context.tell(message.replyTo, state.opened);
        return state;
      },
    });
    expect(opened).toBe(true);
    expect(ref).toEqual({ nodeId: "node-a", incarnation: 1, path: "disks/disk-0" });
    expect(await host.ask(ref, (replyTo: ActorRef<boolean>) => ({ kind: "Ping" as const, replyTo }), askTimeoutMs)).toBe(true);
  });

  test("a message told while initialState runs waits for it", async () => {
    const { host } = createTestHost();
    const probe = newProbe();
    const spawning = host.spawn("counter", counterBehavior(probe));
    const ref = actorRef<CounterMessage>("node-a", 1, "counter");
    host.tell(ref, { kind: "Add", amount: 3 });
    await spawning;
    expect(await getTotal(host, ref)).toBe(3);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("messages are handled one at a time in arrival order under async receive", async () => {
    const { host } = createTestHost();
    const random = seededRandom(77);
    const seen: number[] = [];
    let active = 0;
    let activeMax = 0;
    type Message = { kind: "Item"; index: number; turns: number } | { kind: "Done"; replyTo: ActorRef<number[]> };
    const ref = await host.spawn<null, Message>("ordered", {
      initialState: () => null,
      async receive(state, message, context) {
        if (message.kind === "Done") {
          context.tell(message.replyTo, [...seen]);
          return state;
        }
        active += 1;
        activeMax = Math.max(activeMax, active);
        // Each message takes a different number of event-loop turns, so a
        // host that ran them concurrently would finish them out of order.
        for (let turn = 0; turn < message.turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
        seen.push(message.index);
        active -= 1;
        return state;
      },
    });
    const count = 60;
    for (let index = 0; index < count; index += 1) host.tell(ref, { kind: "Item", index, turns: random.integer(5) });
    const order = await host.ask<Message, number[]>(ref, (replyTo) => ({ kind: "Done", replyTo }), askTimeoutMs);
    expect(order).toEqual(Array.from({ length: count }, (_, index) => index));
    expect(activeMax).toBe(1);
  });

  test("duplicate, malformed and reserved paths are assertion failures", async () => {
    const { host } = createTestHost();
    await host.spawn("dup", counterBehavior(newProbe()));
    expect(() => host.spawn("dup", counterBehavior(newProbe()))).toThrow(AssertionError);
    for (const path of ["", "/lead", "trail/", "a//b", "has space", "tmp/ask-1"]) {
      expect(() => host.spawn(path, counterBehavior(newProbe()))).toThrow(AssertionError);
    }
    expect(() => host.spawn("bad-mailbox", counterBehavior(newProbe()), { mailboxMax: 0 })).toThrow(AssertionError);
  });

  test("a failing initialState rejects spawn and frees the path", async () => {
    const { host } = createTestHost();
    await expect(
      host.spawn("broken", {
        async initialState() {
          throw new Error("cannot open volume");
        },
        receive: (state) => state,
      }),
    ).rejects.toThrow("cannot open volume");
    const ref = await host.spawn("broken", counterBehavior(newProbe()));
    expect(await getTotal(host, ref)).toBe(0);
  });

  test("an actor stopped before its start ran never starts, and its spawn rejects", async () => {
    const { host } = createTestHost();
    const probe = newProbe();
    const spawning = host.spawn("counter", counterBehavior(probe));
    const stopping = host.stop(actorRef("node-a", 1, "counter"));
    await expect(spawning).rejects.toThrow(/stopped before it started/);
    await stopping;
    expect(probe.incarnations).toBe(0);
    expect(probe.stoppedStates).toEqual([]);
  });

  test("a behaviour can ask another actor from inside receive", async () => {
    const { host } = createTestHost();
    const counter = await host.spawn("counter", counterBehavior(newProbe()));
    host.tell(counter, { kind: "Add", amount: 5 });
    type ProxyMessage = { kind: "Double"; replyTo: ActorRef<number | string> };
    const proxy = await host.spawn<null, ProxyMessage>("proxy", {
      initialState: () => null,
      async receive(state, message, context) {
        const total = await context.ask<CounterMessage, number>(counter, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
        context.tell(message.replyTo, isFault(total) ? total.fault : total * 2);
        return state;
      },
    });
    expect(await host.ask<ProxyMessage, number | string>(proxy, (replyTo) => ({ kind: "Double", replyTo }), askTimeoutMs)).toBe(10);
  });
});

describe("nact host: ask", () => {
  test("ask resolves with the first reply; a second reply is a dead letter", async () => {
    const { host } = createTestHost();
    type Message = { kind: "Echo"; text: string; replyTo: ActorRef<string> };
    const ref = await host.spawn<null, Message>("echo", {
      initialState: () => null,
      receive(state, message, context) {
        context.tell(message.replyTo, message.text);
        context.tell(message.replyTo, `${message.text} again`);
        return state;
      },
    });
    const reply = await host.ask<Message, string>(ref, (replyTo) => ({ kind: "Echo", text: "hello", replyTo }), askTimeoutMs);
    expect(reply).toBe("hello");
    // Both tells happen in the same receive, so the second has landed by now.
    expect(host.deadLetterCount()).toBe(1);
  });

  test("an ask that gets no reply resolves to a Timeout fault; the late reply is a dead letter", async () => {
    const { host, logs } = createTestHost();
    const ref = await host.spawn("silent", counterBehavior(newProbe()));
    const reply = await host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Swallow", replyTo }), 20);
    expect(isFault(reply)).toBe(true);
    expect((reply as Fault).fault).toBe("Timeout");

    expect(host.deadLetterCount()).toBe(0);
    host.tell(ref, { kind: "ReplySwallowed" });
    // Messages are ordered, so once this Get is answered the late reply was sent.
    expect(await getTotal(host, ref)).toBe(0);
    expect(host.deadLetterCount()).toBe(1);
    expect(logs.some((line) => line["event"] === "dead-letter" && String(line["to"]).startsWith("node-a#1:tmp/ask-"))).toBe(true);
  });

  test("the ask timeout runs on the host clock", async () => {
    const clock = manualClock(0);
    const { host } = createTestHost(clock);
    const ref = await host.spawn("silent", counterBehavior(newProbe()));
    let settled = false;
    const asking = host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Swallow", replyTo }), 500).then((reply) => {
      settled = true;
      return reply;
    });
    await eventually(() => clock.sleeperCount() === 1, "the ask's timer is armed");
    await clock.advance(499);
    expect(settled).toBe(false);
    await clock.advance(1);
    const reply = await asking;
    expect(isFault(reply) && reply.fault).toBe("Timeout");
  });

  test("a reply releases the ask's timer", async () => {
    const clock = manualClock(0);
    const { host } = createTestHost(clock);
    const ref = await host.spawn("counter", counterBehavior(newProbe()));
    expect(await getTotal(host, ref)).toBe(0);
    expect(clock.sleeperCount()).toBe(0);
  });

  test("asking or telling an unknown actor or another node is a counted, logged dead letter", async () => {
    const { host, logs } = createTestHost();
    const nowhere = actorRef<CounterMessage>("node-a", 1, "no/such/actor");
    const reply = await getTotal(host, nowhere);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(host.deadLetterCount()).toBe(1);

    host.tell(nowhere, { kind: "Add", amount: 1 });
    expect(host.deadLetterCount()).toBe(2);

    const elsewhere = await host.spawn("counter", counterBehavior(newProbe()));
    const remote = actorRef<CounterMessage>("node-b", 1, elsewhere.path);
    host.tell(remote, { kind: "Add", amount: 1 });
    const remoteReply = await getTotal(host, remote);
    expect(isFault(remoteReply) && remoteReply.fault).toBe("Unreachable");
    expect(host.deadLetterCount()).toBe(4);

    const deadLetters = logs.filter((line) => line["event"] === "dead-letter");
    expect(deadLetters.length).toBe(4);
    expect(deadLetters[1]).toMatchObject({ to: "node-a#1:no/such/actor", kind: "Add", reason: "unknown actor" });
    expect(deadLetters[2]).toMatchObject({ to: "node-b#1:counter" });
  });

  test("a ref of an earlier incarnation of this node is refused, never delivered to the actor now at its path", async () => {
    const { host, logs } = createTestHost();
    const probe = newProbe();
    const current = await host.spawn("counter", counterBehavior(probe));
    const earlier = actorRef<CounterMessage>("node-a", current.incarnation + 1, current.path);
    host.tell(earlier, { kind: "Add", amount: 5 });
    const reply = await getTotal(host, earlier);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(await getTotal(host, current)).toBe(0);
    expect(host.deadLetterCount()).toBe(2);
    expect(logs.filter((line) => line["event"] === "dead-letter").map((line) => line["reason"])).toEqual(["dead incarnation", "dead incarnation"]);
  });

  test("timeoutMs must be a positive finite number", async () => {
    const { host } = createTestHost();
    const ref = await host.spawn("counter", counterBehavior(newProbe()));
    for (const timeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), timeoutMs)).toThrow(AssertionError);
    }
  });
});

describe("nact host: bounded mailboxes", () => {
  test("beyond mailboxMax a tell is a dead letter and an ask is Overloaded", async () => {
    const { host } = createTestHost();
    const probe = newProbe();
    const ref = await host.spawn("small", counterBehavior(probe), { mailboxMax: 3 });
    const held = gate();
    host.tell(ref, { kind: "Hold", until: held.until }); // running
    host.tell(ref, { kind: "Add", amount: 1 }); // queued
    host.tell(ref, { kind: "Add", amount: 10 }); // queued: the mailbox is now full
    host.tell(ref, { kind: "Add", amount: 100 }); // refused
    expect(host.deadLetterCount()).toBe(1);
    const overloaded = await getTotal(host, ref);
    expect(isFault(overloaded) && overloaded.fault).toBe("Overloaded");
    expect(host.deadLetterCount()).toBe(2);

    held.open();
    // Once the Hold has finished there is room again; the refused Add never ran.
    await eventually(() => probe.handled.length >= 2, "the Hold has finished");
    expect(await getTotal(host, ref)).toBe(11);
  });
});

describe("nact host: supervision", () => {
  test("a throw restarts the actor with fresh state; the crash is reported; later messages are handled", async () => {
    const testHost = createTestHost();
    const { host } = testHost;
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: instantRestarts });
    host.tell(ref, { kind: "Add", amount: 2 });
    host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 5 });
    expect(await getTotal(host, ref)).toBe(5);

    const crash = await testHost.crash(0);
    expect(crash.action).toBe("restarted");
    expect(crash.ref).toEqual(ref);
    expect((crash.error as Error).message).toBe("thrown on purpose");
    expect(probe.incarnations).toBe(2);
    // `stopped` ran on the state from before the crash.
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 2, swallowed: [] }]);
    // The crashing message was not retried.
    expect(probe.handled.filter((kind) => kind === "Crash").length).toBe(1);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("a rejected async receive is a crash like a throw", async () => {
    const testHost = createTestHost();
    const ref = await testHost.host.spawn("counter", counterBehavior(newProbe()), { supervision: instantRestarts });
    testHost.host.tell(ref, { kind: "Crash", how: "reject" });
    expect(await getTotal(testHost.host, ref)).toBe(0);
    expect((await testHost.crash(0)).action).toBe("restarted");
  });

  test("messages told during the restart backoff wait in the mailbox; the backoff doubles on the host clock", async () => {
    const clock = manualClock(0);
    const testHost = createTestHost(clock);
    const { host } = testHost;
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 100, backoffMsMax: 150 };
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: policy });

    host.tell(ref, { kind: "Crash", how: "throw" });
    await eventually(() => clock.sleeperCount() === 1, "the first backoff has started");
    host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 7 });
    await clock.advance(99);
    expect(probe.incarnations).toBe(1);
    expect(probe.handled).toEqual(["Crash"]);

    await clock.advance(1);
    // Restarted; the queued Crash ran at once and, being the second crash in
    // a row, waits 200 ms capped at 150.
    await eventually(() => clock.sleeperCount() === 1 && probe.handled.length === 2, "the second backoff has started");
    expect(probe.incarnations).toBe(2);
    await clock.advance(149);
    expect(probe.incarnations).toBe(2);
    expect(probe.handled).toEqual(["Crash", "Crash"]);
    await clock.advance(1);
    await eventually(() => probe.handled.length === 3, "the queued Add has run");
    expect(probe.incarnations).toBe(3);

    // A message handled without a crash resets the backoff to its start.
    host.tell(ref, { kind: "Crash", how: "throw" });
    await eventually(() => clock.sleeperCount() === 1, "the third backoff has started");
    await clock.advance(99);
    expect(probe.incarnations).toBe(3);
    await clock.advance(1);
    await eventually(() => probe.incarnations === 4, "the third restart");
    expect(await getTotal(host, ref)).toBe(0);
    expect(testHost.crashes.map((crash) => crash.action)).toEqual(["restarted", "restarted", "restarted"]);
    expect(host.deadLetterCount()).toBe(0);
  });

  test("more than restartsMax restarts inside the window stops the actor for good", async () => {
    const testHost = createTestHost();
    const { host } = testHost;
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 2, windowMs: 60_000, backoffMsInitial: 0, backoffMsMax: 0 };
    const ref = await host.spawn("fragile", counterBehavior(probe), { supervision: policy });
    for (let crash = 0; crash < 3; crash += 1) host.tell(ref, { kind: "Crash", how: "throw" });
    host.tell(ref, { kind: "Add", amount: 1 });

    expect((await testHost.crash(2)).action).toBe("stopped");
    expect(testHost.crashes.map((crash) => crash.action)).toEqual(["restarted", "restarted", "stopped"]);
    await eventually(() => host.deadLetterCount() === 1, "the Add queued behind the last crash is a dead letter");
    const reply = await getTotal(host, ref);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(probe.incarnations).toBe(3);
    expect(probe.stoppedStates.length).toBe(3);
    // The path is free again once the actor has stopped.
    await host.spawn("fragile", counterBehavior(newProbe()));
  });

  test("restarts outside the window do not count toward the limit", async () => {
    const clock = manualClock(0);
    const testHost = createTestHost(clock);
    const { host } = testHost;
    const policy: SupervisionPolicy = { restartsMax: 1, windowMs: 1_000, backoffMsInitial: 0, backoffMsMax: 0 };
    const ref = await host.spawn("counter", counterBehavior(newProbe()), { supervision: policy });
    host.tell(ref, { kind: "Crash", how: "throw" });
    expect((await testHost.crash(0)).action).toBe("restarted");
    await clock.advance(1_000);
    host.tell(ref, { kind: "Crash", how: "throw" });
    expect((await testHost.crash(1)).action).toBe("restarted");
    host.tell(ref, { kind: "Crash", how: "throw" });
    expect((await testHost.crash(2)).action).toBe("stopped");
  });

  test("an AssertionError stops the actor at once", async () => {
    const testHost = createTestHost();
    const { host } = testHost;
    const probe = newProbe();
    const ref = await host.spawn("buggy", counterBehavior(probe)); // default policy allows restarts
    host.tell(ref, { kind: "Add", amount: 4 });
    host.tell(ref, { kind: "Crash", how: "assert" });
    host.tell(ref, { kind: "Add", amount: 1 });

    const crash = await testHost.crash(0);
    expect(crash.action).toBe("stopped");
    expect(crash.error).toBeInstanceOf(AssertionError);
    await eventually(() => host.deadLetterCount() === 1, "the queued Add is a dead letter");
    const reply = await getTotal(host, ref);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(probe.incarnations).toBe(1);
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 4, swallowed: [] }]);
    expect(testHost.crashes.length).toBe(1);
  });

  test("without an onCrash listener crashes are logged", async () => {
    const logs: Record<string, unknown>[] = [];
    const host = createNactHost({ nodeId: "node-a", random: seededRandom(3), log: (line) => logs.push(line) });
    hosts.push(host);
    const ref = await host.spawn("counter", counterBehavior(newProbe()), { supervision: instantRestarts });
    host.tell(ref, { kind: "Crash", how: "throw" });
    expect(await getTotal(host, ref)).toBe(0);
    expect(logs.find((line) => line["event"] === "actor-crash")).toMatchObject({ actor: "counter", action: "restarted" });
  });
});

describe("nact host: stop and shutdown", () => {
  test("stop waits for the message in progress, runs stopped, and removes the actor", async () => {
    const { host } = createTestHost();
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe));
    const held = gate();
    host.tell(ref, { kind: "Add", amount: 3 });
    host.tell(ref, { kind: "Hold", until: held.until });
    host.tell(ref, { kind: "Add", amount: 9 });
    await eventually(() => probe.handled.includes("Hold"), "the Hold is running");

    let stopDone = false;
    const stopping = host.stop(ref).then(() => {
      stopDone = true;
    });
    host.tell(ref, { kind: "Add", amount: 1 }); // after stop: a dead letter
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(stopDone).toBe(false);
    expect(probe.stoppedStates).toEqual([]);

    held.open();
    await stopping;
    expect(probe.stoppedStates).toEqual([{ incarnation: 1, total: 3, swallowed: [] }]);
    // The Add told after stop, and the Add that was still queued.
    expect(host.deadLetterCount()).toBe(2);
    const reply = await getTotal(host, ref);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    // Stopping again, or stopping an unknown actor, is harmless.
    await host.stop(ref);
    await host.stop(actorRef("node-a", 1, "never-was"));
  });

  test("shutdown stops every actor in reverse spawn order and releases waiting asks", async () => {
    const { host } = createTestHost();
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
    await host.shutdown();
    expect(order).toEqual(["third", "second", "first"]);
    const reply = await waiting;
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect(() => host.spawn("late", named("late"))).toThrow(AssertionError);
  });

  test("a stop during the restart backoff ends the restart without a fresh state", async () => {
    const clock = manualClock(0);
    const testHost = createTestHost(clock);
    const { host } = testHost;
    const probe = newProbe();
    const policy: SupervisionPolicy = { restartsMax: 5, windowMs: 60_000, backoffMsInitial: 1_000, backoffMsMax: 1_000 };
    const ref = await host.spawn("counter", counterBehavior(probe), { supervision: policy });
    host.tell(ref, { kind: "Crash", how: "throw" });
    await eventually(() => clock.sleeperCount() === 1, "the backoff has started");
    host.tell(ref, { kind: "Add", amount: 1 });
    await host.stop(ref);
    expect(clock.sleeperCount()).toBe(0);
    expect(probe.incarnations).toBe(1);
    expect(probe.stoppedStates.length).toBe(1);
    expect(host.deadLetterCount()).toBe(1);
  });

  test("an ask queued behind the message in progress when its actor stops is answered Unreachable at once, not at its timeout", async () => {
    // The clock never moves: the asks below can end only by an answer.
    const clock = manualClock(0);
    const { host, logs } = createTestHost(clock);
    const probe = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe));
    const held = gate();
    host.tell(ref, { kind: "Hold", until: held.until });
    await eventually(() => probe.handled.includes("Hold"), "the Hold is running");
    let settled: (number | Fault)[] = [];
    const queued = [getTotal(host, ref), getTotal(host, ref)];
    for (const ask of queued) void ask.then((reply) => (settled = [...settled, reply]));
    host.tell(ref, { kind: "Add", amount: 1 }); // queued too: a tell has no one to answer
    const stopping = host.stop(ref);
    held.open();
    await stopping;
    await eventually(() => settled.length === 2, "both queued asks answered");
    for (const reply of settled) {
      expect(isFault(reply) && reply.fault).toBe("Unreachable");
      expect((reply as Fault).detail).toContain("actor stopped before it handled Get");
    }
    expect(probe.handled).toEqual(["Hold"]);
    expect(clock.sleeperCount()).toBe(0); // the asks' timers were released
    // The three dropped messages are dead letters, each logged with its kind.
    expect(host.deadLetterCount()).toBe(3);
    const dropped = logs.filter((line) => line["event"] === "dead-letter" && line["reason"] === "dropped from mailbox at stop");
    expect(dropped.map((line) => line["kind"])).toEqual(["Get", "Get", "Add"]);
  });

  test("a dropped message's replyTo that names an actor, not an ask, is left alone", async () => {
    const { host } = createTestHost();
    const probe = newProbe();
    const other = newProbe();
    const ref = await host.spawn("counter", counterBehavior(probe));
    const watcher = await host.spawn("watcher", counterBehavior(other));
    const held = gate();
    host.tell(ref, { kind: "Hold", until: held.until });
    await eventually(() => probe.handled.includes("Hold"), "the Hold is running");
    // A notification whose return address is an actor: a fault there would be a message it does not expect.
    host.tell(ref, { kind: "Get", replyTo: watcher as unknown as ActorRef<number> });
    const stopping = host.stop(ref);
    held.open();
    await stopping;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(other.handled).toEqual([]);
    expect(host.deadLetterCount()).toBe(1);
  });

  test("an ask from another node queued at an actor that stops is answered at once over the transport", async () => {
    const seed = Number(process.env["CAIRN_TEST_SEED"] ?? 7);
    console.log(`host-nact.test.ts transport seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test runtime/host-nact.test.ts)`);
    const directory = new Map<string, PeerAddress>();
    const random = seededRandom(seed);
    const a = await startTestNode({ nodeId: "node-a", directory, random: random.fork("a") });
    const b = await startTestNode({ nodeId: "node-b", directory, random: random.fork("b") });
    hosts.push(a.host, b.host);
    const probe = newProbe();
    const ref = await b.host.spawn("counter", counterBehavior(probe));
    const held = gate();
    b.host.tell(ref, { kind: "Hold", until: held.until });
    await eventually(() => probe.handled.includes("Hold"), "the Hold is running on node-b");
    // A minute's timeout: only the stopping host's answer can end this ask within the test.
    let reply: number | Fault | undefined;
    void a.host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), 60_000).then((value) => (reply = value));
    await waitFor(() => b.transport.stats().messagesReceived > 0, "the Get reached node-b's mailbox");
    const stopping = b.host.stop(ref);
    held.open();
    await stopping;
    await waitFor(() => reply !== undefined, "the remote ask answered", 5_000);
    expect(isFault(reply) && reply.fault).toBe("Unreachable");
    expect((reply as Fault).detail).toContain("node-b#1:counter: actor stopped before it handled Get");
    expect(probe.handled).toEqual(["Hold"]);
  });
});

// ---------------------------------------------------------------------------
// Remote delivery through a transport (a fake one here; runtime/transport/
// tests the real one over sockets).

interface SentMessage {
  readonly to: ActorRef<unknown>;
  readonly message: unknown;
  readonly corr: number;
}

function fakeTransport(outcome: () => SendOutcome): { transport: Transport; sent: SentMessage[]; receiver: () => TransportReceiver; closed: () => boolean } {
  const sent: SentMessage[] = [];
  let attached: TransportReceiver | undefined;
  let closed = false;
  const transport: Transport = {
    nodeId: "node-a",
    incarnation: 1,
    attach: (receiver) => {
      attached = receiver;
    },
    send: (to, message, corr) => {
      sent.push({ to, message, corr });
      return outcome();
    },
    close: async () => {
      closed = true;
    },
  };
  return { transport, sent, receiver: () => attached!, closed: () => closed };
}

describe("nact host: remote delivery through a transport", () => {
  const remote = actorRef<CounterMessage>("node-b", 4, "counter");

  function hostWith(transport: Transport): { host: Host; logs: Record<string, unknown>[] } {
    const logs: Record<string, unknown>[] = [];
    const host = createNactHost({ nodeId: "node-a", random: seededRandom(1), transport, log: (line) => logs.push(line) });
    hosts.push(host);
    return { host, logs };
  }

  test("a remote ask goes out with its number as corr; the reply, told to the reply ref, settles it", async () => {
    const fake = fakeTransport(() => "accepted");
    const { host } = hostWith(fake.transport);
    const reply = host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    expect(fake.sent.length).toBe(1);
    const request = fake.sent[0]!;
    expect(request.to).toEqual(remote);
    expect(request.corr).toBeGreaterThan(0);
    const replyTo = (request.message as { replyTo: ActorRef<number> }).replyTo;
    expect(replyTo.path).toBe(`tmp/ask-${request.corr}`);
    expect(fake.receiver().deliver(replyTo, 42, "node-b")).toBe("delivered");
    expect(await reply).toBe(42);
    // A second reply finds the ask ended: refused (and counted) here, the reason goes back to the sender.
    expect(fake.receiver().deliver(replyTo, 43, "node-b")).toBe("ask already ended");
    expect(host.deadLetterCount()).toBe(1);
    // A tell carries corr 0.
    host.tell(remote, { kind: "Add", amount: 1 });
    expect(fake.sent[1]!.corr).toBe(0);
  });

  test("transport refusals become faults at once: outbox full → Overloaded, others → Unreachable; each a dead letter", async () => {
    let outcome: SendOutcome = "outbox full";
    const fake = fakeTransport(() => outcome);
    const { host, logs } = hostWith(fake.transport);
    const full = await host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    expect(isFault(full) && full.fault).toBe("Overloaded");
    for (const refusal of ["unknown node", "unreachable", "dead incarnation"] as const) {
      outcome = refusal;
      const reply = await host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
      expect(isFault(reply) && reply.fault).toBe("Unreachable");
    }
    outcome = "not encodable";
    const tooBig = await host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    expect(isFault(tooBig) && tooBig.fault).toBe("Corrupt");
    host.tell(remote, { kind: "Add", amount: 1 });
    expect(host.deadLetterCount()).toBe(6);
    expect(logs.filter((line) => line["event"] === "dead-letter").map((line) => line["reason"])).toEqual([
      "outbox full",
      "unknown node",
      "unreachable",
      "dead incarnation",
      "not encodable",
      "not encodable",
    ]);
  });

  test("an undeliverable report settles the ask it names at once; peerUnreachable ends asks to that node's older runs", async () => {
    const clock = manualClock(0);
    const fake = fakeTransport(() => "accepted");
    const host = createNactHost({ nodeId: "node-a", clock, random: seededRandom(1), transport: fake.transport, log: () => undefined });
    hosts.push(host);
    const refused = host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    const corr = fake.sent[0]!.corr;
    fake.receiver().undeliverable({ to: remote, kind: "Get", corr, reason: "mailbox full", refusedBy: "peer" });
    const refusedReply = await refused;
    expect(isFault(refusedReply) && refusedReply.fault).toBe("Overloaded");
    expect(host.deadLetterCount()).toBe(1);

    const newer = actorRef<CounterMessage>("node-b", 5, "counter");
    const toOld = host.ask<CounterMessage, number>(remote, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    const toNew = host.ask<CounterMessage, number>(newer, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    const toOther = host.ask<CounterMessage, number>(actorRef("node-c", 1, "counter"), (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    fake.receiver().peerUnreachable("node-b", 5, "restarted");
    const oldReply = await toOld;
    expect(isFault(oldReply) && oldReply.fault).toBe("Unreachable");
    fake.receiver().peerUnreachable("node-b", undefined, "gone");
    const newReply = await toNew;
    expect(isFault(newReply) && newReply.fault).toBe("Unreachable");
    // node-c's ask is untouched: only its timeout (on the manual clock) ends it.
    await clock.advance(askTimeoutMs);
    const otherReply = await toOther;
    expect(isFault(otherReply) && otherReply.fault).toBe("Timeout");
  });

  test("inbound messages are checked against wireSchema; local ones and replies are not", async () => {
    const fake = fakeTransport(() => "accepted");
    const { host } = hostWith(fake.transport);
    const probe = newProbe();
    const schema = Type.Union([
      Type.Object({ kind: Type.Literal("Add"), amount: Type.Integer() }),
      Type.Object({ kind: Type.Literal("Get"), replyTo: Type.Object({ nodeId: Type.String(), incarnation: Type.Integer(), path: Type.String() }) }),
    ]);
    const ref = await host.spawn("counter", counterBehavior(probe), { wireSchema: schema });
    expect(fake.receiver().deliver(ref, { kind: "Add", amount: 2 }, "node-b")).toBe("delivered");
    expect(fake.receiver().deliver(ref, { kind: "Add", amount: "2" }, "node-b")).toBe("invalid message");
    expect(fake.receiver().deliver(ref, { kind: "Crash", how: "throw" }, "node-b")).toBe("invalid message");
    expect(fake.receiver().deliver(actorRef("node-a", 2, "counter"), { kind: "Add", amount: 1 }, "node-b")).toBe("dead incarnation");
    expect(fake.receiver().deliver(actorRef("node-a", 1, "nobody"), { kind: "Add", amount: 1 }, "node-b")).toBe("unknown actor");
    expect(fake.receiver().deliver(actorRef("node-z", 1, "counter"), { kind: "Add", amount: 1 }, "node-b")).toBe("wrong node");
    expect(host.deadLetterCount()).toBe(5);
    // Locally the schema is not consulted: the message never crossed a wire.
    host.tell(ref, { kind: "Add", amount: 0.5 });
    const total = await host.ask<CounterMessage, number>(ref, (replyTo) => ({ kind: "Get", replyTo }), askTimeoutMs);
    expect(total).toBe(2.5);
  });

  test("shutdown closes the transport", async () => {
    const fake = fakeTransport(() => "accepted");
    const { host } = hostWith(fake.transport);
    await host.shutdown();
    expect(fake.closed()).toBe(true);
  });
});
