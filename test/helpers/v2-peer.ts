/**
 * A minimal qim-protocol client for server tests, built only from the codecs and crypto: it does
 * HELLO, LOGIN, heartbeats and LOGOUT by hand so tests can also send what a real client never would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ed25519KeyPair, sign, verify, x25519, x25519KeyPair, type KeyPair } from '../../src/crypto/keys.js';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import { decodeV2, encodeV2, loginSigned, presenceSigned, SESSION_MAC_OFFSET, welcomeSigned, type V2Message } from '../../src/protocol/v2/messages.js';
import { controlKey, sessionMac } from '../../src/crypto/control.js';
import { RawPeer } from './raw-peer.js';

type Welcome = Extract<V2Message, { type: 'welcome' }>;

export class V2Peer {
  counter = 0;
  session: Buffer | null = null;
  macKey: Buffer | null = null;
  lastLogin: Buffer | null = null;
  welcome: Welcome | null = null;

  private constructor(
    readonly raw: RawPeer,
    readonly serverPort: number,
    readonly identity: KeyPair,
  ) {}

  static async create(serverPort: number, opts: { address?: string; identity?: KeyPair } = {}): Promise<V2Peer> {
    return new V2Peer(await RawPeer.bind(opts.address ?? '127.0.0.1'), serverPort, opts.identity ?? ed25519KeyPair());
  }

  /** The next qim-protocol datagram received, decoded. */
  async next(type?: V2Message['type'], timeoutMs = 5000): Promise<V2Message> {
    const r = await this.raw.next((d) => {
      const m = decodeV2(d.bytes);
      return m.ok && (type === undefined || m.value.type === type);
    }, timeoutMs);
    const m = decodeV2(r.bytes);
    if (!m.ok) throw new Error('unreachable');
    return m.value;
  }

  async cookie(): Promise<{ nonce: Buffer; cookie: Buffer }> {
    const nonce = randomBytes(16);
    await this.raw.send(encodeV2({ type: 'hello', nonce }), this.serverPort);
    const m = await this.next('cookie');
    if (m.type !== 'cookie') throw new Error('no cookie');
    return { nonce, cookie: m.cookie };
  }

  /** Builds a signed LOGIN. */
  loginBytes(name: string, c: { nonce: Buffer; cookie: Buffer }, ephemeral: KeyPair, time = Date.now(), endpoint?: Endpoint): Buffer {
    const m = {
      type: 'login' as const,
      cookie: c.cookie,
      nonce: c.nonce,
      identity: this.identity.publicKey,
      ephemeral: ephemeral.publicKey,
      time,
      status: 'online' as const,
      name,
      endpoint: endpoint ?? { address: this.raw.address, port: this.raw.port },
      signature: Buffer.alloc(64),
    };
    return encodeV2({ ...m, signature: sign(this.identity, loginSigned(m)) });
  }

  /** Logs in and checks the WELCOME's signature; returns the WELCOME. */
  async login(name: string, serverIdentity?: Buffer): Promise<Welcome> {
    const c = await this.cookie();
    const eph = x25519KeyPair();
    const bytes = this.loginBytes(name, c, eph);
    this.lastLogin = bytes;
    await this.raw.send(bytes, this.serverPort);
    const m = await this.next();
    if (m.type !== 'welcome') throw new Error(`login refused: ${JSON.stringify(m)}`);
    const signed = Buffer.concat([welcomeSigned(m), createHash('sha256').update(bytes).digest()]);
    if (!verify(m.serverIdentity, signed, m.signature)) throw new Error('bad WELCOME signature');
    if (serverIdentity && !m.serverIdentity.equals(serverIdentity)) throw new Error('unexpected server key');
    const shared = x25519(eph, m.serverEphemeral);
    if (shared === null) throw new Error('bad server ephemeral');
    this.session = m.session;
    this.macKey = controlKey(shared, bytes);
    this.welcome = m;
    return m;
  }

  /** True when `bytes` is a PRESENCE or LIST-HOLD of this session's server run: its epoch, signed by its key. */
  fromServer(bytes: Buffer): boolean {
    const d = decodeV2(bytes);
    if (!d.ok || (d.value.type !== 'presence' && d.value.type !== 'list-hold') || this.welcome === null) return false;
    return d.value.epoch.equals(this.welcome.epoch) && verify(this.welcome.serverIdentity, presenceSigned(bytes), d.value.signature);
  }

  /** A MAC'd session message (heartbeat, logout, list request) with the next counter, or the given one, naming list version `listVersion`. */
  sessionBytes(type: 'heartbeat' | 'logout' | 'list-request', counter = ++this.counter, key = this.macKey, listVersion = 0): Buffer {
    if (this.session === null || key === null) throw new Error('not logged in');
    const out = encodeV2({ type, session: this.session, counter, listVersion, mac: Buffer.alloc(16) });
    sessionMac(key, out).copy(out, SESSION_MAC_OFFSET);
    return out;
  }

  send(bytes: Buffer): Promise<void> {
    return this.raw.send(bytes, this.serverPort);
  }

  close(): Promise<void> {
    return this.raw.close();
  }
}
