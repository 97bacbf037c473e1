/**
 * The real server process driven by the AWS CLI (Debian's `awscli`) given
 * nothing but an endpoint and keys: the high-level `aws s3` commands (cp, ls,
 * sync both ways with --delete, rm --recursive), `aws s3api` calls for the
 * bucket, object, version, copy, bucket tagging, CORS and multipart
 * operations (and NotImplemented for what Cairn lacks), and a 1 GiB object
 * streamed up and back down and compared by checksum while the server's peak
 * resident memory is measured. The 200 MiB `aws s3 cp` that goes multipart
 * at default settings is in test/s3-multipart.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomFillSync } from "node:crypto";
import { createReadStream, mkdirSync, mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomSeed, seededRandom } from "../runtime/index.ts";
import { awsCli } from "./support/clients.ts";
import { hashContents, hashTree, sampleTree, sha256Hex, writeTree } from "./support/local-tree.ts";
import { startServer, type ServerProcess } from "./support/server.ts";

const seed = Number(process.env.CAIRN_TEST_SEED ?? randomSeed());
console.log(`s3-awscli seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test test/s3-awscli.test.ts)`);
const random = seededRandom(seed);

let server: ServerProcess;
let workDir: string;

beforeAll(async () => {
  server = await startServer();
  workDir = mkdtempSync(join(tmpdir(), "cairn-awscli-"));
});
afterAll(async () => {
  await server?.dispose();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function expectOk(result: { code: number | null; stdout: string; stderr: string }): void {
  if (result.code !== 0) throw new Error(`aws exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

describe("AWS CLI against the real server", () => {
  test("mb, cp, ls with prefix and delimiter, rm, rb", async () => {
    expectOk(await awsCli(server, ["s3", "mb", "s3://cli-basic"]));
    const small = join(workDir, "small.txt");
    writeFileSync(small, "hello from the aws cli\n");
    expectOk(await awsCli(server, ["s3", "cp", small, "s3://cli-basic/docs/readme.txt"]));
    expectOk(await awsCli(server, ["s3", "cp", small, "s3://cli-basic/docs/deep/more.txt"]));
    expectOk(await awsCli(server, ["s3", "cp", small, "s3://cli-basic/top.txt"]));

    const buckets = await awsCli(server, ["s3", "ls"]);
    expectOk(buckets);
    expect(buckets.stdout).toContain("cli-basic");

    const top = await awsCli(server, ["s3", "ls", "s3://cli-basic/"]);
    expectOk(top);
    expect(top.stdout).toContain("PRE docs/");
    expect(top.stdout).toContain("top.txt");
    expect(top.stdout).not.toContain("readme.txt");

    const listed = await awsCli(server, ["s3api", "list-objects-v2", "--bucket", "cli-basic", "--prefix", "docs/", "--delimiter", "/"]);
    expectOk(listed);
    const parsed = JSON.parse(listed.stdout) as { Contents: { Key: string }[]; CommonPrefixes: { Prefix: string }[] };
    expect(parsed.Contents.map((item) => item.Key)).toEqual(["docs/readme.txt"]);
    expect(parsed.CommonPrefixes.map((item) => item.Prefix)).toEqual(["docs/deep/"]);

    const head = await awsCli(server, ["s3api", "head-object", "--bucket", "cli-basic", "--key", "top.txt"]);
    expectOk(head);
    expect((JSON.parse(head.stdout) as { ContentLength: number }).ContentLength).toBe(23);

    const back = join(workDir, "back.txt");
    expectOk(await awsCli(server, ["s3", "cp", "s3://cli-basic/docs/readme.txt", back]));
    expect(await Bun.file(back).text()).toBe("hello from the aws cli\n");

    expectOk(await awsCli(server, ["s3", "rm", "--recursive", "s3://cli-basic/"]));
    expectOk(await awsCli(server, ["s3", "rb", "s3://cli-basic"]));
    const after = await awsCli(server, ["s3", "ls"]);
    expect(after.stdout).not.toContain("cli-basic");
  });

  test("s3api: bucket, object and version operations; NotImplemented for what Cairn lacks", async () => {
    // Each CLI run costs about a second of Python start-up, so independent
    // calls run together and the rest of the API is left to the SDK tests.
    const json = async (args: string[]): Promise<Record<string, unknown>> => {
      const result = await awsCli(server, ["s3api", ...args]);
      expectOk(result);
      return result.stdout.trim() === "" ? {} : (JSON.parse(result.stdout) as Record<string, unknown>);
    };
    await json(["create-bucket", "--bucket", "cli-api"]);
    const bodies = [join(workDir, "api-1.txt"), join(workDir, "api-2.txt")];
    writeFileSync(bodies[0]!, "first version, longer\n");
    writeFileSync(bodies[1]!, "second version\n");
    const [location] = await Promise.all([
      json(["get-bucket-location", "--bucket", "cli-api"]),
      json(["put-bucket-versioning", "--bucket", "cli-api", "--versioning-configuration", "Status=Enabled"]),
      json(["put-object", "--bucket", "cli-api", "--key", "plain.txt", "--body", bodies[1]!]),
    ]);
    // us-east-1 is the empty LocationConstraint, which the CLI prints as null.
    expect(location.LocationConstraint ?? null).toBeNull();
    const first = await json(["put-object", "--bucket", "cli-api", "--key", "versioned.txt", "--body", bodies[0]!]);
    const second = await json(["put-object", "--bucket", "cli-api", "--key", "versioned.txt", "--body", bodies[1]!]);
    expect(first.VersionId).toBeString();
    expect(second.VersionId).not.toBe(first.VersionId);

    const back = join(workDir, "api-back.txt");
    const [versions, fetched, page, ...unimplemented] = await Promise.all([
      json(["list-object-versions", "--bucket", "cli-api", "--prefix", "versioned"]),
      json(["get-object", "--bucket", "cli-api", "--key", "versioned.txt", "--version-id", String(first.VersionId), back]),
      json(["list-objects-v2", "--bucket", "cli-api", "--max-keys", "1"]),
      // What Cairn does not implement fails in the CLI as NotImplemented (a
      // 501 with an S3 error body), never as a success.
      awsCli(server, ["s3api", "get-bucket-encryption", "--bucket", "cli-api"]),
      awsCli(server, ["s3api", "get-object-attributes", "--bucket", "cli-api", "--key", "plain.txt", "--object-attributes", "ETag"]),
    ]);
    expect((versions.Versions as { VersionId: string }[]).map((version) => version.VersionId)).toEqual([String(second.VersionId), String(first.VersionId)]);
    expect(fetched.VersionId).toBe(first.VersionId);
    expect(fetched.ContentLength).toBe(22);
    expect(await Bun.file(back).text()).toBe("first version, longer\n");
    expect((page.Contents as { Key: string }[]).map((item) => item.Key)).toEqual(["plain.txt"]);
    expect(page.IsTruncated).toBe(true);
    for (const result of unimplemented) {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("(NotImplemented)");
    }

    const objects = [{ Key: "plain.txt" }, { Key: "versioned.txt", VersionId: first.VersionId }, { Key: "versioned.txt", VersionId: second.VersionId }];
    const deleted = await json(["delete-objects", "--bucket", "cli-api", "--delete", JSON.stringify({ Objects: objects })]);
    expect((deleted.Deleted as unknown[]).length).toBe(3);
    // Without a version id, plain.txt got a delete marker and kept its version.
    const left = await json(["list-object-versions", "--bucket", "cli-api"]);
    expect((left.DeleteMarkers as { Key: string }[]).map((marker) => marker.Key)).toEqual(["plain.txt"]);
    expect((left.Versions as { Key: string }[]).map((version) => version.Key)).toEqual(["plain.txt"]);
  });

  // Object tagging, GetBucketCors and bucket policies through the CLI are in
  // test/s3-tagging-cors.test.ts and test/s3-policies.test.ts.
  test("s3api: copy-object, bucket tagging, put-bucket-cors and every multipart step", async () => {
    const json = async (args: string[]): Promise<Record<string, unknown>> => {
      const result = await awsCli(server, ["s3api", ...args]);
      expectOk(result);
      return result.stdout.trim() === "" ? {} : (JSON.parse(result.stdout) as Record<string, unknown>);
    };
    await json(["create-bucket", "--bucket", "cli-six"]);
    const partBytes = [random.fork("part 1").bytes(5 * 1024 * 1024), random.fork("part 2").bytes(1000 + random.integer(1000))];
    const partFiles = partBytes.map((bytes, index) => {
      const path = join(workDir, `six-part-${index + 1}.bin`);
      writeFileSync(path, bytes);
      return path;
    });
    const source = join(workDir, "six-source.txt");
    writeFileSync(source, "copy me\n");
    const cors = JSON.stringify({ CORSRules: [{ AllowedOrigins: ["https://example.test"], AllowedMethods: ["GET", "PUT"], AllowedHeaders: ["*"], MaxAgeSeconds: 300 }] });
    const [, , , created, aborted] = await Promise.all([
      json(["put-object", "--bucket", "cli-six", "--key", "source.txt", "--body", source]),
      json(["put-bucket-tagging", "--bucket", "cli-six", "--tagging", "TagSet=[{Key=team,Value=storage}]"]),
      json(["put-bucket-cors", "--bucket", "cli-six", "--cors-configuration", cors]),
      json(["create-multipart-upload", "--bucket", "cli-six", "--key", "parts/assembled.bin", "--content-type", "application/x-test"]),
      json(["create-multipart-upload", "--bucket", "cli-six", "--key", "abandoned.bin"]),
    ]);
    const uploadId = String(created.UploadId);

    const [copied, bucketTags, bucketCors, part1, part2, uploads] = await Promise.all([
      json(["copy-object", "--bucket", "cli-six", "--key", "copied.txt", "--copy-source", "cli-six/source.txt", "--metadata-directive", "REPLACE", "--metadata", "origin=cli", "--content-type", "text/plain"]),
      json(["get-bucket-tagging", "--bucket", "cli-six"]),
      json(["get-bucket-cors", "--bucket", "cli-six"]),
      json(["upload-part", "--bucket", "cli-six", "--key", "parts/assembled.bin", "--upload-id", uploadId, "--part-number", "1", "--body", partFiles[0]!]),
      json(["upload-part", "--bucket", "cli-six", "--key", "parts/assembled.bin", "--upload-id", uploadId, "--part-number", "2", "--body", partFiles[1]!]),
      json(["list-multipart-uploads", "--bucket", "cli-six"]),
    ]);
    expect((copied.CopyObjectResult as { ETag: string }).ETag).toBe(`"${createHash("md5").update("copy me\n").digest("hex")}"`);
    expect(bucketTags.TagSet).toEqual([{ Key: "team", Value: "storage" }]);
    const rules = bucketCors.CORSRules as { AllowedOrigins: string[]; AllowedMethods: string[]; MaxAgeSeconds: number }[];
    expect(rules.map((rule) => [rule.AllowedOrigins, rule.AllowedMethods, rule.MaxAgeSeconds])).toEqual([[["https://example.test"], ["GET", "PUT"], 300]]);
    expect((uploads.Uploads as { Key: string }[]).map((upload) => upload.Key).sort()).toEqual(["abandoned.bin", "parts/assembled.bin"]);

    const [parts, copyHead] = await Promise.all([
      json(["list-parts", "--bucket", "cli-six", "--key", "parts/assembled.bin", "--upload-id", uploadId]),
      json(["head-object", "--bucket", "cli-six", "--key", "copied.txt"]),
      json(["abort-multipart-upload", "--bucket", "cli-six", "--key", "abandoned.bin", "--upload-id", String(aborted.UploadId)]),
    ]);
    expect((parts.Parts as { PartNumber: number; ETag: string; Size: number }[]).map((part) => `${part.PartNumber} ${part.ETag} ${part.Size}`)).toEqual([
      `1 ${String(part1.ETag)} ${partBytes[0]!.length}`,
      `2 ${String(part2.ETag)} ${partBytes[1]!.length}`,
    ]);
    expect(copyHead.Metadata).toEqual({ origin: "cli" });
    expect(copyHead.ContentType).toBe("text/plain");

    const completion = { Parts: [{ PartNumber: 1, ETag: part1.ETag }, { PartNumber: 2, ETag: part2.ETag }] };
    const completed = await json(["complete-multipart-upload", "--bucket", "cli-six", "--key", "parts/assembled.bin", "--upload-id", uploadId, "--multipart-upload", JSON.stringify(completion)]);
    expect(String(completed.ETag)).toMatch(/^"[0-9a-f]{32}-2"$/);
    const back = join(workDir, "six-assembled.back");
    const [fetched, remaining] = await Promise.all([
      json(["get-object", "--bucket", "cli-six", "--key", "parts/assembled.bin", back]),
      json(["list-multipart-uploads", "--bucket", "cli-six"]),
    ]);
    expect(fetched.ContentType).toBe("application/x-test");
    expect(sha256Hex(new Uint8Array(await Bun.file(back).arrayBuffer()))).toBe(sha256Hex(new Uint8Array([...partBytes[0]!, ...partBytes[1]!])));
    expect(remaining.Uploads ?? []).toEqual([]);
  });

  test("sync up and down with --delete, ls --recursive, rm --recursive", async () => {
    const tree = sampleTree(random.fork("sync"));
    const source = join(workDir, "sync-source");
    writeTree(source, tree);
    expectOk(await awsCli(server, ["s3", "mb", "s3://cli-sync"]));
    expectOk(await awsCli(server, ["s3", "sync", source, "s3://cli-sync/mirror"]));
    const keysOf = async (): Promise<string[]> => {
      const listed = await awsCli(server, ["s3", "ls", "--recursive", "s3://cli-sync/"]);
      expectOk(listed);
      // Lines are "date time size key"; keys may hold spaces, so take what follows the size.
      return listed.stdout
        .split("\n")
        .map((line) => /^\S+\s+\S+\s+\d+\s(.*)$/.exec(line)?.[1])
        .filter((key): key is string => key !== undefined)
        .sort();
    };
    expect(await keysOf()).toEqual([...tree.keys()].map((path) => `mirror/${path}`).sort());

    // A second sync with nothing changed uploads nothing.
    const idle = await awsCli(server, ["s3", "sync", source, "s3://cli-sync/mirror"]);
    expectOk(idle);
    expect(idle.stdout).not.toContain("upload:");

    // Remove one file, add one, grow one; --delete removes the server's copy.
    const changed = new Map(tree);
    rmSync(join(source, "sub/with space.txt"));
    changed.delete("sub/with space.txt");
    const added = new TextEncoder().encode("added after the first sync\n");
    changed.set("sub/deeper/still/added later.txt", added);
    const grown = new Uint8Array([...tree.get("top.txt")!, ...new TextEncoder().encode("one more line\n")]);
    changed.set("top.txt", grown);
    writeTree(source, new Map([["sub/deeper/still/added later.txt", added], ["top.txt", grown]]));
    const second = await awsCli(server, ["s3", "sync", "--delete", source, "s3://cli-sync/mirror"]);
    expectOk(second);
    expect(second.stdout).toContain("delete: s3://cli-sync/mirror/sub/with space.txt");
    expect(await keysOf()).toEqual([...changed.keys()].map((path) => `mirror/${path}`).sort());

    // Down into a directory with a stale file and an outdated copy of another
    // size (the CLI tells files apart by size and time, not by content).
    const target = join(workDir, "sync-target");
    mkdirSync(target);
    writeFileSync(join(target, "stale.txt"), "not on the server\n");
    writeFileSync(join(target, "top.txt"), tree.get("top.txt")!);
    expectOk(await awsCli(server, ["s3", "sync", "--delete", "s3://cli-sync/mirror", target]));
    expect(hashTree(target)).toEqual(hashContents(changed));

    const removed = await awsCli(server, ["s3", "rm", "--recursive", "s3://cli-sync/mirror/sub/"]);
    expectOk(removed);
    expect(removed.stdout).toContain("delete: s3://cli-sync/mirror/sub/ünïcödé ñame.txt");
    expect(await keysOf()).toEqual([...changed.keys()].filter((path) => !path.startsWith("sub/")).map((path) => `mirror/${path}`).sort());
  });

  test("a 1 GiB object streams up and back down intact with peak RSS under 300 MiB", async () => {
    const sizeBytes = 1024 * 1024 * 1024;
    const source = join(workDir, "big.bin");
    const fd = openSync(source, "w");
    const block = Buffer.alloc(8 * 1024 * 1024);
    for (let written = 0; written < sizeBytes; written += block.length) {
      randomFillSync(block);
      writeSync(fd, block);
    }
    closeSync(fd);
    const sourceSha = await sha256OfFile(source);

    // A single PUT and a single GET: multipart upload is issue 6, and one
    // 1 GiB stream each way is the harder test of bounded memory.
    const config = join(workDir, "aws-config");
    writeFileSync(config, "[default]\ns3 =\n  multipart_threshold = 5GB\n  max_concurrent_requests = 1\n");
    const env = { AWS_CONFIG_FILE: config };
    expectOk(await awsCli(server, ["s3", "mb", "s3://cli-big"], env));
    expectOk(await awsCli(server, ["s3", "cp", source, "s3://cli-big/big.bin"], env));
    const afterUpload = server.peakRssBytes();

    const target = join(workDir, "big.back");
    expectOk(await awsCli(server, ["s3", "cp", "s3://cli-big/big.bin", target], env));
    const targetSha = await sha256OfFile(target);
    const peak = server.peakRssBytes();
    console.log(
      `1 GiB round trip: server peak RSS ${(afterUpload / 1048576).toFixed(1)} MiB after upload, ${(peak / 1048576).toFixed(1)} MiB after download`,
    );
    expect(targetSha).toBe(sourceSha);
    expect(peak).toBeLessThan(300 * 1024 * 1024);
    rmSync(source);
    rmSync(target);
  });
});
