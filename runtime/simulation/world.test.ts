import { describe, expect, test } from "bun:test";
import type { Behavior } from "../behavior.ts";
import { isFault, type Fault } from "../fault.ts";
import { actorRef, type ActorRef } from "../ref.ts";
import { longTailDelay, uniformDelay } from "./network.ts";
import { createSimulatedWorld, SimulationError, type SimulatedWorld } from "./world.ts";

type SinkMessage =
  | { readonly kind: "Note"; readonly from: string; readonly index: number }
  | { readonly kind: "Echo"; readonly replyTo: ActorRef<string> }
  | { readonly kind: "SlowEcho"; readonly holdMs: number; readonly replyTo: ActorRef<string> };

/** Records what it receives; echoes its node and incarnation. */
function sink(received: { from: string; index: number; atMs: number }[], world: SimulatedWorld, effects?: string[]): Behavior<null, SinkMessage> {
  return {
    initialState: () => null,
    async receive(state, message, context) {
      switch (message.kind) {
        case "Note":
          received.push({ from: message.from, index: message.index, atMs: world.elapsedMs() });
          return state;
        case "Echo":
          context.tell(message.replyTo, `${context.self.nodeId}#${context.self.incarnation}`);
          return state;
        case "SlowEcho":
          await context.clock.sleep(message.holdMs);
          effects?.push(`${context.self.nodeId}#${context.self.incarnation} woke`);
          context.tell(message.replyTo, "slow");
          return state;
      }
    },
  };
}

async function settle<T>(world: SimulatedWorld, promise: Promise<T>, simulatedMsMax = 60_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  expect(await world.runUntil(() => settled, simulatedMsMax)).toBe(true);
  return tracked;
}

