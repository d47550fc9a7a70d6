/**
 * Why an input from the network was dropped. Stable strings: they appear in logs, in counters
 * (`drops.<reason>`) and in docs/PROTOCOL.md.
 */
export type DropReason =
  | 'empty'
  | 'oversized'
  | 'odd-length'
  | 'bad-encoding'
  | 'unknown-command'
  | 'missing-field'
  | 'bad-endpoint'
  | 'bad-port'
  | 'bad-length'
  | 'bad-list'
  | 'unexpected'
  | 'spoofed-source'
  | 'unknown-sender'
  | 'not-logged-in'
  | 'bad-name'
  | 'name-taken'
  | 'server-full'
  | 'bad-cookie'
  | 'bad-signature'
  | 'bad-mac'
  | 'bad-key'
  | 'key-mismatch'
  | 'stale'
  | 'replayed'
  | 'rate-limited'
  | 'busy'
  | 'relay-limit'
  | 'unknown-peer'
  | 'tcp-garbage'
  | 'tcp-too-many'
  | 'tcp-idle';

/** The result of decoding untrusted bytes: a value, or the reason they were dropped. Never a throw. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: DropReason };
