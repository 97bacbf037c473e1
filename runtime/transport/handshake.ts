/**
 * Challenge–response between two nodes that share the fleet secret.
 *
 * The dialer sends `hello` with its nonce; the acceptor answers `challenge`
 * with its own nonce and its proof; the dialer checks it and sends its proof;
 * the acceptor checks that and, if it adopts the socket, sends `welcome`.
 * A proof is HMAC-SHA256 under the fleet secret over both node ids, both
 * incarnations, both nonces and the prover's role, so:
 * - the secret never crosses the wire;
 * - a proof cannot be replayed on another connection (fresh nonces on both
 *   sides) nor reflected back to its author (the role is inside the MAC);
 * - each side learns the other's incarnation from an authenticated message.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const nonceBytes = 32;
export const proofBytes = 32;

/** The facts both proofs of one connection cover. */
export interface HandshakeFacts {
  readonly dialerNodeId: string;
  readonly dialerIncarnation: number;
  readonly dialerNonce: Uint8Array;
  readonly acceptorNodeId: string;
  readonly acceptorIncarnation: number;
  readonly acceptorNonce: Uint8Array;
}

/** The proof that `role` knows the fleet secret, for this connection's facts. */
export function handshakeProof(secret: Uint8Array, role: "dialer" | "acceptor", facts: HandshakeFacts): Uint8Array {
  const mac = createHmac("sha256", secret);
  // Length-prefixed fields: no two different fact sets share a MAC input.
  for (const field of [
    "cairn-transport-v1",
    role,
    facts.dialerNodeId,
    String(facts.dialerIncarnation),
    facts.acceptorNodeId,
    String(facts.acceptorIncarnation),
  ]) {
    const bytes = Buffer.from(field, "utf8");
    mac.update(lengthPrefix(bytes.length));
    mac.update(bytes);
  }
  mac.update(lengthPrefix(facts.dialerNonce.length));
  mac.update(facts.dialerNonce);
  mac.update(lengthPrefix(facts.acceptorNonce.length));
  mac.update(facts.acceptorNonce);
  return new Uint8Array(mac.digest());
}

/** Constant-time check of a proof received from the peer. */
export function proofMatches(secret: Uint8Array, role: "dialer" | "acceptor", facts: HandshakeFacts, proof: unknown): boolean {
  if (!(proof instanceof Uint8Array) || proof.byteLength !== proofBytes) return false;
  return timingSafeEqual(handshakeProof(secret, role, facts), proof);
}

function lengthPrefix(length: number): Uint8Array {
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, length);
  return prefix;
}
