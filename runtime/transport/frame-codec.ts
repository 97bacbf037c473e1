/**
 * The node-to-node wire format. Every WebSocket message between two Cairn
 * nodes is binary and is either a *head* frame or a *part* frame.
 *
 * Head frame (format version 1):
 *
 * | offset   | bytes | field                                                        |
 * |----------|-------|--------------------------------------------------------------|
 * | 0        | 1     | format version, 1                                            |
 * | 1        | 1     | frame type (`frameTypes`; ids are never reused)              |
 * | 2        | 2     | part count `n`, big-endian; non-zero only for `message`      |
 * | 4        | 4 × n | byte length of each part, big-endian uint32, in order        |
 * | 4 + 4n   | …     | the body, MessagePack (`msgpackr`, plain maps, no records)   |
 *
 * Part frame: exactly the announced number of raw bytes, no header. The `n`
 * part frames of a message follow its head frame at once, in order (one
 * socket carries one sender's frames in send order, and a sender writes a
 * message's frames back to back), so position alone identifies them.
 *
 * A part is a `Uint8Array` of at least `partBytesMin` found anywhere in a
 * message body (`AppendShard.bytes`, `ReadShardReply.bytes`). In the
 * MessagePack body it is replaced by the extension value
 * `ext(partExtensionType, uint16 index)` and on decode the part frame's bytes
 * are put back at that place. Shard bytes are therefore never base64'd and
 * never copied into the MessagePack body; the sender hands the caller's array
 * to the socket as it is.
 *
 * Bodies by frame type (all maps):
 *
 * | type | name          | body                                                              |
 * |------|---------------|-------------------------------------------------------------------|
 * | 1    | hello         | `{ nodeId, incarnation, nonce: bin 32, peer }` (dialer → acceptor) |
 * | 2    | challenge     | `{ nodeId, incarnation, nonce: bin 32, proof: bin 32 }`             |
 * | 3    | proof         | `{ proof: bin 32 }` (dialer → acceptor)                            |
 * | 4    | welcome       | `{}`: the acceptor adopted this socket as the pair's link          |
 * | 5    | message       | `{ to, from, kind, epoch, corr, body, requestId? }`                |
 * | 6    | undeliverable | `{ to, kind, corr, reason }`                                       |
 * | 7    | ping          | `{ sequence }`                                                     |
 * | 8    | pong          | `{ sequence }`                                                     |
 *
 * `to` is an actor ref `{ nodeId, incarnation, path }`; `from` the sender's
 * node id; `kind` and `epoch` are copied from the body (when it has them) so
 * a receiver can log and refuse without looking inside; `corr` is the
 * sender's ask number (0 for a plain tell). `requestId`, present only when
 * the message was sent while serving an S3 request, is that request's
 * `x-amz-request-id` (a string of at most `requestIdCharsMax` characters,
 * runtime/log.ts): the receiving host handles the message in the same request
 * context, so logs on every node name the request. It was added without a
 * version change: a frame without it decodes as before, and a reader that
 * does not know it ignores it (bodies are maps read field by field).
 */
import { Packr, addExtension } from "msgpackr";
import { isRequestId, requestIdCharsMax } from "../log.ts";

/** The format version this code writes. Readers accept every version in `frameVersionsRead`. */
export const frameVersion = 1;
const frameVersionsRead: ReadonlySet<number> = new Set([1]);

/** Wire ids of head frame types. Add, never reuse. */
export const frameTypes = {
  hello: 1,
  challenge: 2,
  proof: 3,
  welcome: 4,
  message: 5,
  undeliverable: 6,
  ping: 7,
  pong: 8,
} as const;

export type FrameTypeName = keyof typeof frameTypes;

const frameTypeNames = new Map<number, FrameTypeName>(
  Object.entries(frameTypes).map(([name, id]) => [id, name as FrameTypeName]),
);

/** Wire limits of one connection. Every frame beyond them closes the socket. */
export interface FrameLimits {
  /** Largest head frame, header and MessagePack body together. */
  readonly headFrameBytesMax: number;
  /** Largest single part. Shards are at most 8 MiB (actors/disk `shardBytesMax`). */
  readonly partBytesMax: number;
  /** Most parts in one message. */
  readonly partCountMax: number;
  /** `Uint8Array`s at least this long travel as parts; shorter ones stay inline. */
  readonly partBytesMin: number;
  /** How deep a message body may nest; bounds the walks over it. */
  readonly bodyDepthMax: number;
}

