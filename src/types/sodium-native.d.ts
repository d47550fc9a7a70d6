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
  }
  const sodium: Sodium;
  export = sodium;
}
