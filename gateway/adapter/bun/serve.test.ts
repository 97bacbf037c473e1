/**
 * The Bun.serve adapter: raw URL handling, streaming in both directions,
 * graceful stop, and a client that goes away mid-upload.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import type { S3Handler, S3Request } from "../../http.ts";
import { signRequest } from "../../sigv4/index.ts";
import type { PutSettlement } from "../../testing/memory-backend.ts";
import { startTestGateway, testCredentials, testRegion, type TestGateway } from "../../testing/test-gateway.ts";
import { systemClock } from "../../../runtime/index.ts";
import { serveBun, splitRawUrl } from "./serve.ts";

const clock = systemClock();

/** Yields to the event loop so I/O can happen; used to let things progress, never to wait for a time. */
function turn(): Promise<void> {
  return clock.sleep(0);
}

/** Waits for `condition` for at most `turnsMax` event-loop turns. */
async function waitFor(condition: () => boolean, turnsMax = 20_000): Promise<void> {
  for (let index = 0; index < turnsMax; index += 1) {
    if (condition()) return;
    await turn();
  }
  throw new Error("condition not reached");
}

/** Sends raw bytes and collects everything the server answers until it closes. */
function rawExchange(port: number, request: string | Uint8Array, options: { end: boolean }): { socket: net.Socket; reply: Promise<string> } {
  const socket = net.connect(port, "127.0.0.1");
  const reply = new Promise<string>((resolve) => {
    let received = "";
    socket.on("connect", () => {
      socket.write(request);
      if (options.end) socket.end();
    });
    socket.on("data", (data) => {
      received += data.toString("latin1");
    });
    socket.on("close", () => resolve(received));
    socket.on("error", () => undefined);
  });
  return { socket, reply };
}

describe("splitRawUrl", () => {
  test("keeps the path and query exactly as written", () => {
    expect(splitRawUrl("http://h:1/b/a%2Fb//c?x=%2F&y")).toEqual({ rawPath: "/b/a%2Fb//c", rawQuery: "x=%2F&y" });
    expect(splitRawUrl("http://h/")).toEqual({ rawPath: "/", rawQuery: "" });
    expect(splitRawUrl("http://h")).toEqual({ rawPath: "/", rawQuery: "" });
    expect(splitRawUrl("http://h/k?")).toEqual({ rawPath: "/k", rawQuery: "" });
    expect(splitRawUrl("http://h/k?a=b?c")).toEqual({ rawPath: "/k", rawQuery: "a=b?c" });
  });
});

