import { describe, expect, test } from "bun:test";
import { manualClock } from "../runtime/index.ts";
import { openMemoryStore } from "./metadata/index.ts";
import { addUser, invalidUserName, listUsers, removeUser, UserTable } from "./users.ts";

const root = { accessKeyId: "CAIRNROOT00000000001", secretAccessKey: "root-secret" };
const intervalMs = 1_000;

/** Lets pending promise chains settle: each turn is one macrotask; bounded. */
async function settled(condition: () => boolean, turnsMax = 200): Promise<boolean> {
  for (let turn = 0; turn < turnsMax; turn += 1) {
    if (condition()) return true;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return condition();
}

describe("user records", () => {
  test("add, list, names are unique, remove", async () => {
    const store = openMemoryStore();
    const added = await addUser(store, { name: "alice", role: "user", nowMs: 5 });
    if (added.kind !== "added") throw new Error(`expected added, got ${added.kind}`);
    expect(added.user.accessKeyId).toMatch(/^CAIRN[A-Z0-9]{15}$/);
    expect(added.user.secretAccessKey).toHaveLength(40);
    expect((await addUser(store, { name: "alice", role: "admin", nowMs: 6 })).kind).toBe("name-taken");
    const bob = await addUser(store, { name: "bob", role: "admin", nowMs: 7 });
    expect(bob.kind).toBe("added");
    const listed = await listUsers(store);
    expect(listed.map((user) => [user.name, user.role, user.createdMs]).sort()).toEqual([
      ["alice", "user", 5],
      ["bob", "admin", 7],
    ]);
    expect(await removeUser(store, "alice")).toBe("removed");
    expect(await removeUser(store, "alice")).toBe("not-found");
    expect((await listUsers(store)).map((user) => user.name)).toEqual(["bob"]);
    await store.close();
  });

  test("user names: IAM's alphabet, 1 to 64 characters, not root", () => {
    expect(invalidUserName("alice.b@x_y-z+1=,")).toBeUndefined();
    expect(invalidUserName("")).toMatch(/1 to 64/);
    expect(invalidUserName("a b")).toMatch(/1 to 64/);
    expect(invalidUserName("x".repeat(65))).toMatch(/1 to 64/);
    expect(invalidUserName("root")).toMatch(/root/);
  });
});

describe("UserTable", () => {
  test("the root key is always an admin; stored users appear and disappear within one refresh interval", async () => {
    const store = openMemoryStore();
    const clock = manualClock(1_700_000_000_000);
    const early = await addUser(store, { name: "early", role: "admin", nowMs: 1 });
    if (early.kind !== "added") throw new Error("setup");
    const table = await UserTable.open({ store, root, clock, refreshIntervalMs: intervalMs, log: () => undefined });
    expect(table.secretOf(root.accessKeyId)).toBe(root.secretAccessKey);
    expect(table.userOf(root.accessKeyId)).toEqual({ name: "root", role: "admin" });
    // Read at open: a gateway never starts with an empty table.
    expect(table.userOf(early.user.accessKeyId)).toEqual({ name: "early", role: "admin" });
    table.start();

    const late = await addUser(store, { name: "late", role: "user", nowMs: 2 });
    if (late.kind !== "added") throw new Error("setup");
    expect(table.userOf(late.user.accessKeyId)).toBeUndefined();
    await clock.advance(intervalMs);
    expect(await settled(() => table.userOf(late.user.accessKeyId) !== undefined)).toBe(true);
    expect(table.secretOf(late.user.accessKeyId)).toBe(late.user.secretAccessKey);

    expect(await removeUser(store, "late")).toBe("removed");
    expect(table.userOf(late.user.accessKeyId)).toEqual({ name: "late", role: "user" });
    await clock.advance(intervalMs);
    expect(await settled(() => table.userOf(late.user.accessKeyId) === undefined)).toBe(true);
    expect(table.secretOf(late.user.accessKeyId)).toBeUndefined();
    await table.stop();
    await store.close();
  });

  test("an unknown key triggers one early refresh per interval, not one per request", async () => {
    const store = openMemoryStore();
    const clock = manualClock(0);
    const table = await UserTable.open({ store, root, clock, refreshIntervalMs: intervalMs, log: () => undefined });
    table.start();
    expect(await settled(() => clock.sleeperCount() === 1)).toBe(true);
    const first = await addUser(store, { name: "first", role: "user", nowMs: 1 });
    if (first.kind !== "added") throw new Error("setup");
    // The miss wakes the loop at once: no time passes.
    expect(table.secretOf(first.user.accessKeyId)).toBeUndefined();
    expect(await settled(() => table.secretOf(first.user.accessKeyId) !== undefined)).toBe(true);
    expect(await settled(() => clock.sleeperCount() === 1)).toBe(true);

    const second = await addUser(store, { name: "second", role: "user", nowMs: 2 });
    if (second.kind !== "added") throw new Error("setup");
    expect(table.secretOf(second.user.accessKeyId)).toBeUndefined();
    // Within the same interval a miss does not wake it again: still unknown after the promises settle.
    expect(await settled(() => table.secretOf(second.user.accessKeyId) !== undefined, 50)).toBe(false);
    await clock.advance(intervalMs);
    expect(await settled(() => table.secretOf(second.user.accessKeyId) !== undefined)).toBe(true);
    await table.stop();
    await store.close();
  });

  test("a failed refresh keeps the previous table and logs", async () => {
    const store = openMemoryStore();
    const clock = manualClock(0);
    const entries: Record<string, unknown>[] = [];
    const added = await addUser(store, { name: "kept", role: "user", nowMs: 1 });
    if (added.kind !== "added") throw new Error("setup");
    const table = await UserTable.open({ store, root, clock, refreshIntervalMs: intervalMs, log: (entry) => entries.push(entry) });
    table.start();
    await store.close();
    await clock.advance(intervalMs);
    expect(await settled(() => entries.length > 0)).toBe(true);
    expect(entries[0]).toMatchObject({ event: "user-table-refresh-failed" });
    expect(table.userOf(added.user.accessKeyId)).toEqual({ name: "kept", role: "user" });
    await table.stop();
  });
});
