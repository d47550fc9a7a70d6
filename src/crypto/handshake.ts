/**
 * The peer handshake: an ephemeral X25519 exchange whose transcript both identity keys sign
 * (SIGMA-style, two messages, in the spirit of Noise XX's mutual authentication).
 *
 *   initiator → responder   INIT  eI, idI, sig_idI("qim/v2 init"  ‖ eI ‖ idI ‖ idR)
 *   responder → initiator   RESP  eR, idR, sig_idR("qim/v2 resp"  ‖ eI ‖ eR ‖ idI ‖ idR)
 *   keys = HKDF-SHA256(ikm = X25519(eI, eR), salt = SHA-256(transcript), info = "qim/v2 keys")
 *
 * Each side checks the other's identity key against the key it expects (the one the server lists,
 * pinned on first use). A man in the middle who swaps keys must either present his own identity
 * key, which does not match (`key-mismatch`, reported to the user), or sign with a key he does not
 * hold (`bad-signature`). The responder's signature covers the initiator's fresh ephemeral key, so
 * the initiator knows the answer is live; a replayed INIT only makes the responder derive keys
 * nobody can use, and the responder treats the peer as confirmed only when its first sealed
 * message opens. Forward secrecy comes from the ephemeral keys.
 *
 * Pure: randomness can be injected for the golden fixtures.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { sign, verify, x25519, x25519KeyPair, type KeyPair } from './keys.js';

/** The first handshake message. */
export interface HandshakeInit {
  readonly ephemeral: Buffer;
  readonly identity: Buffer;
  readonly signature: Buffer;
}

/** The second handshake message. */
export interface HandshakeResponse {
  readonly ephemeral: Buffer;
  readonly identity: Buffer;
  readonly signature: Buffer;
}

/** The session keys, one per direction. */
export interface SessionKeys {
  readonly initiatorToResponder: Buffer;
  readonly responderToInitiator: Buffer;
}

/** Why a handshake failed. `key-mismatch` means: not the key we expected (a MITM, or a key change). */
export type HandshakeError = 'key-mismatch' | 'bad-signature' | 'bad-key';

export type HandshakeResult<T> = { ok: true; value: T } | { ok: false; error: HandshakeError };

const INIT_LABEL = Buffer.from('qim/v2 init');
const RESP_LABEL = Buffer.from('qim/v2 resp');
const KEYS_INFO = Buffer.from('qim/v2 keys');

function initSigned(eI: Uint8Array, idI: Uint8Array, idR: Uint8Array): Buffer {
  return Buffer.concat([INIT_LABEL, eI, idI, idR]);
}

function respSigned(eI: Uint8Array, eR: Uint8Array, idI: Uint8Array, idR: Uint8Array): Buffer {
  return Buffer.concat([RESP_LABEL, eI, eR, idI, idR]);
}

function deriveKeys(shared: Buffer, eI: Uint8Array, eR: Uint8Array, idI: Uint8Array, idR: Uint8Array): SessionKeys {
  const salt = createHash('sha256').update(Buffer.concat([eI, eR, idI, idR])).digest();
  const okm = Buffer.from(hkdfSync('sha256', shared, salt, KEYS_INFO, 64));
  return { initiatorToResponder: okm.subarray(0, 32), responderToInitiator: okm.subarray(32, 64) };
}

/** The initiator's side: make INIT, then finish with the RESP. */
export class HandshakeInitiator {
  readonly #identity: KeyPair;
  readonly #expectedPeer: Buffer;
  readonly #ephemeral: KeyPair;

  /** `expectedPeer`: the responder's identity key as the server listed it. */
  constructor(identity: KeyPair, expectedPeer: Uint8Array, ephemeralSecret?: Uint8Array) {
    this.#identity = identity;
    this.#expectedPeer = Buffer.from(expectedPeer);
    this.#ephemeral = x25519KeyPair(ephemeralSecret);
  }

  /** The INIT message. */
  init(): HandshakeInit {
    const eI = this.#ephemeral.publicKey;
    const idI = this.#identity.publicKey;
    return { ephemeral: eI, identity: idI, signature: sign(this.#identity, initSigned(eI, idI, this.#expectedPeer)) };
  }

  /** Checks the RESP and derives the session keys. */
  finish(resp: HandshakeResponse): HandshakeResult<SessionKeys> {
    if (!resp.identity.equals(this.#expectedPeer)) return { ok: false, error: 'key-mismatch' };
    const eI = this.#ephemeral.publicKey;
    const idI = this.#identity.publicKey;
    if (!verify(resp.identity, respSigned(eI, resp.ephemeral, idI, resp.identity), resp.signature)) {
      return { ok: false, error: 'bad-signature' };
    }
    const shared = x25519(this.#ephemeral, resp.ephemeral);
    if (shared === null) return { ok: false, error: 'bad-key' };
    return { ok: true, value: deriveKeys(shared, eI, resp.ephemeral, idI, resp.identity) };
  }
}

/**
 * The responder's side: checks INIT against the initiator's expected identity key, answers with
 * RESP and derives the session keys.
 */
export function respondToHandshake(
  identity: KeyPair,
  init: HandshakeInit,
  expectedPeer: Uint8Array,
  ephemeralSecret?: Uint8Array,
): HandshakeResult<{ response: HandshakeResponse; keys: SessionKeys }> {
  if (!init.identity.equals(expectedPeer)) return { ok: false, error: 'key-mismatch' };
  const idR = identity.publicKey;
  if (!verify(init.identity, initSigned(init.ephemeral, init.identity, idR), init.signature)) {
    return { ok: false, error: 'bad-signature' };
  }
  const ephemeral = x25519KeyPair(ephemeralSecret);
  const shared = x25519(ephemeral, init.ephemeral);
  if (shared === null) return { ok: false, error: 'bad-key' };
  const eR = ephemeral.publicKey;
  const response: HandshakeResponse = {
    ephemeral: eR,
    identity: idR,
    signature: sign(identity, respSigned(init.ephemeral, eR, init.identity, idR)),
  };
  return { ok: true, value: { response, keys: deriveKeys(shared, init.ephemeral, eR, init.identity, idR) } };
}
