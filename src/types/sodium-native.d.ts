/**
 * The part of sodium-native (libsodium's bindings) qim uses. The package ships no typings of its
 * own, and the DefinitelyTyped ones describe an older API. It is CommonJS whose exports Node
 * cannot list statically: import it whole (`import sodium from 'sodium-native'`).
 */
declare module 'sodium-native' {
  interface Sodium {
    /** Encrypts `m` into `c` (`m.length + 16` bytes: the ciphertext, then the tag); returns c's length. */
    crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
    /** Decrypts `c` into `m` (`c.length - 16` bytes); throws when the tag does not authenticate. */
    crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
    /** Derives an Ed25519 pair from a 32-byte seed: `pk` 32 bytes, `sk` 64 (the seed, then `pk`). */
    crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
    /** Signs `m` with the 64-byte `sk` into the 64-byte `sig`. */
    crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
    /** True when `sig` (64 bytes) is `pk`'s signature over `m`; throws on a wrong-sized `pk`. */
    crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
    /** The X25519 public key `q` of the scalar `n` (32 bytes each). */
    crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
    /** X25519 of the scalar `n` and the point `p` into `q`; throws when the result is all zeros. */
    crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  }
  const sodium: Sodium;
  export = sodium;
}
