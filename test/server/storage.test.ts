import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openServerData } from '../../src/server/storage.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('server data folder', () => {
  it('makes an identity on first run, keeps it private, and reuses it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'qim-data-')), 'nested');
    dirs.push(dir);
    const first = await openServerData(dir);
    first.accounts.bind('alice', Buffer.alloc(32, 1));
    first.accounts.close();
    expect(statSync(join(dir, 'identity.key')).mode & 0o777).toBe(0o600);
    const second = await openServerData(dir);
    expect(second.identity.publicKey).toEqual(first.identity.publicKey);
    expect(second.accounts.keyFor('alice')).toEqual(Buffer.alloc(32, 1));
    second.accounts.close();
  });
});
