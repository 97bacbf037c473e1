/**
 * A real full filesystem under a VolumeStore: a 2 MiB tmpfs of its own, part
 * of it taken by a ballast file. Appends that run into ENOSPC in the middle of
 * a batch's write must be refused (`Overloaded`, "disk full") without leaving
 * any byte of theirs in the volume: not acknowledged, not indexed, not found
 * by the scan on open. The store stays usable and takes writes again once the
 * ballast is removed.
 *
 * Mounting needs root (as CI and the chaos suite run); elsewhere the test is
 * skipped with a printed line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFault, type Fault } from "../../../runtime/index.ts";
import { VolumeStore, volumeName } from "./volume-store.ts";

const isRoot = process.getuid?.() === 0;
const sizeBytes = 2 * 1024 * 1024;
const ballastBytes = 1024 * 1024;
const recordPayloadBytes = 48 * 1024;
let mountPoint = "";
let mounted = false;

beforeAll(async () => {
  if (!isRoot) {
    console.log("volume-store-no-space: skipped: mounting a tmpfs needs root");
    return;
  }
  mountPoint = await mkdtemp(join(tmpdir(), "cairn-no-space-"));
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", mountPoint], { encoding: "utf8" });
  if (mount.status !== 0) throw new Error(`mount -t tmpfs failed: ${mount.stderr}`);
  mounted = true;
});

afterAll(async () => {
  if (mounted) {
    const unmount = spawnSync("umount", [mountPoint], { encoding: "utf8" });
    if (unmount.status !== 0) console.log(`volume-store-no-space: umount ${mountPoint} failed: ${unmount.stderr}`);
  }
  if (mountPoint !== "") await rmdir(mountPoint).catch(() => undefined);
});

function payloadFor(key: string): Uint8Array {
  const bytes = new Uint8Array(recordPayloadBytes);
  const tag = new TextEncoder().encode(key);
  for (let index = 0; index < bytes.length; index += 1) bytes[index] = tag[index % tag.length]! ^ (index & 0xff);
  return bytes;
}

function isDiskFull(outcome: Fault | undefined): boolean {
  return outcome !== undefined && outcome.fault === "Overloaded" && outcome.detail.includes("disk full");
}

describe.skipIf(!isRoot)("VolumeStore on a full filesystem", () => {
  test("ENOSPC mid-batch: refused with Overloaded, cut back, nothing resurrected on open; writes resume once space returns", async () => {
    const directory = join(mountPoint, "disk");
    const ballast = join(mountPoint, "ballast");
    await writeFile(ballast, new Uint8Array(ballastBytes));
    let store = await VolumeStore.open({ directory, diskId: "disk-full" });
    try {
      // One batch larger than the space left: writev gets part of it down, then ENOSPC.
      const batchKeys = Array.from({ length: 30 }, (_, index) => `batch-${index}`);
      const batch = await Promise.all(batchKeys.map((key) => store.append(key, payloadFor(key))));
      const acknowledged = new Set(batchKeys.filter((_, index) => batch[index] === undefined));
      const refused = batchKeys.filter((_, index) => isDiskFull(batch[index]));
      expect(refused.length).toBeGreaterThan(0);
      expect(acknowledged.size + refused.length).toBe(batchKeys.length);

      // One record at a time until the filesystem refuses: the last whole records fit, then one does not.
      let single = 0;
      for (;;) {
        const key = `single-${single}`;
        single += 1;
        const outcome = await store.append(key, payloadFor(key));
        if (outcome === undefined) {
          acknowledged.add(key);
          continue;
        }
        expect(isDiskFull(outcome)).toBe(true);
        break;
      }
      expect(store.stats().noSpaceCount).toBeGreaterThanOrEqual(2);

      // The volume holds exactly the acknowledged records: every refused byte was cut off.
      const stats = store.stats();
      const fileBytes = (await stat(join(directory, volumeName(1)))).size;
      expect(stats.liveBytes + stats.deadBytes).toBe(fileBytes);
      expect(stats.shardCount).toBe(acknowledged.size);
      for (const key of refused) expect(store.has(key)).toBe(false);

      // Reads go on while the disk is full.
      for (const key of acknowledged) {
        const bytes = await store.read(key);
        expect(isFault(bytes)).toBe(false);
        expect(Buffer.from(bytes as Uint8Array).equals(Buffer.from(payloadFor(key)))).toBe(true);
      }

      // Space comes back: the same store takes writes again, without a reopen.
      await unlink(ballast);
      expect(await store.append("after-free", payloadFor("after-free"))).toBeUndefined();
      acknowledged.add("after-free");

      // The scan on open finds exactly what was acknowledged, with no torn tail left to cut.
      await store.close();
      store = await VolumeStore.open({ directory, diskId: "disk-full" });
      expect(store.recoveryReport()).toEqual({ tornBytesCut: 0, damagedSpans: 0, damagedBytes: 0 });
      expect(new Set(store.shardKeys())).toEqual(acknowledged);
      for (const key of acknowledged) {
        const bytes = await store.read(key);
        expect(Buffer.from(bytes as Uint8Array).equals(Buffer.from(payloadFor(key)))).toBe(true);
      }
    } finally {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
