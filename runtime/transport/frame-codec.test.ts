import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { seededRandom, randomSeed } from "../random.ts";
import {
  FrameDecoder,
  defaultFrameLimits,
  encodeControlFrame,
  encodeMessageFrames,
  frameTypes,
  frameVersion,
  isFrameError,
  partExtensionType,
  type DecodedFrame,
  type MessageEnvelope,
} from "./frame-codec.ts";

const seed = Number(process.env["CAIRN_TEST_SEED"] ?? randomSeed());
console.log(`frame-codec.test.ts seed ${seed} (replay: CAIRN_TEST_SEED=${seed} bun test runtime/transport/frame-codec.test.ts)`);
const random = seededRandom(seed);

const to = { nodeId: "node-b", incarnation: 3, path: "disks/disk-0" };

function envelope(body: unknown, corr = 7): MessageEnvelope {
  return { to, from: "node-a", kind: "AppendShard", epoch: 4, corr, body };
}

function decodeAll(frames: readonly Uint8Array[], decoder = new FrameDecoder()): DecodedFrame {
  let result: ReturnType<FrameDecoder["push"]>;
  for (const [index, frame] of frames.entries()) {
    result = decoder.push(frame);
    if (index < frames.length - 1) expect(result).toBeUndefined();
  }
  if (result === undefined || isFrameError(result)) throw new Error(`not decoded: ${JSON.stringify(result)}`);
  return result;
}

