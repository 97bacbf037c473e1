/**
 * The server process's life: credentials generated on first start, data kept
 * across restarts, and a clean stop on SIGTERM that lets an in-flight PUT
 * finish.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { GetObjectCommand, CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { sdkClient } from "./support/clients.ts";
import { startServer } from "./support/server.ts";

const dataDirs: string[] = [];
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cairn-lifecycle-"));
  dataDirs.push(dir);
  return dir;
}

describe("server lifecycle", () => {
  test("without CAIRN_ACCESS_KEY, credentials are generated once, stored 0600 and printed with an AWS CLI line", async () => {
    const dataDir = newDataDir();
    const first = await startServer({ dataDir, env: { CAIRN_ACCESS_KEY: "", CAIRN_SECRET_KEY: "" } });
    expect(first.output()).toContain("generated root credentials");
    expect(first.output()).toContain(`AWS_ACCESS_KEY_ID=${first.accessKeyId}`);
    expect(first.output()).toContain(`aws --endpoint-url ${first.endpoint} s3 ls`);
    expect(statSync(join(dataDir, "credentials.json")).mode & 0o777).toBe(0o600);
    const s3 = sdkClient(first);
    await s3.send(new CreateBucketCommand({ Bucket: "generated" }));
    s3.destroy();
    expect(await first.stop()).toBe(0);

    const second = await startServer({ dataDir, env: { CAIRN_ACCESS_KEY: "", CAIRN_SECRET_KEY: "" } });
    expect(second.output()).not.toContain("generated root credentials");
    expect(second.accessKeyId).toBe(first.accessKeyId);
    await second.dispose();
  });

  test("objects survive a restart, and a SIGKILL too", async () => {
    const dataDir = newDataDir();
    const first = await startServer({ dataDir });
    const s3 = sdkClient(first);
    await s3.send(new CreateBucketCommand({ Bucket: "durable" }));
    await s3.send(new PutObjectCommand({ Bucket: "durable", Key: "a", Body: "acknowledged before SIGKILL" }));
    s3.destroy();
    // No clean shutdown: an acknowledged PUT must already be durable.
    await first.stop("SIGKILL");

    const second = await startServer({ dataDir });
    const again = sdkClient(second);
    const got = await again.send(new GetObjectCommand({ Bucket: "durable", Key: "a" }));
    expect(await got.Body!.transformToString()).toBe("acknowledged before SIGKILL");
    again.destroy();
    expect(await second.stop()).toBe(0);
  });

  test("SIGTERM lets an in-flight PUT finish, then the process exits 0", async () => {
    const dataDir = newDataDir();
    const server = await startServer({ dataDir });
    const s3 = sdkClient(server);
    await s3.send(new CreateBucketCommand({ Bucket: "inflight" }));

    const piecesTotal = 64;
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let releaseRest: () => void = () => undefined;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    let halfSent: () => void = () => undefined;
    const half = new Promise<void>((resolve) => (halfSent = resolve));
    // A body that stops half-way until the test has sent SIGTERM.
    const body = Readable.from(
      (async function* () {
        for (; sent < piecesTotal; sent += 1) {
          if (sent === piecesTotal / 2) {
            halfSent();
            await rest;
          }
          yield piece;
        }
      })(),
    );
    const put = s3.send(
      new PutObjectCommand({ Bucket: "inflight", Key: "slow", Body: body, ContentLength: piece.length * piecesTotal }),
    );
    await half;
    server.child.kill("SIGTERM");
    // Wait until the server says it is stopping before sending the rest.
    for (let attempt = 0; attempt < 500 && !server.output().includes("SIGTERM received"); attempt += 1) {
      await Bun.sleep(10);
    }
    expect(server.output()).toContain("SIGTERM received");
    releaseRest();
    const reply = await put;
    expect(reply.$metadata.httpStatusCode).toBe(200);
    s3.destroy();
    expect(await server.stop()).toBe(0);
    expect(server.output()).toContain("stopped cleanly");

    const again = await startServer({ dataDir });
    const check = sdkClient(again);
    const got = await check.send(new GetObjectCommand({ Bucket: "inflight", Key: "slow" }));
    expect((await got.Body!.transformToByteArray()).length).toBe(piece.length * piecesTotal);
    check.destroy();
    await again.dispose();
  });

  test("a configuration the data directory cannot serve is refused with a clear message, and the data stays", async () => {
    const dataDir = newDataDir();
    const first = await startServer({ dataDir });
    const s3 = sdkClient(first);
    await s3.send(new CreateBucketCommand({ Bucket: "kept" }));
    await s3.send(new PutObjectCommand({ Bucket: "kept", Key: "k", Body: "still here" }));
    s3.destroy();
    expect(await first.stop()).toBe(0);

    const refusal = async (env: Record<string, string>): Promise<string> =>
      startServer({ dataDir, env }).then(
        async (server) => {
          await server.stop();
          return "started";
        },
        (error: Error) => error.message,
      );
    const moreDisks = await refusal({ CAIRN_DISKS: "7" });
    expect(moreDisks).toContain("server exited with 2");
    expect(moreDisks).toContain("cairn: cannot serve");
    expect(moreDisks).toContain("adding or removing disks needs backfill");
    const badClasses = await refusal({ CAIRN_STORAGE_CLASSES: "STANDARD=6+3" });
    expect(badClasses).toContain("server exited with 2");
    expect(badClasses).toContain("needs 9 disks, there are 6");
    expect(await refusal({ CAIRN_STORAGE_CLASSES: "STANDARD=four" })).toContain("is not NAME=K+M");

    const again = await startServer({ dataDir });
    const check = sdkClient(again);
    const got = await check.send(new GetObjectCommand({ Bucket: "kept", Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("still here");
    check.destroy();
    await again.dispose();
  });
});
