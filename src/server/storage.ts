/**
 * The server's files on its embedded default: one folder with the SQLite accounts database, the
 * offline messages (`offline.db`) and the server's identity seed, created on first run and reused
 * after.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataHome } from '../data-home.js';
import { QimError } from '../errors.js';
import { ed25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { SqliteAccounts } from './accounts.js';
import { SqliteOffline } from './offline.js';

/** The default data folder: `$XDG_DATA_HOME/qim-server`, else `~/.local/share/qim-server`. */
export function defaultServerDataDir(): string {
  return join(dataHome(), 'qim-server');
}

/** Opens (creating on first run) the server's identity and accounts in `dir`. */
export async function openServerData(dir: string): Promise<{ identity: KeyPair; accounts: SqliteAccounts; offline: SqliteOffline }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seedPath = join(dir, 'identity.key');
  let seed: Buffer;
  if (existsSync(seedPath)) {
    seed = Buffer.from(readFileSync(seedPath, 'utf8').trim(), 'hex');
    if (seed.length !== 32) throw new QimError('ERR_BAD_OPTION', `${seedPath} does not hold a 32-byte hex key`);
  } else {
    seed = ed25519KeyPair().secret;
    // The secret key: readable by its owner only.
    writeFileSync(seedPath, `${seed.toString('hex')}\n`, { mode: 0o600 });
    chmodSync(seedPath, 0o600);
  }
  return {
    identity: ed25519KeyPair(seed),
    accounts: await SqliteAccounts.open(join(dir, 'accounts.db')),
    offline: await SqliteOffline.open(join(dir, 'offline.db')),
  };
}
