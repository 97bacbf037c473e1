/**
 * `cairn repl` against a real 5-node fleet on 127.0.0.1 (test/support/fleet.ts):
 * - `--exec` runs commands for scripts: node.list, pg.list --json, pg.show N;
 * - a command that changes the fleet is refused without `--apply`;
 * - `pg.sweep --apply` sweeps every PG on its node and finds nothing missing;
 * - a REPL with another fleet secret is refused by the transport;
 * - `actor.stop pg/N --apply` stops the PG's actor on its node (pg.show sees
 *   it unresponsive, or already back), the node's keeper starts it again, and
 *   pg.show sees it clean again within a bound, its data still there;
 * - an interactive session in a pseudo-terminal (tmux, Debian package
 *   `tmux`): the prompt, tab completion of a command name and of a disk id,
 *   a table, `watch` stopped by a key, the refusal of a mutating command, help, and the history file.
 *
 * The PG is chosen by a printed seed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { placementGroupOf } from "../cluster/placement/index.ts";
import { randomSeed, seededRandom, systemClock } from "../runtime/index.ts";
import { bodyOf, md5, startFleet, type TestFleet } from "./support/fleet.ts";
import { repositoryRoot } from "./support/server.ts";

const seed = process.env.CAIRN_SEED === undefined ? randomSeed() : Number(process.env.CAIRN_SEED);
console.log(`repl: seed ${seed} (replay: CAIRN_SEED=${seed} bun test test/repl.test.ts)`);
const random = seededRandom(seed);
const clock = systemClock();
const nodeIds = ["n1", "n2", "n3", "n4", "n5"];
const placementGroupCount = 16;
const bucket = "repl-test";
/** How long a stopped PG actor may take to answer clean again: the keeper runs every second. */
const recoveryBoundMs = 15_000;

let fleet: TestFleet;
const keys: string[] = [];

function repl(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return fleet.cairn("repl", "--fleet", fleet.fleetPath, ...args);
}

