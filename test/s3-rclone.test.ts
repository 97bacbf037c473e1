/**
 * The real server driven by Debian's rclone (what `.ci/run` installs) as a
 * plain "S3, provider Other" remote given nothing but an endpoint and keys:
 * mkdir, copy, sync with deletions both ways (and a modification time
 * updated through CopyObject), check (clean and with a
 * difference it must find), lsf, lsjson with hashes, cat, server-side
 * copyto and moveto, delete and purge,
 * over a tree with nesting, spaces and non-ASCII names.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSeed, seededRandom } from "../runtime/index.ts";
import { loggedRequests, rclone, rcloneRemote, type CommandResult } from "./support/clients.ts";
import { hashContents, hashTree, sampleTree, sha256Hex, writeTree } from "./support/local-tree.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`s3-rclone seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test test/s3-rclone.test.ts)`);
const random = seededRandom(seed);

let server: ServerProcess;
let workDir: string;

beforeAll(async () => {
  server = await startServer();
  workDir = mkdtempSync(join(tmpdir(), "cairn-rclone-"));
});
afterAll(async () => {
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<CommandResult> {
  const result = await rclone(server, args);
  if (result.code !== 0) throw new Error(`rclone ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** `rclone lsf -R --files-only` of a remote path: its file paths, sorted. */
async function remoteFiles(path: string): Promise<string[]> {
  const listed = await run(["lsf", "--recursive", "--files-only", `${rcloneRemote}:${path}`]);
  return listed.stdout.split("\n").filter((line) => line !== "").sort();
}

describe("rclone against the real server", () => {
  test("mkdir, copy, lsf, lsjson with MD5s, cat, check, sync both ways with deletions, copyto, moveto, delete, purge", async () => {
    const tree = sampleTree(random.fork("tree"));
    const source = join(workDir, "source");
    writeTree(source, tree);
    const bucket = `${rcloneRemote}:rclone-tree`;

    await run(["mkdir", bucket]);
    const buckets = await run(["lsd", `${rcloneRemote}:`]);
    expect(buckets.stdout).toContain("rclone-tree");

    await run(["copy", source, `${bucket}/copy`]);
    expect(await remoteFiles("rclone-tree/copy")).toEqual([...tree.keys()].sort());
    const directories = await run(["lsf", "--recursive", "--dirs-only", `${bucket}/copy`]);
    expect(directories.stdout.split("\n").filter((line) => line !== "").sort()).toEqual(["sub/", "sub/deeper/", "sub/deeper/still/"]);

    // lsjson's MD5 comes from the object's ETag: it must be the MD5 of the bytes.
    const described = await run(["lsjson", "--recursive", "--files-only", "--hash", `${bucket}/copy`]);
    const entries = JSON.parse(described.stdout) as { Path: string; Size: number; Hashes?: { md5?: string } }[];
    const expected = [...tree].map(([path, bytes]) => ({ path, size: bytes.length, md5: createHash("md5").update(bytes).digest("hex") }));
    expect(entries.map((entry) => ({ path: entry.Path, size: entry.Size, md5: entry.Hashes?.md5 })).sort(byPath)).toEqual(expected.sort(byPath));

    const cat = await run(["cat", `${bucket}/copy/sub/ünïcödé ñame.txt`]);
    expect(cat.stdout).toBe(new TextDecoder().decode(tree.get("sub/ünïcödé ñame.txt")!));

    const clean = await run(["check", source, `${bucket}/copy`]);
    expect(clean.stderr).toContain("0 differences found");
    expect(clean.stderr).toContain(`${tree.size} matching files`);

    // One byte changed locally at the same size: check must find it by hash and fail.
    const altered = new Uint8Array(tree.get("sub/deeper/random.bin")!);
    const flipped = random.integer(altered.length);
    altered[flipped] = altered[flipped]! ^ 0xff;
    writeFileSync(join(source, "sub/deeper/random.bin"), altered);
    const dirty = await rclone(server, ["check", source, `${bucket}/copy`]);
    expect(dirty.code).not.toBe(0);
    expect(dirty.stderr).toContain("1 differences found");
    expect(dirty.stderr).toContain("sub/deeper/random.bin");

    // Sync with deletions: the altered file goes up again, a removed file is
    // deleted on the server, an added one appears.
    const changed = new Map(tree);
    changed.set("sub/deeper/random.bin", altered);
    rmSync(join(source, "sub/with space.txt"));
    changed.delete("sub/with space.txt");
    const added = new TextEncoder().encode("added after the copy\n");
    changed.set("sub/deeper/still/added later.txt", added);
    writeTree(source, new Map([["sub/deeper/still/added later.txt", added]]));
    // An unchanged file with another modification time: rclone records the
    // new time on the server with a CopyObject onto itself (REPLACE).
    const touchedSeconds = 1_600_000_000 + random.integer(100_000_000);
    utimesSync(join(source, "top.txt"), touchedSeconds, touchedSeconds);
    await run(["sync", source, `${bucket}/copy`]);
    expect(await remoteFiles("rclone-tree/copy")).toEqual([...changed.keys()].sort());
    const touched = JSON.parse((await run(["lsjson", `${bucket}/copy/top.txt`])).stdout) as { ModTime: string }[];
    expect(Date.parse(touched[0]!.ModTime)).toBe(touchedSeconds * 1000);
    expect(loggedRequests(server).filter((entry) => entry.operation === "CopyObject" && entry.path === "/rclone-tree/copy/top.txt").map((entry) => entry.status)).toEqual([200]);
    const synced = await run(["check", source, `${bucket}/copy`]);
    expect(synced.stderr).toContain("0 differences found");

    // Down into a directory with a stale file and an outdated copy.
    const target = join(workDir, "target");
    mkdirSync(join(target, "sub/deeper"), { recursive: true });
    writeFileSync(join(target, "stale.txt"), "not on the server\n");
    writeFileSync(join(target, "sub/deeper/random.bin"), tree.get("sub/deeper/random.bin")!);
    await run(["sync", `${bucket}/copy`, target]);
    expect(hashTree(target)).toEqual(hashContents(changed));

    // Within the remote, copyto and moveto are server-side (CopyObject; moveto then deletes the source).
    await run(["copyto", `${bucket}/copy/sub/ünïcödé ñame.txt`, `${bucket}/moved/copied ✓.txt`]);
    await run(["moveto", `${bucket}/moved/copied ✓.txt`, `${bucket}/moved/renamed.txt`]);
    expect(await remoteFiles("rclone-tree/moved")).toEqual(["renamed.txt"]);
    expect((await run(["cat", `${bucket}/moved/renamed.txt`])).stdout).toBe(new TextDecoder().decode(tree.get("sub/ünïcödé ñame.txt")!));
    const copies = loggedRequests(server).filter((entry) => entry.operation === "CopyObject" && entry.path.startsWith("/rclone-tree/moved/"));
    expect(copies.map((entry) => entry.status)).toEqual([200, 200]);

    await run(["delete", `${bucket}/copy/sub/deeper`]);
    expect(await remoteFiles("rclone-tree/copy")).toEqual([...changed.keys()].filter((path) => !path.startsWith("sub/deeper/")).sort());

    await run(["purge", bucket]);
    const after = await run(["lsd", `${rcloneRemote}:`]);
    expect(after.stdout).not.toContain("rclone-tree");
  });
});

