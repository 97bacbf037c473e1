/**
 * The real server driven by Debian's s3cmd (what `.ci/run` installs) with
 * nothing but an endpoint and keys in its config: buckets, single and
 * recursive puts, listings, info, gets, server-side cp/mv/modify, du,
 * deletes, sync in both directions with --delete-removed, and a multipart
 * put; every byte compared.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSeed, seededRandom } from "../runtime/index.ts";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { loggedRequests, s3cmd, sdkClient, type CommandResult } from "./support/clients.ts";
import { hashContents, hashTree, sampleTree, sha256Hex, writeTree } from "./support/local-tree.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`s3-s3cmd seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test test/s3-s3cmd.test.ts)`);
const random = seededRandom(seed);

let server: ServerProcess;
let workDir: string;

beforeAll(async () => {
  server = await startServer();
  workDir = mkdtempSync(join(tmpdir(), "cairn-s3cmd-"));
});
afterAll(async () => {
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<CommandResult> {
  const result = await s3cmd(server, workDir, args);
  if (result.code !== 0) throw new Error(`s3cmd ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** The object URLs in `s3cmd ls` output (dates and sizes stripped), sorted. */
function listedUrls(output: string): string[] {
  return output
    .split("\n")
    .map((line) => /(s3:\/\/.*)$/.exec(line.trim())?.[1])
    .filter((url): url is string => url !== undefined)
    .sort();
}

