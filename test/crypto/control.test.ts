import { createHash, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controlKey } from '../../src/crypto/control.js';

describe('controlKey', () => {
  it('is HKDF-SHA256 of the shared secret, salted with SHA-256 of the LOGIN (as node:crypto computes it)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 600 }), (shared, login) => {
        const salt = createHash('sha256').update(login).digest();
        const reference = Buffer.from(hkdfSync('sha256', shared, salt, Buffer.from('qim/v2 control'), 32));
        expect(controlKey(Buffer.from(shared), login)).toEqual(reference);
      }),
      { numRuns: 200 },
    );
  });
});