describe("serveBun with a bare handler", () => {
  test("passes raw path, query, lower-case headers, body and remote address", async () => {
    let seen: { request: S3Request; body: string } | undefined;
    const handler: S3Handler = async (request) => {
      let body = "";
      for await (const chunk of request.body) body += new TextDecoder().decode(chunk);
      seen = { request, body };
      return { status: 200, headers: { "x-test": "yes" }, body: "ok" };
    };
    const server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/b/a%20b%2F/?prefix=a%2Fb&uploads`, {
        method: "PUT",
        headers: { "X-Amz-Meta-Thing": "v" },
        body: "payload",
      });
      expect(await response.text()).toBe("ok");
      expect(response.headers.get("x-test")).toBe("yes");
      expect(seen?.request.rawPath).toBe("/b/a%20b%2F/");
      expect(seen?.request.rawQuery).toBe("prefix=a%2Fb&uploads");
      expect(seen?.request.method).toBe("PUT");
      expect(seen?.request.headers.get("x-amz-meta-thing")).toBe("v");
      expect(seen?.body).toBe("payload");
      expect(seen?.request.remoteAddress).toBe("127.0.0.1");
    } finally {
      await server.stop();
    }
  });

  test("streamed bodies keep an explicit Content-Length; HEAD keeps it without a body", async () => {
    const handler: S3Handler = async (request) => {
      async function* chunks(): AsyncGenerator<Uint8Array> {
        yield new TextEncoder().encode("abc");
        yield new Uint8Array(0);
        yield new TextEncoder().encode("defg");
      }
      if (request.method === "HEAD") return { status: 200, headers: { "content-length": "7" } };
      return { status: 200, headers: { "content-length": "7" }, body: chunks() };
    };
    const server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
    try {
      const { reply } = rawExchange(server.port, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", { end: false });
      const text = await reply;
      expect(text).toMatch(/content-length: 7\r\n/i);
      expect(text).not.toMatch(/transfer-encoding/i);
      expect(text.endsWith("\r\n\r\nabcdefg")).toBe(true);
      const head = rawExchange(server.port, "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", { end: false });
      const headText = await head.reply;
      expect(headText).toMatch(/content-length: 7\r\n/i);
      expect(headText.endsWith("\r\n\r\n")).toBe(true);
    } finally {
      await server.stop();
    }
  });

  test("response bodies are pulled as the client reads (a paused client stops the producer)", async () => {
    const chunkBytes = 64 * 1024;
    let produced = 0;
    const handler: S3Handler = async () => {
      async function* endless(): AsyncGenerator<Uint8Array> {
        for (;;) {
          produced += 1;
          yield new Uint8Array(chunkBytes);
        }
      }
      return { status: 200, headers: {}, body: endless() };
    };
    const server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
    const { socket } = rawExchange(server.port, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", { end: false });
    try {
      socket.pause();
      await waitFor(() => produced > 0);
      // Let the server run for many turns: with a push-based body it would
      // produce without limit; pulled, it stops once the socket buffers fill.
      for (let index = 0; index < 500; index += 1) await turn();
      const bufferedBytesMax = 64 * 1024 * 1024;
      expect(produced * chunkBytes).toBeLessThan(bufferedBytesMax);
    } finally {
      socket.destroy();
      await server.stop();
    }
  });

  test("stop() refuses new connections and resolves only after in-flight responses finish", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const handler: S3Handler = async () => {
      started = true;
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield new TextEncoder().encode("first;");
        await gate;
        yield new TextEncoder().encode("second");
      }
      return { status: 200, headers: { "content-length": "12" }, body: slow() };
    };
    const server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
    const { reply } = rawExchange(server.port, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", { end: false });
    await waitFor(() => started);
    let stopped = false;
    const stopping = server.stop().then(() => {
      stopped = true;
    });
    // A new connection is refused once stop() has taken effect.
    let refused = false;
    for (let attempt = 0; attempt < 100 && !refused; attempt += 1) {
      refused = await new Promise<boolean>((resolve) => {
        const probe = net.connect(server.port, "127.0.0.1");
        probe.on("connect", () => {
          probe.destroy();
          resolve(false);
        });
        probe.on("error", () => resolve(true));
      });
    }
    expect(refused).toBe(true);
    expect(stopped).toBe(false);
    release();
    const text = await reply;
    expect(text.endsWith("first;second")).toBe(true);
    await stopping;
    expect(stopped).toBe(true);
  });

  test("a handler that throws gets a 500 and the server keeps serving", async () => {
    let calls = 0;
    const handler: S3Handler = async () => {
      calls += 1;
      if (calls === 1) throw new Error("core bug");
      return { status: 200, headers: {}, body: "fine" };
    };
    const originalError = console.error;
    console.error = () => undefined;
    const server = await serveBun({ handler, hostname: "127.0.0.1", port: 0 });
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(500);
      expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("fine");
    } finally {
      console.error = originalError;
      await server.stop();
    }
  });
});

describe("a client that goes away mid-upload", () => {
  let gateway: TestGateway;
  const settlements: PutSettlement[] = [];
  const started: string[] = [];

  beforeAll(async () => {
    gateway = await startTestGateway();
    gateway.backend.onPutSettled((settlement) => settlements.push(settlement));
    gateway.backend.onPutStarted((key) => started.push(key));
    await gateway.client.send(new CreateBucketCommand({ Bucket: "uploads" }));
  });

  afterAll(async () => {
    await gateway.stop();
  });

  function signedHead(key: string, contentLengthBytes: number): string {
    const signed = signRequest({
      method: "PUT",
      rawPath: `/uploads/${key}`,
      headers: { host: `127.0.0.1:${gateway.port}`, "content-length": String(contentLengthBytes) },
      credentials: testCredentials,
      region: testRegion,
      nowMs: clock.nowMs(),
    });
    const lines = [`PUT /uploads/${key} HTTP/1.1`, ...[...signed.headers].map(([name, value]) => `${name}: ${value}`)];
    return `${lines.join("\r\n")}\r\n\r\n`;
  }

  for (const how of ["half-closes", "resets"] as const) {
    test(`stores nothing when the client ${how} after half the body`, async () => {
      const key = `short-${how}`;
      const { socket, reply } = rawExchange(gateway.port, signedHead(key, 100) + "x".repeat(50), { end: how === "half-closes" });
      if (how === "resets") {
        // Reset only once the upload is under way in the backend.
        await waitFor(() => started.includes(key));
        socket.resetAndDestroy();
      }
      await waitFor(() => settlements.some((settlement) => settlement.key === key));
      const settlement = settlements.find((entry) => entry.key === key)!;
      expect(settlement.stored).toBe(false);
      expect(gateway.backend.storedBytes("uploads", key)).toBeUndefined();
      const text = await reply;
      // The connection is gone, so either nothing or an IncompleteBody reply arrives.
      if (text !== "") expect(text).toContain("IncompleteBody");
      await waitFor(() => gateway.logs.some((entry) => entry.path === `/uploads/${key}`));
      const logged = gateway.logs.find((entry) => entry.path === `/uploads/${key}`);
      expect(logged?.status).toBe(400);
      expect(logged?.code).toBe("IncompleteBody");
    });
  }

  test("a complete raw upload is stored (the control case)", async () => {
    const { reply } = rawExchange(gateway.port, signedHead("complete", 10) + "0123456789", { end: true });
    const text = await reply;
    expect(text.startsWith("HTTP/1.1 200")).toBe(true);
    expect(gateway.backend.storedBytes("uploads", "complete")).toEqual(new TextEncoder().encode("0123456789"));
  });
});
