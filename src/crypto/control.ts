/**
 * The keys and MACs of a qim client's session with its server (docs/PROTOCOL.md, "Sessions with
 * the server"). Shared by both sides, so they live below both.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { SESSION_MAC_OFFSET } from '../protocol/v2/messages.js';

/** The control key both sides derive from the login's ephemeral keys. */
export function controlKey(shared: Buffer, loginBytes: Uint8Array): Buffer {
  const salt = createHash('sha256').update(loginBytes).digest();
  return Buffer.from(hkdfSync('sha256', shared, salt, Buffer.from('qim/v2 control'), 32));
}

/** The MAC of a session message: HMAC-SHA256 over its bytes before the MAC, cut to 16 bytes. */
export function sessionMac(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes.subarray(0, SESSION_MAC_OFFSET)).digest().subarray(0, 16);
}

/** The MAC of a PRESENCE: HMAC-SHA256 over everything but its last 16 bytes, cut to 16 bytes. */
export function trailingMac(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes.subarray(0, bytes.length - 16)).digest().subarray(0, 16);
}
