/** fast-check generators for the protocol's values: any Unicode text, Chinese and emoji included. */
import fc from 'fast-check';
import type { ClassicDatagram } from '../../src/protocol/classic/datagram.js';
import { canonicalAddress, type Endpoint } from '../../src/protocol/endpoint.js';

/** Any text: every code point, plus a bias towards Chinese and emoji. */
export const arbText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom('你', '好', '剑', '痴', '😀', '👨‍👩‍👧', ' ', ',', 'a', ';'), { maxLength: 20 }).map((a) => a.join('')),
);

/** Text without the field separator. */
export const arbField = arbText.map((s) => s.replaceAll(',', ''));

/** A valid user name: no `,` or `;`, non-empty. */
export const arbName = fc
  .oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }), fc.constantFrom('剑痴', '张三', 'alice', 'Li Lei', '😀bob'))
  .map((s) => s.replace(/[,;]/g, '_'))
  .filter((s) => s.length > 0);

/** A canonical endpoint, IPv4 or IPv6. */
export const arbEndpoint: fc.Arbitrary<Endpoint> = fc.record({
  address: fc.oneof(fc.ipV4(), fc.ipV6().map((a) => canonicalAddress(a) ?? '::1')),
  port: fc.integer({ min: 1, max: 65535 }),
});

/** Any classic datagram that can be encoded. */
export const arbClassicDatagram: fc.Arbitrary<ClassicDatagram> = fc.oneof(
  fc.record({ kind: fc.constant('login' as const), name: arbText, endpoint: arbEndpoint }),
  fc.record({ kind: fc.constant('logout' as const), name: arbText, endpoint: arbEndpoint }),
  fc.record({ kind: fc.constant('accept' as const), tcpPort: fc.integer({ min: 1, max: 65535 }) }),
  fc.record({ kind: fc.constant('refuse' as const), reason: arbText }),
  fc.record({ kind: fc.constant('talk' as const), time: arbField, sender: arbField, text: arbText }),
);
