import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault, seededRandom, type Fault } from "../../../runtime/index.ts";
import { recordBytesFor, recordHeaderBytes } from "./format.ts";
import { VolumeStore, volumeName, type VolumeStoreOptions } from "./volume-store.ts";

let directory = "";
const opened: VolumeStore[] = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "cairn-volume-store-"));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(directory, { recursive: true, force: true });
});

async function openStore(options: Partial<VolumeStoreOptions> = {}): Promise<VolumeStore> {
  const store = await VolumeStore.open({ directory, diskId: "disk-test", ...options });
  opened.push(store);
  return store;
}

async function reopen(store: VolumeStore, options: Partial<VolumeStoreOptions> = {}): Promise<VolumeStore> {
  await store.close();
  return openStore(options);
}

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function textOf(value: Uint8Array | Fault): string {
  if (isFault(value)) throw new Error(`expected bytes, got fault ${value.fault}: ${value.detail}`);
  return new TextDecoder().decode(value);
}

function faultKind(value: unknown): string | undefined {
  return isFault(value) ? value.fault : undefined;
}

async function flipByte(path: string, offsetBytes: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[offsetBytes] = (bytes[offsetBytes] ?? 0) ^ 0x40;
  await writeFile(path, bytes);
}

async function expectConsistentStats(store: VolumeStore): Promise<void> {
  const stats = store.stats();
  let fileBytes = 0;
  for (const volume of stats.volumes) fileBytes += (await stat(join(directory, volumeName(volume.volumeNumber)))).size;
  expect(stats.liveBytes + stats.deadBytes).toBe(fileBytes);
  expect(stats.volumeCount).toBe(stats.volumes.length);
}

