/**
 * A TCP relay that loses the first response: for tests of client retries
 * (a PUT processed by the server whose reply never reaches the client).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface DroppingRelay {
  readonly port: number;
  droppedResponses(): number;
  stop(): Promise<void>;
}

/**
 * A TCP relay to the server. On the first connection it forwards the request
 * (and any interim 1xx answer) but, as soon as the server's final answer
 * starts, resets the client connection instead of forwarding it: the PUT was
 * processed, the client never learns it. Later connections are relayed both
 * ways.
 */
export async function startDroppingRelay(upstreamPort: number): Promise<DroppingRelay> {
  let connections = 0;
  let dropped = 0;
  const open = new Set<Socket>();
  const relay: Server = createServer((client) => {
    connections += 1;
    const dropThisOne = connections === 1;
    const upstream = connect(upstreamPort, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    client.on("close", () => open.delete(client));
    upstream.on("close", () => open.delete(upstream));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream);
    if (dropThisOne) {
      let pending = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        pending = Buffer.concat([pending, chunk]);
        // Interim 1xx answers (100 Continue to an `Expect: 100-continue` upload, as botocore sends)
        // go through: the client must send its body before the server can process the PUT.
        for (;;) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          if (!/^HTTP\/1\.1 1\d\d /.test(pending.subarray(0, 16).toString("latin1"))) break;
          client.write(pending.subarray(0, end + 4));
          pending = pending.subarray(end + 4);
        }
        // The final answer: the PUT was processed; lose it.
        upstream.off("data", onData);
        dropped += 1;
        client.resetAndDestroy();
        upstream.destroy();
      };
      upstream.on("data", onData);
    } else {
      upstream.pipe(client);
    }
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address();
  if (address === null || typeof address === "string") throw new Error("relay has no port");
  return {
    port: address.port,
    droppedResponses: () => dropped,
    stop: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}