async function caught(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("simulated world: time", () => {
  test("sleeps wake at their simulated deadline, ties in sleep order; node clocks may be skewed", async () => {
    const world = createSimulatedWorld({ seed: 1, startMs: 1_000_000 });
    const woken: string[] = [];
    const sleep = (label: string, delayMs: number): Promise<void> =>
      world.clock.sleep(delayMs).then(() => void woken.push(`${label}@${world.elapsedMs()}`));
    void sleep("c", 30);
    void sleep("a", 10);
    void sleep("b", 20);
    void sleep("a2", 10);
    await world.runFor(15);
    expect(woken).toEqual(["a@10", "a2@10"]);
    expect(world.clock.nowMs()).toBe(1_000_015);
    await world.runFor(100);
    expect(woken).toEqual(["a@10", "a2@10", "b@20", "c@30"]);
    expect(world.elapsedMs()).toBe(115);

    const skewed = world.addNode("skewed", () => {}, { clockOffsetMs: -250 });
    expect(skewed.clock.nowMs()).toBe(world.clock.nowMs() - 250);
    expect(skewed.clock.monotonicMs()).toBe(world.clock.monotonicMs());
  });

  test("an aborted sleep cancels its event, so the world is idle", async () => {
    const world = createSimulatedWorld({ seed: 1 });
    const abort = new AbortController();
    let woke = false;
    void world.clock.sleep(1_000, abort.signal).then(() => {
      woke = true;
    });
    abort.abort();
    await world.runUntilIdle(1);
    expect(woke).toBe(true);
    expect(world.elapsedMs()).toBe(0);
  });

  test("a run that never goes idle, and a zero-delay livelock, are reported with the seed", async () => {
    const ticking = createSimulatedWorld({ seed: 31, eventsPerRunMax: 1_000 });
    const tick = (): void => ticking.schedule(10, "tick", tick);
    tick();
    const budget = await caught(ticking.runFor(1_000_000));
    expect(budget).toBeInstanceOf(SimulationError);
    expect(String(budget)).toContain("simulation seed 31");
    expect(String(budget)).toContain("never goes idle");
    expect(String(budget)).toContain("tick×1");
    const notIdle = await caught(ticking.runUntilIdle(100));
    expect(String(notIdle)).toContain("not idle after 100 simulated ms");

    const spinning = createSimulatedWorld({ seed: 32, eventsPerInstantMax: 500 });
    const host = spinning.addNode("n", () => {});
    type Spin = { kind: "Spin" };
    const ref = await host.spawn<null, Spin>("spinner", {
      initialState: () => null,
      receive: (state, message, context) => {
        context.tell(context.self, message);
        return state;
      },
    });
    host.tell(ref, { kind: "Spin" });
    const livelock = await caught(spinning.runFor(10));
    expect(String(livelock)).toContain("simulation seed 32");
    expect(String(livelock)).toContain("livelock");
  });

  test("a node start function that fails fails the run", async () => {
    const world = createSimulatedWorld({ seed: 33 });
    world.addNode("n", async () => {
      throw new Error("cannot open disks");
    });
    const error = await caught(world.runFor(10));
    expect(error).toBeInstanceOf(SimulationError);
    expect(String(error)).toContain("cannot open disks");
  });
});

describe("simulated world: network", () => {
  test("per-pair FIFO under random delays; delays within the distribution", async () => {
    const world = createSimulatedWorld({ seed: 2, network: { delay: uniformDelay(1, 200) } });
    const received: { from: string; index: number; atMs: number }[] = [];
    const receiver = world.addNode("r", (host) => void host.spawn("sink", sink(received, world)));
    const senders = ["s1", "s2", "s3"].map((nodeId) => world.addNode(nodeId, () => {}));
    await world.runUntil(() => world.allStarted(), 1);
    const target = actorRef<SinkMessage>("r", 1, "sink");
    const count = 300;
    for (let index = 0; index < count; index += 1) {
      for (const sender of senders) sender.tell(target, { kind: "Note", from: sender.nodeId, index });
      await world.runFor(1);
    }
    await world.runUntilIdle(1_000);
    expect(received.length).toBe(count * senders.length);
    for (const sender of senders) {
      const indices = received.filter((note) => note.from === sender.nodeId).map((note) => note.index);
      expect(indices).toEqual(Array.from({ length: count }, (_, index) => index));
    }
    // Notes were interleaved across senders, not delivered sender by sender.
    expect(received.slice(0, 30).some((note) => note.from !== received[0]!.from)).toBe(true);
    expect(world.network.stats()).toMatchObject({ sent: count * senders.length, delivered: count * senders.length, dropped: 0 });
    expect(receiver.deadLetterCount()).toBe(0);
  });

  test("duplication, when turned on, delivers copies in FIFO order; long-tail delays stay within their bounds", async () => {
    const world = createSimulatedWorld({ seed: 8, network: { duplicateProbability: 0.5, delay: longTailDelay(2, 20, 400) } });
    const received: { from: string; index: number; atMs: number }[] = [];
    world.addNode("r", (host) => void host.spawn("sink", sink(received, world)));
    const sender = world.addNode("s", () => {});
    await world.runUntil(() => world.allStarted(), 1);
    const target = actorRef<SinkMessage>("r", 1, "sink");
    const count = 400;
    for (let index = 0; index < count; index += 1) sender.tell(target, { kind: "Note", from: "s", index });
    await world.runUntilIdle(10_000);
    const duplicated = world.network.stats().duplicated;
    expect(duplicated).toBeGreaterThan(count * 0.5 - 60);
    expect(duplicated).toBeLessThan(count * 0.5 + 60);
    expect(received.length).toBe(count + duplicated);
    const indices = received.map((note) => note.index);
    expect(indices).toEqual([...indices].sort((a, b) => a - b));
    expect(new Set(indices).size).toBe(count);
    // All were sent at time 0 and every delay is at least 2 ms.
    expect(Math.min(...received.map((note) => note.atMs))).toBeGreaterThanOrEqual(2);

    const random = world.random.fork("delays");
    const delay = longTailDelay(2, 20, 400);
    const draws = Array.from({ length: 5_000 }, () => delay(random));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...draws)).toBeLessThanOrEqual(400);
    const mean = draws.reduce((sum, draw) => sum + draw, 0) / draws.length;
    expect(mean).toBeGreaterThan(15);
    expect(mean).toBeLessThan(25);
  });

  test("drops follow dropProbability; a lost ask times out", async () => {
    const world = createSimulatedWorld({ seed: 3, network: { dropProbability: 0.25 } });
    const received: { from: string; index: number; atMs: number }[] = [];
    world.addNode("r", (host) => void host.spawn("sink", sink(received, world)));
    const sender = world.addNode("s", () => {});
    await world.runUntil(() => world.allStarted(), 1);
    const target = actorRef<SinkMessage>("r", 1, "sink");
    const count = 2_000;
    for (let index = 0; index < count; index += 1) sender.tell(target, { kind: "Note", from: "s", index });
    await world.runUntilIdle(1_000);
    // 25% of 2,000 is 500; the standard deviation is about 19.
    expect(received.length).toBeGreaterThan(count * 0.75 - 100);
    expect(received.length).toBeLessThan(count * 0.75 + 100);
    const indices = received.map((note) => note.index);
    expect(indices).toEqual([...indices].sort((a, b) => a - b));

    world.network.configure({ dropProbability: 1 });
    const reply = await settle(world, sender.ask<SinkMessage, string>(target, (replyTo) => ({ kind: "Echo", replyTo }), 300));
    expect(isFault(reply) && reply.fault).toBe("Timeout");
  });

  test("a partition loses messages until the grace, then refuses them at once; heal restores the link", async () => {
    const world = createSimulatedWorld({ seed: 4, network: { unreachableGraceMs: 500, delay: uniformDelay(5, 5) } });
    const received: { from: string; index: number; atMs: number }[] = [];
    world.addNode("r", (host) => void host.spawn("sink", sink(received, world)));
    const sender = world.addNode("s", () => {});
    await world.runUntil(() => world.allStarted(), 1);
    const target = actorRef<SinkMessage>("r", 1, "sink");
    const echo = (): Promise<string | Fault> => settle(world, sender.ask<SinkMessage, string>(target, (replyTo) => ({ kind: "Echo", replyTo }), 400));

    expect(await echo()).toBe("r#1");
    sender.tell(target, { kind: "Note", from: "s", index: 0 }); // in flight when the cut comes
    world.network.partition(["s"], ["r"]);
    const lost = await echo();
    expect(isFault(lost) && lost.fault).toBe("Timeout");
    await world.runFor(100); // past the grace
    const startMs = world.elapsedMs();
    const refused = await echo();
    expect(isFault(refused) && refused.fault).toBe("Unreachable");
    expect(world.elapsedMs()).toBe(startMs);
    expect(sender.deadLetterCount()).toBe(1);
    expect(received).toEqual([]);

    world.network.heal();
    expect(await echo()).toBe("r#1");
    expect(world.network.stats()).toMatchObject({ cut: 2, refused: 1 });
  });
});

