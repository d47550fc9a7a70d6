/**
 * Sealing a message for someone who is offline (docs/PROTOCOL.md, "Offline messages"): to their
 * prekey, an X25519 key derived from their identity seed and signed by their identity key. Only
 * they can open it; inside, the sender's signature proves who wrote it, when, and to whom. Pure,
 * over node:crypto; opening never throws.
 */
import { hkdfSync } from 'node:crypto';
import { ByteReader, ByteWriter } from '../protocol/v2/bytes.js';
import { MAX_NAME_BYTES } from '../protocol/v2/messages.js';
import { open, seal } from './channel.js';
import { sign, verify, x25519, x25519KeyPair, type KeyPair } from './keys.js';

const PREKEY_INFO = Buffer.from('qim/v2 prekey');
const SEAL_INFO = Buffer.from('qim/v2 offline');

/** The prekey of an identity: derived from its seed, so it needs no storage of its own. */
export function prekeyPair(identity: KeyPair): KeyPair {
  return x25519KeyPair(Buffer.from(hkdfSync('sha256', identity.secret, Buffer.alloc(0), PREKEY_INFO, 32)));
}

function prekeySigned(name: string, prekey: Uint8Array): Buffer {
  return new ByteWriter().raw(PREKEY_INFO).str8(name, MAX_NAME_BYTES).raw(prekey).finish();
}

/** The identity's signature over its prekey, for `name`. */
export function signPrekey(identity: KeyPair, name: string, prekey: Uint8Array): Buffer {
  return sign(identity, prekeySigned(name, prekey));
}

/** True when `signature` is `identityKey`'s over `prekey` for `name`. */
export function verifyPrekey(identityKey: Uint8Array, name: string, prekey: Uint8Array, signature: Uint8Array): boolean {
  return verify(identityKey, prekeySigned(name, prekey), signature);
}

function idBytes(id: number): Buffer {
  return new ByteWriter(8).u64(id).finish();
}

function authored(id: number, recipientIdentity: Uint8Array, sentAt: number, text: Buffer): Buffer {
  return new ByteWriter().raw(SEAL_INFO).u64(id).raw(recipientIdentity).u64(sentAt).raw(text).finish();
}

function sealKey(shared: Buffer, ephemeral: Uint8Array, prekey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, prekey]), SEAL_INFO, 32));
}

export interface SealInput {
  readonly id: number;
  readonly from: string;
  readonly sender: KeyPair;
  readonly recipientIdentity: Uint8Array;
  readonly prekey: Uint8Array;
  readonly sentAt: number;
  readonly text: string;
}

/** Seals a message; null when the prekey is not a usable key. */
export function sealOffline(m: SealInput): Buffer | null {
  const e = x25519KeyPair();
  const shared = x25519(e, m.prekey);
  if (shared === null) return null;
  const text = Buffer.from(m.text, 'utf8');
  const signature = sign(m.sender, authored(m.id, m.recipientIdentity, m.sentAt, text));
  const plaintext = new ByteWriter().str8(m.from, MAX_NAME_BYTES).u64(m.sentAt).raw(signature).raw(text).finish();
  return Buffer.concat([e.publicKey, seal(sealKey(shared, e.publicKey, m.prekey), 0, plaintext, idBytes(m.id))]);
}

/** An opened message; `verify` checks its signature once the sender's key is known. */
export interface OpenedOffline {
  readonly from: string;
  readonly sentAt: number;
  readonly text: string;
  verify(senderIdentity: Uint8Array, recipientIdentity: Uint8Array): boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Opens a sealed message with our prekey; null when it is not one for us, or was altered. */
export function openOffline(id: number, sealed: Uint8Array, prekey: KeyPair): OpenedOffline | null {
  if (sealed.length < 32 + 16) return null;
  const e = sealed.subarray(0, 32);
  const shared = x25519(prekey, e);
  if (shared === null) return null;
  const plain = open(sealKey(shared, e, prekey.publicKey), 0, sealed.subarray(32), idBytes(id));
  if (plain === null) return null;
  const r = new ByteReader(plain);
  const from = r.str8(MAX_NAME_BYTES);
  const sentAt = r.u64();
  const signature = r.fixed(64);
  const text = r.rest();
  if (!r.ok) return null;
  let decoded: string;
  try {
    decoded = utf8.decode(text);
  } catch {
    return null;
  }
  return {
    from,
    sentAt,
    text: decoded,
    verify: (senderIdentity, recipientIdentity) => verify(senderIdentity, authored(id, recipientIdentity, sentAt, text), signature),
  };
}
