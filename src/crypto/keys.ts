/**
 * Raw 32-byte Ed25519 and X25519 keys over node:crypto. Keys travel and rest as raw bytes; they
 * become KeyObjects only here. Pure: no I/O, no clocks.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';

type Curve = 'Ed25519' | 'X25519';

/** A key pair as raw bytes plus the private KeyObject that uses them. */
export interface KeyPair {
  readonly publicKey: Buffer;
  readonly secret: Buffer;
  readonly privateKey: KeyObject;
}

/**
 * A private KeyObject from its raw 32 bytes, imported as JWK: node:crypto reads `d` and only
 * type-checks `x`. Several times cheaper than a PKCS#8 DER import, whose decoder is slow in
 * OpenSSL 3 (`npx tsx bench/hot-paths.ts`).
 */
function rawPrivateKey(crv: Curve, secret: Uint8Array): KeyObject {
  if (secret.length !== 32) throw new RangeError('a raw private key is 32 bytes');
  return createPrivateKey({ key: { kty: 'OKP', crv, d: Buffer.from(secret).toString('base64url'), x: '' }, format: 'jwk' });
}

function pair(crv: Curve, secret: Uint8Array): KeyPair {
  const privateKey = rawPrivateKey(crv, secret);
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { publicKey: Buffer.from(x ?? '', 'base64url'), secret: Buffer.from(secret), privateKey };
}

/** An Ed25519 identity key pair from a 32-byte seed (random when omitted). */
export function ed25519KeyPair(seed: Uint8Array = randomBytes(32)): KeyPair {
  return pair('Ed25519', seed);
}

/**
 * An X25519 key pair from a 32-byte secret, or a fresh one (every login, every peer handshake).
 *
 * Never `generateKeyPairSync('x25519')` followed by an export: on Node 20 the export holds the key's
 * mutex while it allocates, a garbage collection in it can finalize the generator job that shares
 * that mutex, and the process deadlocks (test/crypto/keys.test.ts reproduces it in a child).
 */
export function x25519KeyPair(secret: Uint8Array = randomBytes(32)): KeyPair {
  return pair('X25519', secret);
}

function publicKeyObject(crv: Curve, raw: Uint8Array): KeyObject | null {
  if (raw.length !== 32) return null;
  try {
    // JWK imports several times faster than DER (a LOGIN and a handshake import one or two keys).
    return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
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
  const key = publicKeyObject('Ed25519', publicKey);
  if (key === null) return false;
  try {
    return edVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * `verify` run on libuv's thread pool: the calling thread spends ~10 µs importing the key and
 * queueing the check, not the check's ~0.15 ms (a server checks a signature per login, and can
 * check several at once on as many cores). Resolves false on malformed input; never rejects.
 */
export function verifyAsync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return Promise.resolve(false);
  const key = publicKeyObject('Ed25519', publicKey);
  if (key === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      edVerify(null, message, key, signature, (error, ok) => resolve(error === null && ok));
    } catch {
      resolve(false);
    }
  });
}

/** `sign` run on libuv's thread pool (the same signature, computed off the calling thread). */
export function signAsync(identity: KeyPair, message: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    edSign(null, message, identity.privateKey, (error, signature) => (error === null ? resolve(signature) : reject(error)));
  });
}

/**
 * A verifier for one Ed25519 key, imported once (a client checks every PRESENCE its server
 * signs). Null when the key is malformed.
 */
export function verifier(publicKey: Uint8Array): ((message: Uint8Array, signature: Uint8Array) => boolean) | null {
  const key = publicKeyObject('Ed25519', publicKey);
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
  const key = publicKeyObject('X25519', theirs);
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