describe("simulated world: links known down", () => {
  test("asks waiting across a cut, or on a killed run, end Unreachable when the grace runs out", async () => {
    const world = createSimulatedWorld({ seed: 12, network: { unreachableGraceMs: 700, delay: uniformDelay(5, 5) } });
    const received: { from: string; index: number; atMs: number }[] = [];
    for (const nodeId of ["a", "b", "c"]) world.addNode(nodeId, (host) => void host.spawn("sink", sink(received, world)));
    await world.runUntil(() => world.allStarted(), 1);
    const a = world.host("a");
    const slowAsk = (nodeId: string): Promise<string | Fault> =>
      a.ask<SinkMessage, string>(actorRef(nodeId, 1, "sink"), (replyTo) => ({ kind: "SlowEcho", holdMs: 3_000, replyTo }), 10_000);
    const settledAt = new Map<string, { atMs: number; reply: string | Fault }>();
    const track = (label: string, asking: Promise<string | Fault>): void =>
      void asking.then((reply) => void settledAt.set(label, { atMs: world.elapsedMs(), reply }));

    track("to b, cut", slowAsk("b"));
    track("to c, killed", slowAsk("c"));
    await world.runFor(100);
    world.network.partition(["a"], ["b"]);
    world.kill("c");
    await world.runFor(699);
    expect(settledAt.size).toBe(0);
    await world.runFor(1);
    expect(settledAt.get("to b, cut")).toMatchObject({ atMs: 800, reply: { fault: "Unreachable" } });
    expect(settledAt.get("to c, killed")).toMatchObject({ atMs: 800, reply: { fault: "Unreachable" } });

    // A cut healed within the grace gives nothing up.
    world.network.heal();
    track("to b, healed", slowAsk("b"));
    await world.runFor(10);
    world.network.partition(["a"], ["b"]);
    await world.runFor(300);
    world.network.heal();
    await world.runUntil(() => settledAt.has("to b, healed"), 10_000);
    expect(settledAt.get("to b, healed")!.reply).toBe("slow");
  });
});