describe("rclone multipart", () => {
  test("with --s3-upload-cutoff 5M a 12+ MiB file goes up in parts; check and a copy back agree", async () => {
    const sizeBytes = 12 * 1024 * 1024 + random.integer(1024 * 1024);
    const bytes = random.fork("multipart").bytes(sizeBytes);
    const source = join(workDir, "multipart");
    mkdirSync(source);
    writeFileSync(join(source, "big file.bin"), bytes);
    const bucket = `${rcloneRemote}:rclone-multipart`;
    await run(["mkdir", bucket]);
    const multipartFlags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"];
    await run(["copy", ...multipartFlags, source, bucket]);
    // 5 MiB chunks: three parts, one completion, no single PUT.
    const sent = loggedRequests(server).filter((entry) => entry.path === "/rclone-multipart/big%20file.bin");
    expect(sent.filter((entry) => entry.operation === "UploadPart" && entry.status === 200).length).toBe(3);
    expect(sent.filter((entry) => entry.operation === "CompleteMultipartUpload" && entry.status === 200).length).toBe(1);
    expect(sent.filter((entry) => entry.operation === "PutObject")).toEqual([]);

    // rclone records the whole file's MD5 in metadata, as the ETag of a
    // multipart object is not one; check must still find no difference.
    const clean = await run(["check", source, bucket]);
    expect(clean.stderr).toContain("0 differences found");
    const target = join(workDir, "multipart-back");
    await run(["copy", bucket, target]);
    expect(hashTree(target)).toEqual(new Map([["big file.bin", sha256Hex(bytes)]]));
    await run(["purge", bucket]);
  });
});

function byPath(left: { path: string }, right: { path: string }): number {
  return left.path < right.path ? -1 : left.path > right.path ? 1 : 0;
}
