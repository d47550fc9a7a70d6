import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ed25519KeyPair, fingerprint, sign, verifier, verify, verifyAsync, x25519, x25519KeyPair } from '../../src/crypto/keys.js';

const hex = (s: string) => Buffer.from(s, 'hex');

describe('keys', () => {
  it('derives the RFC 8032 Ed25519 public key and signature from the test seed', () => {
    const id = ed25519KeyPair(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(id.publicKey.toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(sign(id, Buffer.alloc(0)).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('computes the RFC 7748 X25519 shared secret', () => {
    const a = x25519KeyPair(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const b = x25519KeyPair(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(a.publicKey.toString('hex')).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(x25519(a, b.publicKey)?.toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    expect(x25519(b, a.publicKey)?.toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('makes fresh X25519 pairs whose public key is the one their secret derives', () => {
    const a = x25519KeyPair();
    const b = x25519KeyPair();
    expect(a.secret.equals(b.secret)).toBe(false);
    expect(x25519KeyPair(a.secret).publicKey.equals(a.publicKey)).toBe(true);
    expect(x25519(a, b.publicKey)?.equals(x25519(b, a.publicKey) ?? Buffer.alloc(0))).toBe(true);
    expect(() => x25519KeyPair(Buffer.alloc(31))).toThrow(RangeError);
  });

  // Node 20 deadlocked in generateKeyPairSync('x25519') + export within the first few thousand pairs
  // (a GC during the export finalized the generator job holding the same mutex). A hang cannot be
  // caught in-process, so a child makes the pairs and must exit.
  it('makes 20,000 fresh X25519 pairs in a row without hanging', async () => {
    const keys = fileURLToPath(new URL('../../src/crypto/keys.ts', import.meta.url));
    const script = `const { x25519KeyPair } = await import(${JSON.stringify(keys)}); for (let i = 0; i < 20000; i++) x25519KeyPair(); console.log('done');`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout) =>
        err ? reject(new Error(`the child making key pairs did not finish (hung or failed): ${err.message}`)) : resolve(stdout),
      );
    });
    expect(out.trim()).toBe('done');
  }, 70_000);

  it('refuses a low-order X25519 point and malformed keys', () => {
    const a = x25519KeyPair();
    expect(x25519(a, Buffer.alloc(32))).toBeNull();
    expect(x25519(a, Buffer.alloc(31, 1))).toBeNull();
  });

  it('verifies only the right signature by the right key', () => {
    const id = ed25519KeyPair();
    const other = ed25519KeyPair();
    const msg = Buffer.from('你好');
    const sig = sign(id, msg);
    expect(verify(id.publicKey, msg, sig)).toBe(true);
    expect(verify(other.publicKey, msg, sig)).toBe(false);
    expect(verify(id.publicKey, Buffer.from('你好!'), sig)).toBe(false);
    expect(verify(id.publicKey, msg, sig.subarray(1))).toBe(false);
    expect(verify(Buffer.alloc(5), msg, sig)).toBe(false);
    expect(verify(Buffer.alloc(32, 0xff), msg, sig)).toBe(false);
    const check = verifier(id.publicKey);
    expect(check?.(msg, sig)).toBe(true);
    expect(check?.(msg, Buffer.alloc(64))).toBe(false);
    expect(verifier(Buffer.alloc(31))).toBeNull();
  });

  it('verifies off the calling thread exactly as it does on it', async () => {
    const id = ed25519KeyPair(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    const other = ed25519KeyPair();
    const msg = Buffer.from('你好');
    const sig = sign(id, msg);
    const bad = Buffer.from(sig);
    bad[10] = (bad[10] as number) ^ 1;
    // Many at once, answered in whatever order the pool finishes them, each with its own result.
    const results = await Promise.all([
      verifyAsync(id.publicKey, msg, sig),
      verifyAsync(other.publicKey, msg, sig),
      verifyAsync(id.publicKey, Buffer.from('你好!'), sig),
      verifyAsync(id.publicKey, msg, bad),
      verifyAsync(id.publicKey, msg, sig.subarray(1)),
      verifyAsync(Buffer.alloc(5), msg, sig),
      verifyAsync(Buffer.alloc(32, 0xff), msg, sig),
      ...Array.from({ length: 50 }, () => verifyAsync(id.publicKey, msg, sig)),
    ]);
    expect(results.slice(0, 7)).toEqual([true, false, false, false, false, false, false]);
    expect(results.slice(7).every((ok) => ok)).toBe(true);
  });

  it('prints a fingerprint as eight groups of four hex digits', () => {
    expect(fingerprint(ed25519KeyPair().publicKey)).toMatch(/^([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
  });
});