export const defaultFrameLimits: FrameLimits = {
  headFrameBytesMax: 1024 * 1024,
  partBytesMax: 16 * 1024 * 1024,
  partCountMax: 256,
  partBytesMin: 1024,
  bodyDepthMax: 32,
};

const headerBytes = 4;

/** MessagePack extension type of a part placeholder (application types are 0..127). */
export const partExtensionType = 0x50;

/** Placeholder for a part inside a MessagePack body. */
class PartReference {
  constructor(readonly index: number) {}
}

// The extension registry is msgpackr's global one. Only this file creates
// PartReference values, so no other packer in the process meets one; a
// stored value that somehow held extension 0x50 would decode to a
// PartReference and fail its own schema check.
addExtension({
  Class: PartReference,
  type: partExtensionType,
  pack(reference: PartReference): Uint8Array {
    return new Uint8Array([reference.index >> 8, reference.index & 0xff]);
  },
  unpack(bytes: Uint8Array): PartReference {
    if (bytes.length !== 2) throw new Error("part reference must be 2 bytes");
    return new PartReference((bytes[0]! << 8) | bytes[1]!);
  },
});

// Records (msgpackr's structure extension) would make a frame depend on
// state shared between the two ends; plain maps keep each frame
// self-describing.
const packer = new Packr({ useRecords: false, mapsAsObjects: true });

/** A message frame's envelope, as ARCHITECTURE §8 names its fields. */
export interface MessageEnvelope {
  readonly to: { readonly nodeId: string; readonly incarnation: number; readonly path: string };
  readonly from: string;
  readonly kind: string | undefined;
  readonly epoch: number | undefined;
  readonly corr: number;
  readonly body: unknown;
  /** The S3 request the message serves, when it serves one; omitted from the frame otherwise. */
  readonly requestId?: string | undefined;
}

/** A decoded head frame (with its parts put back, for a message). */
export interface DecodedFrame {
  readonly type: FrameTypeName;
  readonly version: number;
  readonly body: Record<string, unknown>;
}

/** Why a frame was refused. The socket that carried it must be closed. */
export interface FrameError {
  readonly frameError: string;
  /** True when the frame was too large (close code 1009), else a protocol error. */
  readonly oversized: boolean;
}

export function isFrameError(value: unknown): value is FrameError {
  return typeof value === "object" && value !== null && typeof (value as { frameError?: unknown }).frameError === "string";
}

/**
 * Encodes a control frame (any type but `message`). Returns one head frame.
 * Throws (a bug) if the body holds a part-sized array: control bodies are small.
 */
export function encodeControlFrame(type: Exclude<FrameTypeName, "message">, body: Record<string, unknown>): Uint8Array {
  return encodeHead(type, [], packer.pack(body));
}

/**
 * Encodes a message as its head frame followed by one part frame per large
 * `Uint8Array` in `envelope.body`. The part frames are the caller's arrays
 * themselves (no copy): the caller must not change them until sent.
 */
export function encodeMessageFrames(envelope: MessageEnvelope, limits: FrameLimits = defaultFrameLimits): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const body = hasPart(envelope.body, limits, 0) ? extractParts(envelope.body, parts, limits, 0) : envelope.body;
  if (parts.length > limits.partCountMax) throw new RangeError(`message has ${parts.length} parts, more than ${limits.partCountMax}`);
  for (const part of parts) {
    if (part.byteLength > limits.partBytesMax) throw new RangeError(`part of ${part.byteLength} bytes exceeds ${limits.partBytesMax}`);
  }
  const packed = packer.pack({
    to: { nodeId: envelope.to.nodeId, incarnation: envelope.to.incarnation, path: envelope.to.path },
    from: envelope.from,
    kind: envelope.kind,
    epoch: envelope.epoch,
    corr: envelope.corr,
    body,
    ...(envelope.requestId === undefined ? {} : { requestId: envelope.requestId }),
  });
  const head = encodeHead("message", parts, packed);
  if (head.byteLength > limits.headFrameBytesMax) throw new RangeError(`head frame of ${head.byteLength} bytes exceeds ${limits.headFrameBytesMax}`);
  return [head, ...parts];
}

