import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Profile } from '../../src/client/profile.js';
import { ProfileStore } from '../../src/client/store.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qim-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ProfileStore', () => {
  it('keeps history per server and peer, oldest first, paged from the newest', () => {
    const store = ProfileStore.open(join(tempDir(), 'p.db'));
    for (let i = 0; i < 5; i++) store.append({ server: 's:1', peer: '李雷', direction: i % 2 ? 'in' : 'out', text: `你好 ${i} 😀`, at: 1000 + i, state: 'sent', encrypted: true });
    store.append({ server: 's:2', peer: '李雷', direction: 'in', text: 'other server', at: 2000, state: 'received', encrypted: false });
    const last3 = store.history('s:1', '李雷', 3);
    expect(last3.map((e) => e.text)).toEqual(['你好 2 😀', '你好 3 😀', '你好 4 😀']);
    const before = store.history('s:1', '李雷', 10, last3[0]?.id);
    expect(before.map((e) => e.text)).toEqual(['你好 0 😀', '你好 1 😀']);
    expect(store.history('s:2', '李雷')).toHaveLength(1);
    expect(store.conversations('s:1')).toEqual([expect.objectContaining({ peer: '李雷', count: 5 })]);
    store.close();
  });

  it('moves a line through its delivery states and fails only stale orphans', () => {
    const store = ProfileStore.open(join(tempDir(), 'p.db'));
    const old = store.append({ server: 's', peer: 'bob', direction: 'out', text: 'old', at: 1_000, state: 'sending', encrypted: true });
    const fresh = store.append({ server: 's', peer: 'bob', direction: 'out', text: 'fresh', at: 100_000, state: 'sending', encrypted: true });
    expect(store.failOrphans(100_500)).toBe(1);
    expect(store.entry(old.id)?.state).toBe('failed');
    expect(store.entry(fresh.id)?.state).toBe('sending');
    store.setState(fresh.id, 'delivered');
    expect(store.entry(fresh.id)?.state).toBe('delivered');
    store.close();
  });

  it('is shared by two handles on one file (two programs on one profile)', () => {
    const path = join(tempDir(), 'p.db');
    const a = ProfileStore.open(path);
    const b = ProfileStore.open(path);
    a.pinPeer('s', 'bob', Buffer.alloc(32, 1));
    a.setSetting('lastServer', '127.0.0.1:8500');
    b.append({ server: 's', peer: 'bob', direction: 'in', text: 'hi', at: 1, state: 'received', encrypted: true });
    expect(b.peerKey('s', 'bob')?.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(b.setting('lastServer')).toBe('127.0.0.1:8500');
    expect(a.history('s', 'bob').map((e) => e.text)).toEqual(['hi']);
    a.close();
    b.close();
  });

  it('a profile moves pins from an old servers.json into the store', () => {
    const root = tempDir();
    const first = Profile.open(root, 'alice');
    first.close();
    writeFileSync(join(first.dir, 'servers.json'), JSON.stringify({ 'h:1': 'ab'.repeat(32), bad: 'zz' }));
    const again = Profile.open(root, 'alice');
    expect(again.identity.publicKey.equals(first.identity.publicKey)).toBe(true);
    expect(again.serverKey('h:1')?.toString('hex')).toBe('ab'.repeat(32));
    expect(again.serverKey('bad')).toBeUndefined();
    again.close();
  });
});
