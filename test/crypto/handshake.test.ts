import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../src/crypto/channel.js';
import { HandshakeInitiator, respondToHandshake } from '../../src/crypto/handshake.js';
import { ed25519KeyPair } from '../../src/crypto/keys.js';

const alice = ed25519KeyPair();
const bob = ed25519KeyPair();
const mallory = ed25519KeyPair();

function run(initiatorExpects = bob.publicKey, responderExpects = alice.publicKey) {
  const hs = new HandshakeInitiator(alice, initiatorExpects);
  const init = hs.init();
  const resp = respondToHandshake(bob, init, responderExpects);
  if (!resp.ok) return { resp };
  return { resp, fin: hs.finish(resp.value.response) };
}

describe('peer handshake', () => {
  it('gives both sides the same keys, one per direction', () => {
    const { resp, fin } = run();
    expect(resp.ok && fin?.ok).toBe(true);
    if (!resp.ok || !fin?.ok) return;
    expect(fin.value).toEqual(resp.value.keys);
    expect(fin.value.initiatorToResponder.equals(fin.value.responderToInitiator)).toBe(false);
    const a = new SecureChannel(fin.value.initiatorToResponder, fin.value.responderToInitiator);
    const b = new SecureChannel(resp.value.keys.responderToInitiator, resp.value.keys.initiatorToResponder);
    const m = a.seal(Buffer.from('你好 bob'), Buffer.alloc(0));
    expect(b.open(m.counter, m.ciphertext, Buffer.alloc(0))?.toString()).toBe('你好 bob');
  });

  it('derives fresh keys for every handshake', () => {
    const one = run();
    const two = run();
    expect(one.fin?.ok && two.fin?.ok).toBe(true);
    if (one.fin?.ok && two.fin?.ok) expect(one.fin.value.initiatorToResponder.equals(two.fin.value.initiatorToResponder)).toBe(false);
  });

  it('detects a man in the middle who answers with his own key', () => {
    const hs = new HandshakeInitiator(alice, bob.publicKey);
    const init = hs.init();
    // Mallory intercepts and answers as himself, expecting Alice.
    const fake = respondToHandshake(mallory, init, alice.publicKey);
    // Alice's INIT names Bob as responder, so it does not even verify for Mallory.
    expect(fake).toEqual({ ok: false, error: 'bad-signature' });
    const forged = respondToHandshake(mallory, { ...init, signature: Buffer.alloc(64) }, alice.publicKey);
    expect(forged.ok).toBe(false);
  });

  it('reports key-mismatch when the answer comes from another identity than expected', () => {
    const hs = new HandshakeInitiator(alice, bob.publicKey);
    const init = hs.init();
    // Mallory skips every check and answers as himself, pretending Alice addressed him.
    const mitm = respondToHandshake(mallory, init, alice.publicKey);
    expect(mitm.ok).toBe(false);
    const relabelled = new HandshakeInitiator(alice, mallory.publicKey);
    const answer = respondToHandshake(mallory, relabelled.init(), alice.publicKey);
    expect(answer.ok).toBe(true);
    if (answer.ok) expect(hs.finish(answer.value.response)).toEqual({ ok: false, error: 'key-mismatch' });
  });

  it('refuses an INIT meant for someone else or signed by an unexpected key', () => {
    // Mallory made the server list his key as Bob's: Alice's INIT names Mallory, and Bob refuses it.
    const hs = new HandshakeInitiator(alice, mallory.publicKey);
    expect(respondToHandshake(bob, hs.init(), alice.publicKey)).toEqual({ ok: false, error: 'bad-signature' });
    // Bob expects Alice's key and gets an INIT from another identity.
    const other = new HandshakeInitiator(mallory, bob.publicKey);
    expect(respondToHandshake(bob, other.init(), alice.publicKey)).toEqual({ ok: false, error: 'key-mismatch' });
  });

  it('refuses a response whose signature was made over another ephemeral key', () => {
    const hs = new HandshakeInitiator(alice, bob.publicKey);
    const stale = respondToHandshake(bob, new HandshakeInitiator(alice, bob.publicKey).init(), alice.publicKey);
    hs.init();
    expect(stale.ok).toBe(true);
    if (stale.ok) expect(hs.finish(stale.value.response)).toEqual({ ok: false, error: 'bad-signature' });
  });

  it('refuses a low-order ephemeral key', () => {
    const hs = new HandshakeInitiator(alice, bob.publicKey);
    const init = hs.init();
    const bad = { ...init, ephemeral: Buffer.alloc(32) };
    // The signature no longer covers the key, so this fails before the key is even used.
    expect(respondToHandshake(bob, bad, alice.publicKey).ok).toBe(false);
  });
});