describe("frame codec", () => {
  test("a message with several large arrays, an empty one, small ones and nesting round-trips; large arrays travel as their own frames", () => {
    const big1 = random.bytes(4 * 1024 * 1024);
    const big2 = random.bytes(70_000);
    const big3 = random.bytes(defaultFrameLimits.partBytesMin);
    const small = random.bytes(defaultFrameLimits.partBytesMin - 1);
    const body = {
      kind: "AppendShard",
      epoch: 4,
      shardKey: "bucket/key/0",
      bytes: big1,
      empty: new Uint8Array(0),
      small,
      nested: { list: [big2, { deeper: big3 }, 1, "two", null], flag: true },
      replyTo: { nodeId: "node-a", incarnation: 1, path: "tmp/ask-7" },
    };
    const frames = encodeMessageFrames(envelope(body));
    expect(frames.length).toBe(4);
    // The part frames are the caller's arrays themselves: no copy, no base64.
    expect(frames[1]).toBe(big1);
    expect(frames[2]).toBe(big2);
    expect(frames[3]).toBe(big3);
    // The head frame stays small: the shard bytes are not inside it.
    expect(frames[0]!.byteLength).toBeLessThan(2_000);

    const decoded = decodeAll(frames);
    expect(decoded.type).toBe("message");
    expect(decoded.body["to"]).toEqual(to);
    expect(decoded.body["from"]).toBe("node-a");
    expect(decoded.body["kind"]).toBe("AppendShard");
    expect(decoded.body["epoch"]).toBe(4);
    expect(decoded.body["corr"]).toBe(7);
    const got = decoded.body["body"] as typeof body;
    expect(Buffer.compare(got.bytes, big1)).toBe(0);
    expect(got.empty.byteLength).toBe(0);
    expect(got.empty).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(got.small, small)).toBe(0);
    expect(Buffer.compare(got.nested.list[0] as Uint8Array, big2)).toBe(0);
    expect(Buffer.compare((got.nested.list[1] as { deeper: Uint8Array }).deeper, big3)).toBe(0);
    expect(got.nested.list.slice(2)).toEqual([1, "two", null]);
    expect(got.nested.flag).toBe(true);
    expect(got.replyTo).toEqual(body.replyTo);
  });

  test("a message without large arrays is one head frame, and the caller's object is not changed", () => {
    const body = { kind: "StatDisk", replyTo: { nodeId: "node-a", incarnation: 1, path: "tmp/ask-1" }, bytes: new Uint8Array([1, 2, 3]) };
    const frames = encodeMessageFrames(envelope(body, 0));
    expect(frames.length).toBe(1);
    expect(decodeAll(frames).body["body"]).toEqual(body);
    const withPart = { kind: "AppendShard", bytes: random.bytes(5_000) };
    const original = withPart.bytes;
    encodeMessageFrames(envelope(withPart));
    expect(withPart.bytes).toBe(original);
  });

  test("byte layout: version, type, part count and lengths, then MessagePack", () => {
    const part1 = random.bytes(2_000);
    const part2 = random.bytes(300_000);
    const [head] = encodeMessageFrames(envelope({ a: part1, b: [part2] }));
    const view = new DataView(head!.buffer, head!.byteOffset, head!.byteLength);
    expect(head![0]).toBe(frameVersion);
    expect(frameVersion).toBe(1);
    expect(head![1]).toBe(frameTypes.message);
    expect(view.getUint16(2)).toBe(2);
    expect(view.getUint32(4)).toBe(2_000);
    expect(view.getUint32(8)).toBe(300_000);
    const unpacked = new Packr({ useRecords: false }).unpack(head!.subarray(12)) as Record<string, unknown>;
    expect(unpacked["from"]).toBe("node-a");
    expect(unpacked["corr"]).toBe(7);

    const ping = encodeControlFrame("ping", { sequence: 9 });
    expect([...ping.subarray(0, 4)]).toEqual([1, frameTypes.ping, 0, 0]);
    expect(new Packr({ useRecords: false }).unpack(ping.subarray(4))).toEqual({ sequence: 9 });
    // The part placeholder is a MessagePack extension, fixext 2 of our type, carrying the index.
    const packed = head!.subarray(12);
    expect(packed.includes(partExtensionType)).toBe(true);
  });

  test("frames split across pushes in order; several messages on one decoder", () => {
    const decoder = new FrameDecoder();
    for (let round = 0; round < 20; round += 1) {
      const count = random.integer(3);
      const parts = Array.from({ length: count }, () => random.bytes(1024 + random.integer(10_000)));
      const frames = encodeMessageFrames(envelope({ kind: "X", parts }, round + 1));
      const decoded = decodeAll(frames, decoder);
      expect(decoded.body["corr"]).toBe(round + 1);
      const got = (decoded.body["body"] as { parts: Uint8Array[] }).parts;
      expect(got.length).toBe(count);
      got.forEach((part, index) => expect(Buffer.compare(part, parts[index]!)).toBe(0));
      expect(decoder.awaitingPartCount()).toBe(0);
    }
  });

  test("corrupt, truncated and oversized frames are refused with a reason, and the decoder stays failed", () => {
    const refuse = (frames: Uint8Array[], limits = defaultFrameLimits): { frameError: string; oversized: boolean } => {
      const decoder = new FrameDecoder(limits);
      let result: ReturnType<FrameDecoder["push"]>;
      for (const frame of frames) {
        result = decoder.push(frame);
        if (result !== undefined) break;
      }
      if (!isFrameError(result)) throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
      // Once failed, always failed: nothing after a bad frame is trusted.
      expect(isFrameError(decoder.push(encodeControlFrame("ping", { sequence: 1 })))).toBe(true);
      return result;
    };
    const good = encodeMessageFrames(envelope({ kind: "AppendShard", bytes: random.bytes(4_096) }));
    const head = good[0]!;

    expect(refuse([new Uint8Array([1, 5])]).frameError).toContain("shorter than its header");
    const badVersion = head.slice();
    badVersion[0] = 99;
    expect(refuse([badVersion]).frameError).toContain("version 99");
    const badType = head.slice();
    badType[1] = 200;
    expect(refuse([badType]).frameError).toContain("unknown frame type");
    expect(refuse([head.slice(0, 6)]).frameError).toContain("truncated");
    expect(refuse([head, random.bytes(4_095)]).frameError).toContain("announced 4096");
    const garbage = head.slice();
    garbage.fill(0xc1, 8); // 0xc1 is never used in MessagePack
    expect(refuse([garbage, good[1]!]).frameError).toContain("MessagePack");
    const ghost = head.slice();
    new DataView(ghost.buffer).setUint16(2, 2);
    expect(refuse([ghost]).frameError).toMatch(/truncated|MessagePack|part/);
    const controlWithParts = encodeControlFrame("ping", { sequence: 1 }).slice();
    controlWithParts[3] = 1;
    expect(refuse([controlWithParts]).frameError).toContain("announces 1 parts");
    const oversizedPart = head.slice();
    new DataView(oversizedPart.buffer).setUint32(4, defaultFrameLimits.partBytesMax + 1);
    expect(refuse([oversizedPart])).toMatchObject({ oversized: true });
    expect(refuse([new Uint8Array(defaultFrameLimits.headFrameBytesMax + 1)])).toMatchObject({ oversized: true });
    expect(refuse([random.bytes(64)]).oversized).toBe(false);
    const noTo = encodeControlFrame("ping", { sequence: 1 }).slice();
    noTo[1] = frameTypes.message;
    expect(refuse([noTo]).frameError).toContain("without `to`");
  });

  test("random garbage never throws out of the decoder", () => {
    for (let round = 0; round < 2_000; round += 1) {
      const decoder = new FrameDecoder();
      const frame = random.bytes(random.integer(64));
      if (frame.length > 0) frame[0] = 1;
      if (frame.length > 1) frame[1] = 1 + random.integer(8);
      expect(() => decoder.push(frame)).not.toThrow();
    }
  });

  test("encoding refuses what breaks a limit", () => {
    const limits = { ...defaultFrameLimits, partBytesMax: 10_000, partCountMax: 2 };
    expect(() => encodeMessageFrames(envelope({ bytes: new Uint8Array(10_001) }), limits)).toThrow(RangeError);
    expect(() => encodeMessageFrames(envelope({ list: [new Uint8Array(2_000), new Uint8Array(2_000), new Uint8Array(2_000)] }), limits)).toThrow(RangeError);
    let deep: unknown = { bytes: new Uint8Array(2_000) };
    for (let depth = 0; depth < 40; depth += 1) deep = { deep };
    expect(() => encodeMessageFrames(envelope(deep))).toThrow(RangeError);
  });
});
