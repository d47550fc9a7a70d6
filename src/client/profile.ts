/**
 * A user's profile on disk: their Ed25519 identity (made on first run, owner-only) and their
 * store (`profile.db`: pinned server and peer keys, settings, history). One folder per user name under the profiles root.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { dataHome } from '../data-home.js';
import { ed25519KeyPair, type KeyPair } from '../crypto/keys.js';
import { QimError } from '../errors.js';
import type { PeerPins } from './qim-client.js';
import { ProfileStore } from './store.js';

/** `$XDG_DATA_HOME/qim`, else `~/.local/share/qim`. */
export function defaultProfilesRoot(): string {
  return join(dataHome(), 'qim');
}

export class Profile {
  private constructor(
    readonly dir: string,
    readonly identity: KeyPair,
    /** Pinned keys, settings and history (`profile.db`), shared by every program on this profile. */
    readonly store: ProfileStore,
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
    const store = ProfileStore.open(join(dir, 'profile.db'));
    importServerPins(dir, store);
    return new Profile(dir, ed25519KeyPair(seed), store);
  }

  /** The server key pinned for `server` (`host:port`), if any. */
  serverKey(server: string): Buffer | undefined {
    return this.store.serverKey(server);
  }

  /** Pins `key` for `server`. */
  pinServer(server: string, key: Buffer): void {
    this.store.pinServer(server, key);
  }

  /** The peer keys pinned on `server` (`host:port`), as `QimChatClient`'s `peerPins` takes them. */
  peerPins(server: string): PeerPins {
    return { get: (name) => this.store.peerKey(server, name), pin: (name, key) => this.store.pinPeer(server, name, key) };
  }

  /** The offline messages already shown on `server`, as `QimChatClient`'s `seenOffline` takes them. */
  seenOffline(server: string): { has(id: number): boolean; add(id: number): void } {
    return { has: (id) => this.store.seenOffline(server, id), add: (id) => this.store.markOfflineSeen(server, id) };
  }

  close(): void {
    this.store.close();
  }
}

/** Profiles made before the store kept their server pins in `servers.json`: move them over once. */
function importServerPins(dir: string, store: ProfileStore): void {
  const path = join(dir, 'servers.json');
  if (!existsSync(path)) return;
  try {
    const pins = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    for (const [server, hex] of Object.entries(pins)) {
      if (typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex) && store.serverKey(server) === undefined) store.pinServer(server, Buffer.from(hex, 'hex'));
    }
  } catch {
    // An unreadable pin file pins nothing; the next login pins afresh.
  }
  rmSync(path, { force: true });
}
