/**
 * Stateless return-routability cookies (docs/PROTOCOL.md, "Return routability before login"): a MAC
 * over the source endpoint and the client's nonce under a secret that rotates. The server keeps
 * nothing per HELLO, so a flood of HELLOs costs it no memory, and a LOGIN with a valid cookie
 * proves its source received the COOKIE.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatEndpoint, type Endpoint } from '../protocol/endpoint.js';

/** Bytes in a cookie. */
export const COOKIE_BYTES = 16;

/** Issues and checks cookies; the secret rotates every `rotateMs`, and the previous one stays valid. */
export class CookieJar {
  #current = randomBytes(32);
  #previous = randomBytes(32);
  #rotatedAt: number;

  constructor(
    private readonly rotateMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#rotatedAt = now();
  }

  /** The cookie for `from` and `nonce`. */
  issue(from: Endpoint, nonce: Uint8Array): Buffer {
    this.#rotate();
    return mac(this.#current, from, nonce);
  }

  /** True when `cookie` was issued to `from` for `nonce` within the last one or two periods. */
  check(from: Endpoint, nonce: Uint8Array, cookie: Uint8Array): boolean {
    this.#rotate();
    if (cookie.length !== COOKIE_BYTES) return false;
    return timingSafeEqual(mac(this.#current, from, nonce), cookie) || timingSafeEqual(mac(this.#previous, from, nonce), cookie);
  }

  #rotate(): void {
    const now = this.now();
    if (now - this.#rotatedAt < this.rotateMs) return;
    // After two periods of silence both secrets are stale: replace both.
    this.#previous = now - this.#rotatedAt < 2 * this.rotateMs ? this.#current : randomBytes(32);
    this.#current = randomBytes(32);
    this.#rotatedAt = now;
  }
}

function mac(secret: Buffer, from: Endpoint, nonce: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(formatEndpoint(from)).update(nonce).digest().subarray(0, COOKIE_BYTES);
}
