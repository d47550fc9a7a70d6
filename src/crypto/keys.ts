/**
 * Raw 32-byte Ed25519 and X25519 keys over node:crypto. Keys travel and rest as raw bytes; they
 * become KeyObjects only here. Pure: no I/O, no clocks.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';

// PKCS#8 and SPKI prefixes for raw 32-byte keys (RFC 8410): the key bytes follow the prefix.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** A key pair as raw bytes plus the private KeyObject that uses them. */
export interface KeyPair {
  readonly publicKey: Buffer;
  readonly secret: Buffer;
  readonly privateKey: KeyObject;
}

function pair(prefix: Buffer, secret: Uint8Array, spkiPrefixLength: number): KeyPair {
  if (secret.length !== 32) throw new RangeError('a raw private key is 32 bytes');
  const privateKey = createPrivateKey({ key: Buffer.concat([prefix, secret]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { publicKey: Buffer.from(spki.subarray(spkiPrefixLength)), secret: Buffer.from(secret), privateKey };
}

/** An Ed25519 identity key pair from a 32-byte seed (random when omitted). */
export function ed25519KeyPair(seed: Uint8Array = randomBytes(32)): KeyPair {
  return pair(ED25519_PKCS8, seed, ED25519_SPKI.length);
}

/**
 * An X25519 key pair from a 32-byte secret, or a fresh one. Fresh keys (every login, every peer
 * handshake) come from the native generator and leave as JWK: about twenty times cheaper than a
 * round trip through PKCS#8 and SPKI DER (`npx tsx bench/hot-paths.ts`).
 */
export function x25519KeyPair(secret?: Uint8Array): KeyPair {
  if (secret !== undefined) return pair(X25519_PKCS8, secret, X25519_SPKI.length);
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { publicKey: Buffer.from(jwk.x ?? '', 'base64url'), secret: Buffer.from(jwk.d ?? '', 'base64url'), privateKey };
}

const CURVES = new Map<Buffer, 'Ed25519' | 'X25519'>([
  [ED25519_SPKI, 'Ed25519'],
  [X25519_SPKI, 'X25519'],
]);

function publicKeyObject(prefix: Buffer, raw: Uint8Array): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    // JWK imports several times faster than DER (a LOGIN and a handshake import one or two keys).
    return createPublicKey({ key: { kty: 'OKP', crv: CURVES.get(prefix) ?? 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch {
    return null;
  }
}

/** Ed25519 signature (64 bytes, deterministic). */
export function sign(identity: KeyPair, message: Uint8Array): Buffer {
  return edSign(null, message, identity.privateKey);
}

/** True when `signature` is `publicKey`'s over `message`. Never throws on malformed input. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const key = publicKeyObject(ED25519_SPKI, publicKey);
  if (key === null) return false;
  try {
    return edVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * A verifier for one Ed25519 key, imported once (a client checks every PRESENCE its server
 * signs). Null when the key is malformed.
 */
export function verifier(publicKey: Uint8Array): ((message: Uint8Array, signature: Uint8Array) => boolean) | null {
  const key = publicKeyObject(ED25519_SPKI, publicKey);
  if (key === null) return null;
  return (message, signature) => {
    if (signature.length !== 64) return false;
    try {
      return edVerify(null, message, key, signature);
    } catch {
      return false;
    }
  };
}

/**
 * X25519 shared secret, or null when the peer's key is malformed or low-order (an all-zero
 * result, which would make the "secret" known to everyone).
 */
export function x25519(ours: KeyPair, theirs: Uint8Array): Buffer | null {
  const key = publicKeyObject(X25519_SPKI, theirs);
  if (key === null) return null;
  try {
    const shared = diffieHellman({ privateKey: ours.privateKey, publicKey: key });
    return shared.every((b) => b === 0) ? null : shared;
  } catch {
    return null;
  }
}

/**
 * A key's fingerprint for people to compare: the first 16 bytes of SHA-256 over the public key, as
 * eight groups of four hex digits (`3f2a 9c01 …`).
 */
export function fingerprint(publicKey: Uint8Array): string {
  return formatFingerprint(fingerprintBytes(publicKey));
}

/** The bytes of a key's fingerprint: the first 16 of its SHA-256 (what the online list carries). */
export function fingerprintBytes(publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(publicKey).digest().subarray(0, FINGERPRINT_BYTES);
}

/**
 * A public key and its fingerprint, to keep for long (a server keeps one per user online): both
 * in one buffer of their own, not slices of Node's shared 8 KiB pool (one kept slice pins a slab).
 */
export function keyWithFingerprint(publicKey: Uint8Array): { key: Buffer; fingerprint: Buffer } {
  const kept = Buffer.allocUnsafeSlow(publicKey.length + FINGERPRINT_BYTES);
  kept.set(publicKey);
  fingerprintBytes(publicKey).copy(kept, publicKey.length);
  return { key: kept.subarray(0, publicKey.length), fingerprint: kept.subarray(publicKey.length) };
}

/** Fingerprint bytes as people compare them: eight groups of four hex digits. */
export function formatFingerprint(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return hex.match(/.{4}/g)?.join(' ') ?? hex;
}

export const FINGERPRINT_BYTES = 16;