describe("VolumeStore", () => {
  test("append, read, overwrite and delete", async () => {
    const store = await openStore();
    expect(await store.append("a", bytesOf("first"))).toBeUndefined();
    expect(textOf(await store.read("a"))).toBe("first");
    expect(await store.append("a", bytesOf("second value"))).toBeUndefined();
    expect(textOf(await store.read("a"))).toBe("second value");
    expect(faultKind(await store.read("missing"))).toBe("NotFound");

    expect(store.stats().shardCount).toBe(1);
    expect(store.stats().deadBytes).toBe(recordBytesFor(1, 5));
    expect(store.stats().liveBytes).toBe(recordBytesFor(1, 12));

    expect(await store.delete("a")).toBe(true);
    expect(faultKind(await store.read("a"))).toBe("NotFound");
    expect(await store.delete("a")).toBe(false);
    const stats = store.stats();
    expect(stats.shardCount).toBe(0);
    expect(stats.liveBytes).toBe(0);
    expect(stats.volumeCount).toBe(1);
    await expectConsistentStats(store);
  });

  test("range reads return the requested slice, clamped to the payload", async () => {
    const store = await openStore();
    const payload = Uint8Array.from({ length: 100 }, (_, index) => index);
    await store.append("range", payload);
    const slice = async (offset?: number, length?: number): Promise<number[]> => {
      const bytes = await store.read("range", offset, length);
      if (isFault(bytes)) throw new Error(bytes.detail);
      return Array.from(bytes);
    };
    expect(await slice(10, 5)).toEqual([10, 11, 12, 13, 14]);
    expect(await slice(95)).toEqual([95, 96, 97, 98, 99]);
    expect(await slice(90, 50)).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
    expect(await slice(200)).toEqual([]);
    expect(await slice(0, 0)).toEqual([]);
    expect((await slice()).length).toBe(100);
  });

  test("the index is rebuilt after close and reopen", async () => {
    let store = await openStore();
    for (let index = 0; index < 20; index += 1) await store.append(`key-${index}`, bytesOf(`value-${index}`));
    await store.append("key-3", bytesOf("overwritten"));
    await store.delete("key-4");
    const before = store.stats();
    store = await reopen(store);
    const after = store.stats();
    expect(after.shardCount).toBe(19);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.deadBytes).toBe(before.deadBytes);
    expect(textOf(await store.read("key-3"))).toBe("overwritten");
    expect(faultKind(await store.read("key-4"))).toBe("NotFound");
    expect(textOf(await store.read("key-19"))).toBe("value-19");
    expect(store.recoveryReport()).toEqual({ tornBytesCut: 0, damagedSpans: 0, damagedBytes: 0 });
    // A store reopened over a clean directory keeps appending where it left off.
    await store.append("key-20", bytesOf("after reopen"));
    store = await reopen(store);
    expect(textOf(await store.read("key-20"))).toBe("after reopen");
    expect(textOf(await store.read("key-0"))).toBe("value-0");
    await expectConsistentStats(store);
  });

  test("a full volume is sealed and appends roll into the next", async () => {
    const volumeBytesMax = 1024;
    let store = await openStore({ volumeBytesMax });
    const payload = (index: number): Uint8Array => new Uint8Array(200).fill(index);
    // Concurrent appends: one batch has to be split across volumes.
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, index) => store.append(`roll-${index}`, payload(index))),
    );
    expect(outcomes.every((outcome) => outcome === undefined)).toBe(true);
    const stats = store.stats();
    expect(stats.volumeCount).toBeGreaterThan(1);
    for (const volume of stats.volumes) expect(volume.sizeBytes).toBeLessThanOrEqual(volumeBytesMax);
    expect(stats.volumes.filter((volume) => !volume.sealed).map((volume) => volume.volumeNumber)).toEqual([
      stats.volumeCount,
    ]);
    const names = (await readdir(directory)).sort();
    expect(names.slice(0, 2)).toEqual(["data.000001", "data.000002"]);

    // A record larger than a volume gets an empty volume of its own.
    await store.append("huge", new Uint8Array(3000).fill(7));
    const hugeVolume = store.stats().volumes.at(-1);
    expect(hugeVolume?.sizeBytes).toBe(recordBytesFor(4, 3000));

    store = await reopen(store, { volumeBytesMax });
    for (let index = 0; index < 20; index += 1) {
      const bytes = await store.read(`roll-${index}`);
      expect(isFault(bytes) ? bytes.fault : Array.from(bytes)).toEqual(Array.from(payload(index)));
    }
    expect(isFault(await store.read("huge"))).toBe(false);
    await store.append("after", bytesOf("x"));
    expect(store.stats().volumeCount).toBe(stats.volumeCount + 2);
    await expectConsistentStats(store);
  });

  test("a flipped payload byte reads as Corrupt, never as data, before and after reopen", async () => {
    let store = await openStore();
    await store.append("a", bytesOf("aaaaaaaaaa"));
    await store.append("b", bytesOf("bbbbbbbbbb"));
    await store.append("c", bytesOf("cccccccccc"));
    const path = join(directory, volumeName(1));
    const offsetOfB = recordBytesFor(1, 10);
    await flipByte(path, offsetOfB + recordHeaderBytes + 1 + 3);

    expect(faultKind(await store.read("b"))).toBe("Corrupt");
    expect(faultKind(await store.read("b", 0, 1))).toBe("Corrupt");
    expect(textOf(await store.read("a"))).toBe("aaaaaaaaaa");

    // In the middle of a volume the record stays indexed: its key is known, its bytes are bad.
    store = await reopen(store);
    expect(store.has("b")).toBe(true);
    expect(faultKind(await store.read("b"))).toBe("Corrupt");
    expect(textOf(await store.read("c"))).toBe("cccccccccc");
    expect(store.recoveryReport().tornBytesCut).toBe(0);
  });

  test("a bad payload in the last record of the last volume is a torn tail and is cut", async () => {
    let store = await openStore();
    await store.append("a", bytesOf("aaaaaaaaaa"));
    await store.append("b", bytesOf("bbbbbbbbbb"));
    const path = join(directory, volumeName(1));
    await flipByte(path, recordBytesFor(1, 10) + recordHeaderBytes + 1);
    store = await reopen(store);
    expect(faultKind(await store.read("b"))).toBe("NotFound");
    expect(textOf(await store.read("a"))).toBe("aaaaaaaaaa");
    expect(store.recoveryReport().tornBytesCut).toBe(recordBytesFor(1, 10));
    expect((await stat(path)).size).toBe(recordBytesFor(1, 10));
  });

  test("a flipped header byte: Corrupt while open; after reopen the span is skipped, later records kept", async () => {
    let store = await openStore();
    await store.append("a", bytesOf("aaaaaaaaaa"));
    await store.append("b", bytesOf("bbbbbbbbbb"));
    await store.append("c", bytesOf("cccccccccc"));
    const path = join(directory, volumeName(1));
    const sizeBefore = (await stat(path)).size;
    // Byte 13 is inside the payload length field.
    await flipByte(path, recordBytesFor(1, 10) + 13);
    expect(faultKind(await store.read("b"))).toBe("Corrupt");

    store = await reopen(store);
    expect(faultKind(await store.read("b"))).toBe("NotFound");
    expect(textOf(await store.read("a"))).toBe("aaaaaaaaaa");
    expect(textOf(await store.read("c"))).toBe("cccccccccc");
    expect(store.recoveryReport()).toEqual({ tornBytesCut: 0, damagedSpans: 1, damagedBytes: recordBytesFor(1, 10) });
    expect((await stat(path)).size).toBe(sizeBefore);
    await expectConsistentStats(store);
  });

  test("a damaged header in a sealed volume loses only that record", async () => {
    let store = await openStore({ volumeBytesMax: 256 });
    for (let index = 0; index < 6; index += 1) await store.append(`s-${index}`, new Uint8Array(100).fill(index));
    expect(store.stats().volumeCount).toBeGreaterThan(1);
    await flipByte(join(directory, volumeName(1)), 0);
    store = await reopen(store, { volumeBytesMax: 256 });
    expect(faultKind(await store.read("s-0"))).toBe("NotFound");
    for (let index = 1; index < 6; index += 1) expect(isFault(await store.read(`s-${index}`))).toBe(false);
    expect(store.recoveryReport().damagedSpans).toBe(1);
  });

  for (const cut of ["mid-payload", "mid-header", "mid-key"] as const) {
    test(`a torn tail (${cut}, then garbage) is cut on open; earlier records survive; appends continue`, async () => {
      let store = await openStore();
      await store.append("alpha", bytesOf("A".repeat(300)));
      await store.append("beta", bytesOf("B".repeat(300)));
      await store.append("gamma", bytesOf("G".repeat(300)));
      const path = join(directory, volumeName(1));
      const endOfBeta = recordBytesFor(5, 300) + recordBytesFor(4, 300);
      const cutAt = { "mid-payload": endOfBeta + 150, "mid-header": endOfBeta + 9, "mid-key": endOfBeta + 26 }[cut];
      await store.close();
      await truncate(path, cutAt);
      await appendFile(path, seededRandom(cutAt).bytes(517));

      store = await openStore();
      expect(faultKind(await store.read("gamma"))).toBe("NotFound");
      expect(textOf(await store.read("alpha"))).toBe("A".repeat(300));
      expect(textOf(await store.read("beta"))).toBe("B".repeat(300));
      expect(store.recoveryReport().tornBytesCut).toBe(cutAt + 517 - endOfBeta);
      expect((await stat(path)).size).toBe(endOfBeta);

      await store.append("delta", bytesOf("D".repeat(10)));
      store = await reopen(store);
      expect(textOf(await store.read("delta"))).toBe("D".repeat(10));
      expect(textOf(await store.read("beta"))).toBe("B".repeat(300));
      expect(store.recoveryReport().tornBytesCut).toBe(0);
      await expectConsistentStats(store);
    });
  }

  test("a file cut inside a record without garbage after it is cut back to the last whole record", async () => {
    let store = await openStore();
    await store.append("one", bytesOf("1".repeat(40)));
    await store.append("two", bytesOf("2".repeat(40)));
    await store.close();
    const path = join(directory, volumeName(1));
    await truncate(path, recordBytesFor(3, 40) + 30);
    store = await openStore();
    expect(store.shardKeys()).toEqual(["one"]);
    expect((await stat(path)).size).toBe(recordBytesFor(3, 40));
  });

  test("group commit: concurrent appends share fdatasyncs and become visible only when acknowledged", async () => {
    const store = await openStore();
    const count = 64;
    const syncsBefore = store.stats().syncCount;
    const appends = Array.from({ length: count }, (_, index) => store.append(`g-${index}`, bytesOf(`payload ${index}`)));
    // Nothing is acknowledged yet, so nothing may be visible.
    expect(store.has("g-0")).toBe(false);
    expect(faultKind(await store.read("g-0"))).toBe("NotFound");
    const outcomes = await Promise.all(appends);
    expect(outcomes.every((outcome) => outcome === undefined)).toBe(true);
    const syncs = store.stats().syncCount - syncsBefore;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(count);
    for (let index = 0; index < count; index += 1) expect(textOf(await store.read(`g-${index}`))).toBe(`payload ${index}`);
  });

  test("writes in one batch apply in order: a delete after an append in the same batch finds the key", async () => {
    const store = await openStore();
    const [appended, deleted, deletedAgain] = await Promise.all([
      store.append("k", bytesOf("v")),
      store.delete("k"),
      store.delete("k"),
    ]);
    expect(appended).toBeUndefined();
    expect(deleted).toBe(true);
    expect(deletedAgain).toBe(false);
    expect(store.has("k")).toBe(false);
  });

  test("a full pending queue answers Overloaded; admitted writes still succeed", async () => {
    const store = await openStore({ pendingCountMax: 4 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, index) => store.append(`o-${index}`, bytesOf("x"))));
    const overloaded = outcomes.filter((outcome) => faultKind(outcome) === "Overloaded").length;
    expect(overloaded).toBe(6);
    for (let index = 0; index < 10; index += 1) {
      const expected = outcomes[index] === undefined ? "x" : "NotFound";
      const bytes = await store.read(`o-${index}`);
      expect(isFault(bytes) ? bytes.fault : textOf(bytes)).toBe(expected);
    }
    // Once the queue drained, writes are admitted again.
    expect(await store.append("later", bytesOf("y"))).toBeUndefined();

    const byteBound = await openStoreInSubdirectory({ pendingBytesMax: 1000 });
    const big = await Promise.all([byteBound.append("b1", new Uint8Array(900)), byteBound.append("b2", new Uint8Array(900))]);
    expect(big.map(faultKind)).toEqual([undefined, "Overloaded"]);
  });

  test("close waits for pending writes", async () => {
    let store = await openStore();
    const pending = Array.from({ length: 10 }, (_, index) => store.append(`w-${index}`, bytesOf(`${index}`)));
    await store.close();
    expect((await Promise.all(pending)).every((outcome) => outcome === undefined)).toBe(true);
    store = await openStore();
    expect(store.stats().shardCount).toBe(10);
  });
});

async function openStoreInSubdirectory(options: Partial<VolumeStoreOptions>): Promise<VolumeStore> {
  const store = await VolumeStore.open({ directory: join(directory, "second"), diskId: "disk-second", ...options });
  opened.push(store);
  return store;
}