function encodeHead(type: FrameTypeName, parts: readonly Uint8Array[], packed: Uint8Array): Uint8Array {
  const lengthsBytes = 4 * parts.length;
  const frame = new Uint8Array(headerBytes + lengthsBytes + packed.byteLength);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  frame[0] = frameVersion;
  frame[1] = frameTypes[type];
  view.setUint16(2, parts.length);
  parts.forEach((part, index) => view.setUint32(headerBytes + 4 * index, part.byteLength));
  frame.set(packed, headerBytes + lengthsBytes);
  return frame;
}

function hasPart(value: unknown, limits: FrameLimits, depth: number): boolean {
  if (value instanceof Uint8Array) return value.byteLength >= limits.partBytesMin;
  if (typeof value !== "object" || value === null) return false;
  if (depth >= limits.bodyDepthMax) throw new RangeError(`message body nests deeper than ${limits.bodyDepthMax}`);
  if (Array.isArray(value)) return value.some((item) => hasPart(item, limits, depth + 1));
  for (const key in value) {
    if (hasPart((value as Record<string, unknown>)[key], limits, depth + 1)) return true;
  }
  return false;
}

/** A copy of `value` with each large `Uint8Array` moved to `parts` and replaced by its index. */
function extractParts(value: unknown, parts: Uint8Array[], limits: FrameLimits, depth: number): unknown {
  if (value instanceof Uint8Array) {
    if (value.byteLength < limits.partBytesMin) return value;
    parts.push(value);
    return new PartReference(parts.length - 1);
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => extractParts(item, parts, limits, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const key in value) copy[key] = extractParts((value as Record<string, unknown>)[key], parts, limits, depth + 1);
  return copy;
}

/**
 * Reassembles frames from one socket, in arrival order. `push` returns a
 * whole frame, `undefined` while a message still waits for parts, or a
 * `FrameError` after which the decoder must not be used again (the socket is
 * closed by its owner).
 */
export class FrameDecoder {
  readonly #limits: FrameLimits;
  #pending: { readonly version: number; readonly packed: Uint8Array; readonly lengths: number[]; readonly parts: Uint8Array[] } | undefined;
  #failed = false;

  constructor(limits: FrameLimits = defaultFrameLimits) {
    this.#limits = limits;
  }

  /** Parts announced by the last head frame and not yet received. */
  awaitingPartCount(): number {
    return this.#pending === undefined ? 0 : this.#pending.lengths.length - this.#pending.parts.length;
  }

  push(data: Uint8Array): DecodedFrame | FrameError | undefined {
    if (this.#failed) return this.#fail("decoder already failed", false);
    const pending = this.#pending;
    if (pending !== undefined) {
      const expected = pending.lengths[pending.parts.length]!;
      if (data.byteLength !== expected) return this.#fail(`part ${pending.parts.length} is ${data.byteLength} bytes, announced ${expected}`, false);
      pending.parts.push(data);
      if (pending.parts.length < pending.lengths.length) return undefined;
      this.#pending = undefined;
      return this.#finishMessage(pending.version, pending.packed, pending.parts);
    }
    if (data.byteLength > this.#limits.headFrameBytesMax) return this.#fail(`head frame of ${data.byteLength} bytes exceeds ${this.#limits.headFrameBytesMax}`, true);
    if (data.byteLength < headerBytes) return this.#fail(`head frame of ${data.byteLength} bytes is shorter than its header`, false);
    const version = data[0]!;
    if (!frameVersionsRead.has(version)) return this.#fail(`unknown frame format version ${version}`, false);
    const type = frameTypeNames.get(data[1]!);
    if (type === undefined) return this.#fail(`unknown frame type ${data[1]}`, false);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const partCount = view.getUint16(2);
    if (partCount > 0 && type !== "message") return this.#fail(`${type} frame announces ${partCount} parts`, false);
    if (partCount > this.#limits.partCountMax) return this.#fail(`message announces ${partCount} parts, more than ${this.#limits.partCountMax}`, true);
    const bodyOffset = headerBytes + 4 * partCount;
    if (data.byteLength < bodyOffset) return this.#fail("head frame truncated inside its part lengths", false);
    const lengths: number[] = [];
    for (let index = 0; index < partCount; index += 1) {
      const length = view.getUint32(headerBytes + 4 * index);
      if (length > this.#limits.partBytesMax) return this.#fail(`part ${index} of ${length} bytes exceeds ${this.#limits.partBytesMax}`, true);
      lengths.push(length);
    }
    const packed = data.subarray(bodyOffset);
    if (type !== "message") {
      const body = this.#unpack(packed);
      if (isFrameError(body)) return body;
      return { type, version, body };
    }
    if (partCount === 0) return this.#finishMessage(version, packed, []);
    this.#pending = { version, packed, lengths, parts: [] };
    return undefined;
  }

  #finishMessage(version: number, packed: Uint8Array, parts: readonly Uint8Array[]): DecodedFrame | FrameError {
    const envelope = this.#unpack(packed);
    if (isFrameError(envelope)) return envelope;
    const used = new Array<boolean>(parts.length).fill(false);
    let body: unknown;
    try {
      body = restoreParts(envelope["body"], parts, used, this.#limits, 0);
    } catch (error) {
      return this.#fail(`message body: ${error instanceof Error ? error.message : String(error)}`, false);
    }
    if (used.some((wasUsed) => !wasUsed)) return this.#fail("message announces a part its body never references", false);
    const problem = envelopeProblem(envelope);
    if (problem !== undefined) return this.#fail(problem, false);
    return { type: "message", version, body: { ...envelope, body } };
  }

  #unpack(packed: Uint8Array): Record<string, unknown> | FrameError {
    let value: unknown;
    try {
      value = packer.unpack(packed);
    } catch (error) {
      return this.#fail(`MessagePack body: ${error instanceof Error ? error.message : String(error)}`, false);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return this.#fail("frame body is not a map", false);
    return value as Record<string, unknown>;
  }

  #fail(reason: string, oversized: boolean): FrameError {
    this.#failed = true;
    this.#pending = undefined;
    return { frameError: reason, oversized };
  }
}

function restoreParts(value: unknown, parts: readonly Uint8Array[], used: boolean[], limits: FrameLimits, depth: number): unknown {
  if (value instanceof PartReference) {
    if (value.index >= parts.length) throw new Error(`part reference ${value.index} beyond ${parts.length} parts`);
    if (used[value.index]) throw new Error(`part ${value.index} referenced twice`);
    used[value.index] = true;
    return parts[value.index];
  }
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value;
  if (depth >= limits.bodyDepthMax) throw new Error(`nests deeper than ${limits.bodyDepthMax}`);
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) value[index] = restoreParts(value[index], parts, used, limits, depth + 1);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = restoreParts(record[key], parts, used, limits, depth + 1);
  return record;
}

/** Checks the envelope fields a receiver relies on; the body is the target actor's to check. */
function envelopeProblem(envelope: Record<string, unknown>): string | undefined {
  const to = envelope["to"] as Record<string, unknown> | undefined;
  if (typeof to !== "object" || to === null) return "message without `to`";
  if (typeof to["nodeId"] !== "string" || typeof to["path"] !== "string") return "message `to` lacks nodeId or path";
  if (!Number.isSafeInteger(to["incarnation"]) || (to["incarnation"] as number) < 1) return "message `to` has no valid incarnation";
  if (typeof envelope["from"] !== "string") return "message without `from`";
  if (!Number.isSafeInteger(envelope["corr"]) || (envelope["corr"] as number) < 0) return "message without a valid `corr`";
  const kind = envelope["kind"];
  if (kind !== undefined && kind !== null && typeof kind !== "string") return "message `kind` is not a string";
  const requestId = envelope["requestId"];
  if (requestId !== undefined && !isRequestId(requestId)) return `message \`requestId\` is not a string of 1 to ${requestIdCharsMax} characters`;
  return undefined;
}

/** The `kind` and `epoch` of a message body, when it has them (for the envelope and for logs). */
export function messageLabels(message: unknown): { kind: string | undefined; epoch: number | undefined } {
  if (typeof message !== "object" || message === null) return { kind: undefined, epoch: undefined };
  const { kind, epoch } = message as { kind?: unknown; epoch?: unknown };
  return {
    kind: typeof kind === "string" ? kind : undefined,
    epoch: typeof epoch === "number" ? epoch : undefined,
  };
}
