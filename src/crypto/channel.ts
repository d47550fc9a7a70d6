/**
 * The encrypted channel between two peers after their handshake: ChaCha20-Poly1305 (RFC 8439) with
 * a 64-bit message counter as the nonce (counters never repeat under one key), and a sliding replay
 * window on the receiving side, in the manner of WireGuard and IPsec.
 *
 * The cipher is libsodium's (sodium-native): one call that writes into the output buffer, where
 * node:crypto makes a Cipher object (a stream) per message. The bytes are the same RFC 8439
 * construction either way (test/crypto/channel.test.ts checks them against node:crypto's).
 */
import sodium from 'sodium-native';

const { crypto_aead_chacha20poly1305_ietf_encrypt: aeadSeal, crypto_aead_chacha20poly1305_ietf_decrypt: aeadOpen } = sodium;

/** Bytes of the Poly1305 tag appended to every ciphertext. */
export const TAG_BYTES = 16;

/**
 * Counters stop here: far below 2^64, and below 2^53 so they stay exact JavaScript numbers. A
 * session that reached it would need a new handshake (at one message per millisecond: 8,900 years).
 */
export const MAX_COUNTER = 2 ** 48;

/**
 * The nonce for `counter`: four zero bytes, the counter in six little-endian bytes, two zero bytes.
 * One buffer for every message: the cipher reads it during the call, and bytes 0-3 and 10-11 are
 * never written.
 */
const NONCE = Buffer.alloc(12);
function nonce(counter: number): Buffer {
  NONCE.writeUIntLE(counter, 4, 6);
  return NONCE;
}

/** Encrypts `plaintext` under `key` with the nonce for `counter`; the tag is appended. */
export function seal(key: Uint8Array, counter: number, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== 32) throw new RangeError('a ChaCha20-Poly1305 key is 32 bytes');
  const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
  aeadSeal(out, plaintext, aad, null, nonce(counter), key);
  return out;
}

/** Decrypts and authenticates; null when anything was altered or the key is wrong. Never throws. */
export function open(key: Uint8Array, counter: number, sealed: Uint8Array, aad: Uint8Array): Buffer | null {
  if (sealed.length < TAG_BYTES || key.length !== 32 || !Number.isSafeInteger(counter) || counter < 0 || counter >= MAX_COUNTER) return null;
  const out = Buffer.allocUnsafe(sealed.length - TAG_BYTES);
  try {
    aeadOpen(out, null, sealed, aad, nonce(counter), key);
    return out;
  } catch {
    // Not authentic: `out` may hold unauthenticated bytes, and is dropped with them.
    return null;
  }
}

/**
 * Remembers which counters were accepted among the last `size`. A counter is accepted once; one
 * older than the window is refused (it may be a replay we can no longer tell apart).
 */
export class ReplayWindow {
  readonly #seen: Uint8Array;
  #highest = -1;

  constructor(readonly size = 4096) {
    this.#seen = new Uint8Array(size);
  }

  /** True when `counter` has not been accepted and is not too old. Does not record it. */
  fresh(counter: number): boolean {
    if (counter > this.#highest) return true;
    if (counter <= this.#highest - this.size) return false;
    return this.#seen[counter % this.size] === 0;
  }

  /** Records `counter` as accepted (call only after the datagram authenticated). */
  accept(counter: number): void {
    if (counter > this.#highest) {
      const gap = counter - this.#highest;
      if (gap >= this.size) this.#seen.fill(0);
      else for (let c = this.#highest + 1; c < counter; c++) this.#seen[c % this.size] = 0;
      this.#highest = counter;
    }
    this.#seen[counter % this.size] = 1;
  }
}

/** One direction pair of an established session: our sending key and counter, their key and window. */
export class SecureChannel {
  readonly #sendKey: Buffer;
  readonly #receiveKey: Buffer;
  readonly #window = new ReplayWindow();
  #counter = 0;

  constructor(sendKey: Uint8Array, receiveKey: Uint8Array) {
    this.#sendKey = Buffer.from(sendKey);
    this.#receiveKey = Buffer.from(receiveKey);
  }

  /**
   * Encrypts the next outgoing payload. `aad` is authenticated, not hidden; pass a function when
   * it depends on the counter (a datagram header that names it).
   */
  seal(plaintext: Uint8Array, aad: Uint8Array | ((counter: number) => Uint8Array)): { counter: number; ciphertext: Buffer } {
    const counter = this.#next();
    const data = typeof aad === 'function' ? aad(counter) : aad;
    return { counter, ciphertext: seal(this.#sendKey, counter, plaintext, data) };
  }

  /**
   * Encrypts the next outgoing payload into a datagram: `headerBytes` of header, which
   * `writeHeader` fills in (it names the counter) and which is authenticated as `aad`, then the
   * ciphertext and its tag. One buffer, where `seal` and an encoder would make three.
   */
  sealDatagram(plaintext: Uint8Array, headerBytes: number, writeHeader: (out: Buffer, counter: number) => void): Buffer {
    const counter = this.#next();
    const out = Buffer.allocUnsafe(headerBytes + plaintext.length + TAG_BYTES);
    writeHeader(out, counter);
    aeadSeal(out.subarray(headerBytes), plaintext, out.subarray(0, headerBytes), null, nonce(counter), this.#sendKey);
    return out;
  }

  /** The next outgoing counter, taken. */
  #next(): number {
    if (this.#counter >= MAX_COUNTER) throw new RangeError('session exhausted; a new handshake is needed');
    return this.#counter++;
  }

  /** Decrypts an incoming payload; null for a forgery, a corruption or a replay. */
  open(counter: number, ciphertext: Uint8Array, aad: Uint8Array): Buffer | null {
    if (!this.#window.fresh(counter)) return null;
    const plain = open(this.#receiveKey, counter, ciphertext, aad);
    if (plain !== null) this.#window.accept(counter);
    return plain;
  }
}
