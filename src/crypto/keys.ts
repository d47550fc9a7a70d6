/**
 * Raw 32-byte Ed25519 and X25519 keys. Keys travel and rest as raw bytes. Signatures, key pairs
 * and key agreement are libsodium's (sodium-native): each one call on raw bytes, where node:crypto
 * first imports every key into a KeyObject. On the 2-core machine of docs/LIMITS.md an X25519 pair
 * took 105 µs that way and takes 46 µs here, a signature 71 against 39 µs, a check 159 against
 * 107 µs (`npx tsx bench/hot-paths.ts` prints both). `verifyAsync` alone stays on node:crypto: it
 * runs the check on libuv's thread pool. Both implement RFC 8032 and RFC 7748
 * (test/crypto/keys.test.ts checks the RFCs' vectors). Pure: no I/O, no clocks.
 */
import { createHash, createPublicKey, randomBytes, verify as edVerify, type KeyObject } from 'node:crypto';
import sodium from 'sodium-native';

/** A key pair as raw bytes: the public key, and the secret (an Ed25519 seed, or an X25519 scalar). */
export interface KeyPair {
  readonly publicKey: Buffer;
  readonly secret: Buffer;
}

/**
 * libsodium's secret key for each Ed25519 pair made here (the seed followed by the public key),
 * kept from when the pair was derived rather than joined again at every signature.
 */
const SIGNING_KEYS = new WeakMap<KeyPair, Buffer>();

function needs32(bytes: Uint8Array, what: string): void {
  if (bytes.length !== 32) throw new RangeError(`${what} is 32 bytes`);
}

/** An Ed25519 identity key pair from a 32-byte seed (random when omitted). */
export function ed25519KeyPair(seed: Uint8Array = randomBytes(32)): KeyPair {
  needs32(seed, 'an Ed25519 seed');
  const publicKey = Buffer.alloc(32);
  const signingKey = Buffer.alloc(64);
  sodium.crypto_sign_seed_keypair(publicKey, signingKey, seed);
  const pair = { publicKey, secret: Buffer.from(seed) };
  SIGNING_KEYS.set(pair, signingKey);
  return pair;
}

/** An X25519 key pair from a 32-byte secret, or a fresh one (every login, every peer handshake). */
export function x25519KeyPair(secret: Uint8Array = randomBytes(32)): KeyPair {
  needs32(secret, 'a raw private key');
  const publicKey = Buffer.alloc(32);
  sodium.crypto_scalarmult_base(publicKey, secret);
  return { publicKey, secret: Buffer.from(secret) };
}

/** Ed25519 signature (64 bytes, deterministic). */
export function sign(identity: KeyPair, message: Uint8Array): Buffer {
  const signature = Buffer.alloc(64);
  // A pair not made by ed25519KeyPair (built by hand) is joined as libsodium wants it here.
  sodium.crypto_sign_detached(signature, message, SIGNING_KEYS.get(identity) ?? Buffer.concat([identity.secret, identity.publicKey]));
  return signature;
}

/** True when `signature` is `publicKey`'s over `message`. Never throws on malformed input. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return sodium.crypto_sign_verify_detached(signature, message, publicKey);
}

function publicKeyObject(raw: Uint8Array): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    // JWK imports several times faster than DER.
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  } catch {
    return null;
  }
}

/**
 * `verify` run on libuv's thread pool (node:crypto): the calling thread spends ~20 µs importing
 * the key (10 µs) and queueing the check (9 µs), not the check itself (a server checks a signature
 * per login, and can check several at once on as many cores). Resolves false on malformed input;
 * never rejects.
 */
export function verifyAsync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return Promise.resolve(false);
  const key = publicKeyObject(publicKey);
  if (key === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      edVerify(null, message, key, signature, (error, ok) => resolve(error === null && ok));
    } catch {
      resolve(false);
    }
  });
}

/**
 * A verifier for one Ed25519 key (a client checks every PRESENCE its server signs). Null when the
 * key is malformed.
 */
export function verifier(publicKey: Uint8Array): ((message: Uint8Array, signature: Uint8Array) => boolean) | null {
  if (publicKey.length !== 32) return null;
  const key = Buffer.from(publicKey);
  return (message, signature) => verify(key, message, signature);
}

/**
 * X25519 shared secret, or null when the peer's key is malformed or low-order (an all-zero
 * result, which would make the "secret" known to everyone).
 */
export function x25519(ours: KeyPair, theirs: Uint8Array): Buffer | null {
  if (theirs.length !== 32) return null;
  const shared = Buffer.alloc(32);
  try {
    // libsodium refuses an all-zero result itself (it throws); checked again all the same.
    sodium.crypto_scalarmult(shared, ours.secret, theirs);
  } catch {
    return null;
  }
  return shared.every((b) => b === 0) ? null : shared;
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