describe("simulated world: kill and restart", () => {
  test("a kill abandons handlers without hooks; asks to the dead node end Unreachable; restart brings incarnation 2", async () => {
    const world = createSimulatedWorld({ seed: 5 });
    const effects: string[] = [];
    const stoppedHooks: string[] = [];
    let starts = 0;
    const received: { from: string; index: number; atMs: number }[] = [];
    world.addNode("b", async (host) => {
      starts += 1;
      await host.spawn("sink", { ...sink(received, world, effects), stopped: () => void stoppedHooks.push(`b#${host.incarnation}`) });
    });
    const a = world.addNode("a", (host) => void host.spawn("sink", sink(received, world, effects)));
    await world.runUntil(() => world.allStarted(), 1);
    const old = actorRef<SinkMessage>("b", 1, "sink");
    const b1 = world.host("b");

    // A handler in progress on b, and an ask b itself is waiting on.
    const slow = a.ask<SinkMessage, string>(old, (replyTo) => ({ kind: "SlowEcho", holdMs: 100, replyTo }), 1_000);
    let bOwnAskSettled = false;
    // a answers after 200 ms, when b is dead; b's own 100 ms timeout dies with it.
    void b1.ask<SinkMessage, string>(actorRef("a", 1, "sink"), (replyTo) => ({ kind: "SlowEcho", holdMs: 200, replyTo }), 100).then(() => {
      bOwnAskSettled = true;
    });
    await world.runFor(20);
    world.kill("b");
    expect(world.isUp("b")).toBe(false);
    const slowReply = await settle(world, slow);
    expect(isFault(slowReply) && slowReply.fault).toBe("Timeout");
    await world.runFor(500);
    expect(effects).toEqual(["a#1 woke"]); // b's sleeping handler never woke; a's did
    expect(stoppedHooks).toEqual([]);
    expect(bOwnAskSettled).toBe(false);
    expect(b1.pendingAskCount()).toBe(0);

    const down = await settle(world, a.ask<SinkMessage, string>(old, (replyTo) => ({ kind: "Echo", replyTo }), 1_000));
    expect(isFault(down) && down.fault).toBe("Unreachable");
    expect((down as Fault).detail).toContain("node down");

    const b2 = world.restart("b");
    expect(b2.incarnation).toBe(2);
    await world.runUntil(() => world.isStarted("b"), 10);
    expect(starts).toBe(2);
    const stale = await settle(world, a.ask<SinkMessage, string>(old, (replyTo) => ({ kind: "Echo", replyTo }), 1_000));
    expect(isFault(stale) && stale.fault).toBe("Unreachable");
    expect((stale as Fault).detail).toContain("dead incarnation");
    expect(b2.deadLetterCount()).toBe(1);
    const fresh = await settle(world, a.ask<SinkMessage, string>(actorRef("b", 2, "sink"), (replyTo) => ({ kind: "Echo", replyTo }), 1_000));
    expect(fresh).toBe("b#2");
  });
});

describe("simulated world: determinism", () => {
  async function scenario(seed: number): Promise<{ hash: string; deliveries: number; events: number }> {
    const world = createSimulatedWorld({ seed, network: { delay: uniformDelay(1, 50), dropProbability: 0.05 } });
    const received: { from: string; index: number; atMs: number }[] = [];
    const nodes = ["n1", "n2", "n3", "n4"];
    for (const nodeId of nodes) world.addNode(nodeId, (host) => void host.spawn("sink", sink(received, world)));
    await world.runUntil(() => world.allStarted(), 1);
    const random = world.random.fork("workload");
    for (let step = 0; step < 200; step += 1) {
      const from = nodes[random.integer(nodes.length)]!;
      const to = nodes[random.integer(nodes.length)]!;
      if (!world.isUp(from)) continue;
      const target = actorRef<SinkMessage>(to, world.incarnation(to), "sink");
      if (random.next() < 0.5) world.host(from).tell(target, { kind: "Note", from, index: step });
      else void world.host(from).ask<SinkMessage, string>(target, (replyTo) => ({ kind: "Echo", replyTo }), 100);
      if (step === 80) world.kill("n2");
      if (step === 140) world.restart("n2");
      await world.runFor(random.integer(20));
    }
    await world.runFor(1_000);
    return { hash: world.traceHash(), deliveries: world.deliveryCount(), events: world.eventCount() };
  }

  test("the same seed gives the same trace; another seed another", async () => {
    const first = await scenario(77);
    expect(first.deliveries).toBeGreaterThan(200);
    expect(await scenario(77)).toEqual(first);
    expect((await scenario(78)).hash).not.toBe(first.hash);
  });
});
