/**
 * A user's profile on disk: their Ed25519 identity (made on first run, owner-only) and the server
 * keys they pinned on first use. One folder per user name under the profiles root.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ed25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { QimError } from '../errors.js';

/** `$XDG_DATA_HOME/qim`, else `~/.local/share/qim`. */
export function defaultProfilesRoot(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'qim');
}

export class Profile {
  private constructor(
    readonly dir: string,
    readonly identity: KeyPair,
  ) {}

  /** Opens the profile of `name`, creating its identity on first use. */
  static open(root: string, name: string): Profile {
    // The folder name is a hash: names may hold any character, and must never escape the root.
    const dir = join(root, createHash('sha256').update(name).digest('hex').slice(0, 24));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'name'), `${name}\n`);
    const keyPath = join(dir, 'identity.key');
    if (!existsSync(keyPath)) {
      writeFileSync(keyPath, `${ed25519KeyPair().secret.toString('hex')}\n`, { mode: 0o600 });
      chmodSync(keyPath, 0o600);
    }
    const seed = Buffer.from(readFileSync(keyPath, 'utf8').trim(), 'hex');
    if (seed.length !== 32) throw new QimError('ERR_BAD_OPTION', `${keyPath} does not hold a 32-byte hex key`);
    return new Profile(dir, ed25519KeyPair(seed));
  }

  /** The server key pinned for `server` (`host:port`), if any. */
  serverKey(server: string): Buffer | undefined {
    const pins = this.#pins();
    const hex = pins[server];
    return hex === undefined ? undefined : Buffer.from(hex, 'hex');
  }

  /** Pins `key` for `server`. */
  pinServer(server: string, key: Buffer): void {
    const pins = this.#pins();
    pins[server] = key.toString('hex');
    writeFileSync(join(this.dir, 'servers.json'), `${JSON.stringify(pins, null, 2)}\n`);
  }

  #pins(): Record<string, string> {
    const path = join(this.dir, 'servers.json');
    if (!existsSync(path)) return {};
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }
}
