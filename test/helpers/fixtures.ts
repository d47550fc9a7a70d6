/**
 * Golden bytes, read from docs/PROTOCOL.md: every block introduced by `<!-- fixture: NAME -->` and
 * fenced as `hex`. The document is the single source; the tests follow it.
 */
import { readFileSync } from 'node:fs';

const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const FIXTURE = /<!-- fixture: ([\w/-]+) -->\s*```hex\n([\s\S]*?)```/g;

const fixtures = new Map<string, Buffer>();
for (const m of doc.matchAll(FIXTURE)) {
  const [, name, hex] = m;
  if (name === undefined || hex === undefined) continue;
  fixtures.set(name, Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

/** The bytes of fixture `name`; throws when the document has no such fixture. */
export function fixture(name: string): Buffer {
  const bytes = fixtures.get(name);
  if (bytes === undefined) throw new Error(`docs/PROTOCOL.md has no fixture named ${name}`);
  return bytes;
}

/** Every fixture name in the document. */
export function fixtureNames(): string[] {
  return [...fixtures.keys()];
}
