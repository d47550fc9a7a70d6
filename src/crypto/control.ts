/**
 * The keys and MACs of a qim client's session with its server (docs/PROTOCOL.md, "Sessions with
 * the server"). Shared by both sides, so they live below both.
 */
import { createHash, createHmac } from 'node:crypto';
import { SESSION_MAC_OFFSET } from '../protocol/v2/messages.js';

const CONTROL_INFO = Buffer.from('qim/v2 control');

/**
 * The control key both sides derive from the login's ephemeral keys: HKDF-SHA256 (RFC 5869) of the
 * shared secret, salted with SHA-256 of the LOGIN, 32 bytes. One output block, so two HMACs
 * (extract, then expand with the counter byte 1), written out: `hkdfSync` costs several times
 * that per call, and every login pays it on both sides.
 */
export function controlKey(shared: Buffer, loginBytes: Uint8Array): Buffer {
  const salt = createHash('sha256').update(loginBytes).digest();
  const prk = createHmac('sha256', salt).update(shared).digest();
  return createHmac('sha256', prk).update(CONTROL_INFO).update(ONE).digest();
}
const ONE = Buffer.from([1]);

/** The MAC of a session message: HMAC-SHA256 over its bytes before the MAC, cut to 16 bytes. */
export function sessionMac(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes.subarray(0, SESSION_MAC_OFFSET)).digest().subarray(0, 16);
}

/** The MAC of a PRESENCE: HMAC-SHA256 over everything but its last 16 bytes, cut to 16 bytes. */
export function trailingMac(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes.subarray(0, bytes.length - 16)).digest().subarray(0, 16);
}