function replJson<T>(script: string): T {
  const result = repl("--exec", script, "--json");
  if (result.code !== 0) throw new Error(`repl --exec '${script}' exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout.trim()) as T;
}

interface PlacementGroupJson {
  placementGroupId: number;
  state: string;
  nodeId: string | null;
  epoch: number | null;
  actingSet: string[] | null;
  dataCount: number | null;
  damagedShardCount: number | null;
}

beforeAll(async () => {
  fleet = await startFleet({ nodeIds, disksPerNode: 2, placementGroupCount, storageClasses: "STANDARD=3+2" });
  const client = fleet.clients.get("n1")!;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let index = 0; index < 12; index += 1) {
    const key = `object-${index}`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodyOf(key, 200_000) }));
    keys.push(key);
  }
}, 120_000);

afterAll(async () => {
  await fleet?.dispose();
}, 120_000);

describe("cairn repl --exec against a 5-node fleet", () => {
  test("node.list shows every node up", () => {
    const result = repl("--exec", "node.list");
    expect(result.code).toBe(0);
    for (const id of nodeIds) expect(result.stdout).toMatch(new RegExp(`^${id}\\s+up\\s+\\d+\\s+127\\.0\\.0\\.1:\\d+\\s+gateway,storage`, "m"));
  });

  test("pg.list --json lists every PG clean, where the map puts it, with the data written", async () => {
    const list = replJson<PlacementGroupJson[]>("pg.list");
    expect(list.map((entry) => entry.placementGroupId)).toEqual(Array.from({ length: placementGroupCount }, (_, id) => id));
    const map = await fleet.currentMap();
    for (const entry of list) {
      expect(entry.state).toBe("clean");
      expect(entry.nodeId).toBe(map.placementGroups.find((assignment) => assignment.placementGroupId === entry.placementGroupId)!.nodeId);
      expect(entry.actingSet).toHaveLength(5);
    }
    // Every object's data is indexed by its PG (one data item per object here).
    expect(list.reduce((sum, entry) => sum + entry.dataCount!, 0)).toBeGreaterThanOrEqual(keys.length);
  });

  test("pg.show N: state, node, acting set shard by shard", async () => {
    const placementGroupId = random.integer(placementGroupCount);
    const result = repl("--exec", `pg.show ${placementGroupId}`);
    expect(result.code).toBe(0);
    const map = await fleet.currentMap();
    const assignment = map.placementGroups.find((entry) => entry.placementGroupId === placementGroupId)!;
    expect(result.stdout).toContain(`pg ${placementGroupId}: clean`);
    expect(result.stdout).toContain(`node ${assignment.nodeId}, epoch ${assignment.epoch}`);
    expect(result.stdout.match(/^\s+[0-4]\s+n\d\/disk-\d\s+n\d\s+in\s+yes\s+-$/gm)).toHaveLength(5);
  });

  test("a mutating command is refused without --apply and changes nothing", () => {
    const result = repl("--exec", "actor.stop pg/0");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("runs only with --apply");
    expect(replJson<PlacementGroupJson>("pg.show 0").state).toBe("clean");
  });

  test("pg.sweep: refused without --apply; with it every PG is swept on its node and nothing is missing", () => {
    const refused = repl("--exec", "pg.sweep");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("runs only with --apply");
    const swept = replJson<{ swept: number; placementGroups: number; recorded: number; rows: { placementGroupId: number; nodeId: string; outcome: string; actingSet: string[] }[] }>("pg.sweep --apply");
    expect(swept.placementGroups).toBe(placementGroupCount);
    expect(swept.swept).toBe(placementGroupCount);
    expect(swept.recorded).toBe(0);
    for (const row of swept.rows) expect(row.actingSet).toHaveLength(5);
    const one = repl("--exec", "pg.sweep 3 --apply");
    expect(one.code).toBe(0);
    expect(one.stdout).toContain("1 of 1 PGs swept, 0 missing shards recorded for healing");
    expect(repl("--exec", `pg.sweep ${placementGroupCount} --apply`).stderr).toContain(`no PG ${placementGroupCount}`);
  });

  test("actor.stop pg/N --apply: the PG actor stops, the node's keeper starts it again, pg.show sees it clean with its data", async () => {
    // A PG that holds data, so "healthy again" covers its index too.
    const withData = keys.map((key) => placementGroupOf(bucket, key, placementGroupCount));
    const placementGroupId = withData[random.integer(withData.length)]!;
    const before = replJson<PlacementGroupJson>(`pg.show ${placementGroupId}`);
    expect(before.state).toBe("clean");
    const node = before.nodeId!;
    const restartsBefore = replJson<{ unitRestarts: number }[]>(`actor.list ${node} --kind placementGroup`)[0]!.unitRestarts;

    const stopped = repl("--exec", `actor.stop pg/${placementGroupId} --apply; pg.show ${placementGroupId}`);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`${node}:pgs/${placementGroupId} stopped`);
    // Right after the stop the actor is gone, unless the keeper was already quicker than this ask.
    expect(stopped.stdout).toMatch(new RegExp(`pg ${placementGroupId}: (unresponsive|clean)`));

    const deadline = clock.monotonicMs() + recoveryBoundMs;
    let after = replJson<PlacementGroupJson>(`pg.show ${placementGroupId}`);
    while (after.state !== "clean" && clock.monotonicMs() < deadline) {
      await clock.sleep(200);
      after = replJson<PlacementGroupJson>(`pg.show ${placementGroupId}`);
    }
    expect(after.state).toBe("clean");
    expect(after.nodeId).toBe(node);
    expect(after.epoch).toBe(before.epoch);
    expect(after.dataCount).toBe(before.dataCount);
    // The keeper did it: its restart count on that node went up.
    const restartsAfter = replJson<{ unitRestarts: number }[]>(`actor.list ${node} --kind placementGroup`)[0]!.unitRestarts;
    expect(restartsAfter).toBe(restartsBefore + 1);
    // And the objects of that PG read back whole.
    const client = fleet.clients.get("n2")!;
    for (const key of keys.filter((candidate) => placementGroupOf(bucket, candidate, placementGroupCount) === placementGroupId)) {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(md5(await object.Body!.transformToByteArray())).toBe(md5(bodyOf(key, 200_000)));
    }
  }, 60_000);

  test("user.add, user.list, user.remove with --apply", () => {
    const added = repl("--exec", "user.add repl-user --apply; user.list");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/AWS_ACCESS_KEY_ID=\S+ AWS_SECRET_ACCESS_KEY='\S+'/);
    expect(added.stdout).toMatch(/^repl-user\s+user\s+\S+/m);
    const removed = repl("--exec", "user.remove repl-user --apply; user.list");
    expect(removed.code).toBe(0);
    expect(removed.stdout).not.toMatch(/^repl-user/m);
  });

  test("bucket.stats NAME: the objects written and their bytes, counted from the store; its partitions where the map puts them", async () => {
    const stats = replJson<Record<string, unknown>>(`bucket.stats ${bucket}`);
    expect(stats).toMatchObject({
      bucket,
      versioning: "Unversioned",
      objects: keys.length,
      objectBytes: keys.length * 200_000,
      versions: keys.length,
      versionBytes: keys.length * 200_000,
      deleteMarkers: 0,
      uploads: 0,
      uploadParts: 0,
      uploadPartBytes: 0,
      unassigned: [],
    });
    const map = await fleet.currentMap();
    const assigned = map.partitions.filter((entry) => entry.bucket === bucket).sort((left, right) => left.partition - right.partition);
    expect(stats["partitionCount"]).toBe(assigned.length);
    expect((stats["partitions"] as { partition: number; nodeId: string }[]).map((entry) => [entry.partition, entry.nodeId])).toEqual(
      assigned.map((entry) => [entry.partition, entry.nodeId]),
    );
    const text = repl("--exec", `bucket.stats ${bucket}`);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`objects \\(current versions\\)\\s+${keys.length}\\s+${keys.length * 200_000}`));
    const missing = repl("--exec", "bucket.stats no-such-bucket");
    expect(missing.code).toBe(1);
    expect(missing.stderr + missing.stdout).toContain("no bucket no-such-bucket");
  });
});

describe("the fleet secret is the operator credential", () => {
  test("a REPL with another secret is refused by the transport and exits 1", () => {
    const fleetFile = JSON.parse(readFileSync(fleet.fleetPath, "utf8")) as Record<string, unknown>;
    writeFileSync(join(fleet.directory, "wrong.secret"), `${"5e".repeat(32)}\n`, { mode: 0o600 });
    const wrongPath = join(fleet.directory, "fleet-wrong-secret.json");
    writeFileSync(wrongPath, JSON.stringify({ ...fleetFile, secretFile: "wrong.secret" }));
    const result = fleet.cairn("repl", "--fleet", wrongPath, "--exec", "node.list");
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("proof does not match the fleet secret");
    expect(result.stderr).toContain("could not reach n1");
  }, 30_000);
});

describe("cairn repl in a terminal (tmux)", () => {
  test("prompt, tab completion, tables, refusal without --apply, help, history", async () => {
    const tmuxPresent = spawnSync("tmux", ["-V"]).status === 0;
    if (!tmuxPresent) throw new Error("this test drives the REPL through tmux: install the Debian package `tmux`");
    const socket = `cairn-repl-${seed}`;
    const history = join(fleet.directory, "history");
    const tmux = (...args: string[]): string => {
      const result = spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
      if (result.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };
    const screen = (): string => tmux("capture-pane", "-p", "-t", "repl");
    const waitForScreen = async (label: string, condition: (text: string) => boolean, boundMs = 10_000): Promise<string> => {
      const deadline = clock.monotonicMs() + boundMs;
      for (;;) {
        const text = screen();
        if (condition(text)) return text;
        if (clock.monotonicMs() > deadline) throw new Error(`${label}: not on screen within ${boundMs} ms; screen:\n${text}`);
        await clock.sleep(50);
      }
    };
    const command = `CAIRN_HISTORY=${history} ${join(repositoryRoot, "bin/cairn")} repl --fleet ${fleet.fleetPath} n3`;
    tmux("new-session", "-d", "-s", "repl", "-x", "160", "-y", "60", command);
    try {
      await waitForScreen("prompt", (text) => text.includes("cairn n3>"));
      // A command name completes from its prefix.
      tmux("send-keys", "-t", "repl", "node.l", "Tab");
      await waitForScreen("node.list completed", (text) => /cairn n3> node\.list\s*$/m.test(text));
      tmux("send-keys", "-t", "repl", "Enter");
      const table = await waitForScreen("node table", (text) => text.includes("map epoch"));
      for (const id of nodeIds) expect(table).toMatch(new RegExp(`^${id}\\s+up\\s`, "m"));

      // Arguments complete from the map: a disk id's common prefix on the first Tab, the candidates on the second.
      // Each key goes in its own write, after the screen shows the one before: keys arriving in one read are
      // a paste to readline, which inserts a Tab in a paste literally.
      tmux("send-keys", "-t", "repl", "C-l");
      tmux("send-keys", "-t", "repl", "scrub.start n3/");
      await waitForScreen("typed", (text) => /cairn n3> scrub\.start n3\/\s*$/m.test(text));
      tmux("send-keys", "-t", "repl", "Tab");
      await waitForScreen("disk prefix completed", (text) => /cairn n3> scrub\.start n3\/disk-\s*$/m.test(text));
      tmux("send-keys", "-t", "repl", "Tab");
      await waitForScreen("disk candidates", (text) => /^n3\/disk-0\s+n3\/disk-1\s*$/m.test(text));
      tmux("send-keys", "-t", "repl", "C-u");
      tmux("send-keys", "-t", "repl", "pg.show 12", "Enter");
      await waitForScreen("pg.show 12", (text) => /pg 12: clean/.test(text));

      // watch reruns a command until a key is pressed, then the prompt comes back.
      tmux("send-keys", "-t", "repl", "watch pg.show 12", "Enter");
      await waitForScreen("watching", (text) => text.includes("press a key to stop") && /pg 12: clean/.test(text));
      tmux("send-keys", "-t", "repl", "q");
      await waitForScreen("prompt after watch", (text) => text.trimEnd().split("\n").pop()!.trimEnd() === "cairn n3>");

      tmux("send-keys", "-t", "repl", "C-l");
      tmux("send-keys", "-t", "repl", "actor.stop pg/12", "Enter");
      await waitForScreen("refusal", (text) => text.includes("error: actor.stop changes the fleet; it runs only with --apply"));
      tmux("send-keys", "-t", "repl", "help pg.show", "Enter");
      await waitForScreen("help", (text) => text.includes("usage: pg.show PG") && text.includes("Read-only."));

      tmux("send-keys", "-t", "repl", "exit", "Enter");
      const deadline = clock.monotonicMs() + 10_000;
      while (spawnSync("tmux", ["-L", socket, "has-session", "-t", "repl"]).status === 0 && clock.monotonicMs() < deadline) await clock.sleep(50);
      expect(spawnSync("tmux", ["-L", socket, "has-session", "-t", "repl"]).status).not.toBe(0);
      expect(existsSync(history)).toBe(true);
      expect(readFileSync(history, "utf8").split("\n").filter((line) => line.length > 0)).toEqual(["node.list", "pg.show 12", "watch pg.show 12", "actor.stop pg/12", "help pg.show", "exit"]);
    } finally {
      spawnSync("tmux", ["-L", socket, "kill-server"]);
    }
  }, 60_000);
});