describe("s3cmd against the real server", () => {
  test("mb, put (a file and a tree), ls, la, info, get, cp, mv, modify, du, del, rb", async () => {
    const tree = sampleTree(random.fork("basic"));
    const source = join(workDir, "basic-source");
    writeTree(source, tree);

    const made = await run(["mb", "s3://s3cmd-basic"]);
    expect(made.stdout).toContain("created");
    await run(["put", join(source, "top.txt"), "s3://s3cmd-basic/single.txt"]);
    // A trailing slash on both sides: the tree's contents go under tree/.
    await run(["put", "--recursive", `${source}/`, "s3://s3cmd-basic/tree/"]);

    const buckets = await run(["ls"]);
    expect(buckets.stdout).toContain("s3://s3cmd-basic");

    const top = await run(["ls", "s3://s3cmd-basic"]);
    expect(top.stdout).toMatch(/DIR\s+s3:\/\/s3cmd-basic\/tree\//);
    expect(listedUrls(top.stdout)).toEqual(["s3://s3cmd-basic/single.txt", "s3://s3cmd-basic/tree/"]);

    const everything = await run(["ls", "--recursive", "s3://s3cmd-basic"]);
    const expectedTreeUrls = [...tree.keys()].map((path) => `s3://s3cmd-basic/tree/${path}`);
    expect(listedUrls(everything.stdout)).toEqual(["s3://s3cmd-basic/single.txt", ...expectedTreeUrls].sort());
    // Sizes as s3cmd prints them, from the listing's <Size>.
    const randomLine = everything.stdout.split("\n").find((line) => line.endsWith("random.bin"));
    expect(randomLine).toContain(` ${tree.get("sub/deeper/random.bin")!.length} `);

    // `la` lists every object of every bucket: this bucket's top level is in it.
    const all = await run(["la"]);
    expect(all.stdout).toContain("s3://s3cmd-basic/single.txt");

    const randomFile = tree.get("sub/deeper/random.bin")!;
    const info = await run(["info", "s3://s3cmd-basic/tree/sub/deeper/random.bin"]);
    expect(info.stdout).toMatch(new RegExp(`File size:\\s+${randomFile.length}`));
    expect(info.stdout).toMatch(new RegExp(`MD5 sum:\\s+${createHash("md5").update(randomFile).digest("hex")}`));
    const bucketInfo = await run(["info", "s3://s3cmd-basic"]);
    expect(bucketInfo.stdout).toMatch(/Location:\s+us-east-1/);

    const single = join(workDir, "single.back");
    await run(["get", "s3://s3cmd-basic/single.txt", single]);
    expect(readFileSync(single)).toEqual(Buffer.from(tree.get("top.txt")!));
    const fetched = join(workDir, "basic-fetched");
    mkdirSync(fetched);
    await run(["get", "--recursive", "s3://s3cmd-basic/tree/", `${fetched}/`]);
    expect(hashTree(fetched)).toEqual(hashContents(tree));

    // Server-side copies (CopyObject): cp to a key with a space and
    // non-ASCII letters, mv (copy, then delete), and modify (a copy onto
    // itself with REPLACE).
    await run(["cp", "s3://s3cmd-basic/single.txt", "s3://s3cmd-basic/copies/ä b.txt"]);
    await run(["mv", "s3://s3cmd-basic/copies/ä b.txt", "s3://s3cmd-basic/copies/moved.txt"]);
    await run(["modify", "--add-header=Cache-Control: max-age=60", "s3://s3cmd-basic/copies/moved.txt"]);
    const moved = await sdkClient(server).send(new GetObjectCommand({ Bucket: "s3cmd-basic", Key: "copies/moved.txt" }));
    expect(moved.CacheControl).toBe("max-age=60");
    expect(await moved.Body!.transformToString()).toBe(new TextDecoder().decode(tree.get("top.txt")!));
    const usage = await run(["du", "s3://s3cmd-basic"]);
    const treeBytes = [...tree.values()].reduce((sum, bytes) => sum + bytes.length, 0);
    expect(usage.stdout).toMatch(new RegExp(`^\\s*${treeBytes + 2 * tree.get("top.txt")!.length}\\s+${tree.size + 2} objects`));
    await run(["del", "s3://s3cmd-basic/copies/moved.txt"]);

    await run(["del", "s3://s3cmd-basic/single.txt"]);
    const afterDelete = await run(["ls", "--recursive", "s3://s3cmd-basic"]);
    expect(listedUrls(afterDelete.stdout)).toEqual(expectedTreeUrls.sort());
    // A bucket with objects in it is not removed.
    const refused = await s3cmd(server, workDir, ["rb", "s3://s3cmd-basic"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain("BucketNotEmpty");
    await run(["del", "--recursive", "--force", "s3://s3cmd-basic/tree/"]);
    const empty = await run(["ls", "--recursive", "s3://s3cmd-basic"]);
    expect(listedUrls(empty.stdout)).toEqual([]);
    await run(["rb", "s3://s3cmd-basic"]);
    const gone = await run(["ls"]);
    expect(gone.stdout).not.toContain("s3://s3cmd-basic");
    const missing = await s3cmd(server, workDir, ["ls", "s3://s3cmd-basic"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("NoSuchBucket");
  });

  test("a file over s3cmd's 15 MiB chunk goes up as a multipart upload and comes back intact", async () => {
    const sizeBytes = 20 * 1024 * 1024 + random.integer(1024 * 1024);
    const bytes = random.fork("multipart").bytes(sizeBytes);
    const source = join(workDir, "multipart.bin");
    writeFileSync(source, bytes);
    await run(["mb", "s3://s3cmd-multipart"]);
    await run(["put", source, "s3://s3cmd-multipart/big/multipart.bin"]);
    // s3cmd's default multipart_chunk_size_mb is 15: two parts, then one completion.
    const sent = loggedRequests(server).filter((entry) => entry.path === "/s3cmd-multipart/big/multipart.bin");
    expect(sent.filter((entry) => entry.operation === "UploadPart" && entry.status === 200).length).toBe(2);
    expect(sent.filter((entry) => entry.operation === "CompleteMultipartUpload" && entry.status === 200).length).toBe(1);
    expect(sent.filter((entry) => entry.operation === "PutObject")).toEqual([]);
    const listed = await run(["ls", "s3://s3cmd-multipart/big/"]);
    expect(listed.stdout).toContain(` ${sizeBytes} `);
    const info = await run(["info", "s3://s3cmd-multipart/big/multipart.bin"]);
    expect(info.stdout).toMatch(new RegExp(`File size:\\s+${sizeBytes}`));
    // s3cmd shows the MD5 it recorded in its own metadata, not the multipart ETag.
    expect(info.stdout).toMatch(new RegExp(`MD5 sum:\\s+${createHash("md5").update(bytes).digest("hex")}`));
    // Read back with the SDK and with s3cmd's own get (it needs the GET's Content-Length).
    const fetched = await sdkClient(server).send(new GetObjectCommand({ Bucket: "s3cmd-multipart", Key: "big/multipart.bin" }));
    expect(sha256Hex(await fetched.Body!.transformToByteArray())).toBe(sha256Hex(bytes));
    const back = join(workDir, "multipart.back");
    await run(["get", "s3://s3cmd-multipart/big/multipart.bin", back]);
    expect(sha256Hex(readFileSync(back))).toBe(sha256Hex(bytes));
    rmSync(source);
  });

  // s3cmd 2.3.0 reads a GET's Content-Length and fails (KeyError:
  // 'content-length') without it; Bun.serve drops the header on streamed
  // bodies (Bun issue 10507), so the server answers through node:http
  // (gateway/adapter/node-http), which keeps it.
  test("get of an object over 1 MiB", async () => {
    const bytes = random.fork("large get").bytes(3 * 1024 * 1024);
    const source = join(workDir, "large-get.bin");
    writeFileSync(source, bytes);
    await run(["mb", "s3://s3cmd-large-get"]);
    await run(["put", "--disable-multipart", source, "s3://s3cmd-large-get/large.bin"]);
    const back = join(workDir, "large-get.back");
    await run(["get", "s3://s3cmd-large-get/large.bin", back]);
    expect(sha256Hex(readFileSync(back))).toBe(sha256Hex(bytes));
  });

  test("sync up and down with --delete-removed", async () => {
    const tree = sampleTree(random.fork("sync"));
    const source = join(workDir, "sync-source");
    writeTree(source, tree);
    await run(["mb", "s3://s3cmd-sync"]);
    await run(["sync", `${source}/`, "s3://s3cmd-sync/mirror/"]);
    const mirrored = await run(["ls", "--recursive", "s3://s3cmd-sync"]);
    expect(listedUrls(mirrored.stdout)).toEqual([...tree.keys()].map((path) => `s3://s3cmd-sync/mirror/${path}`).sort());

    // Change the source: one file removed, one added, one rewritten at the
    // same size (s3cmd must see it by MD5, not by size).
    const changed = new Map(tree);
    rmSync(join(source, "sub/with space.txt"));
    changed.delete("sub/with space.txt");
    changed.set("sub/added later.txt", new TextEncoder().encode("added after the first sync\n"));
    const rewritten = new Uint8Array(tree.get("sub/deeper/random.bin")!);
    const flipped = random.integer(rewritten.length);
    rewritten[flipped] = rewritten[flipped]! ^ 0xff;
    changed.set("sub/deeper/random.bin", rewritten);
    writeTree(source, changed);
    const second = await run(["sync", "--delete-removed", `${source}/`, "s3://s3cmd-sync/mirror/"]);
    expect(second.stdout).toContain("delete: 's3://s3cmd-sync/mirror/sub/with space.txt'");
    const resynced = await run(["ls", "--recursive", "s3://s3cmd-sync"]);
    expect(listedUrls(resynced.stdout)).toEqual([...changed.keys()].map((path) => `s3://s3cmd-sync/mirror/${path}`).sort());

    // Down into a directory holding a stale file and an outdated copy.
    const target = join(workDir, "sync-target");
    mkdirSync(join(target, "sub/deeper"), { recursive: true });
    writeFileSync(join(target, "stale.txt"), "not on the server\n");
    writeFileSync(join(target, "sub/deeper/random.bin"), tree.get("sub/deeper/random.bin")!);
    await run(["sync", "--delete-removed", "s3://s3cmd-sync/mirror/", `${target}/`]);
    expect(hashTree(target)).toEqual(hashContents(changed));

    await run(["del", "--recursive", "--force", "s3://s3cmd-sync"]);
    await run(["rb", "s3://s3cmd-sync"]);
  });
});
