/**
 * One side of the peer-messaging scenario, in its own process: a qim `PeerSession` (handshake,
 * ChaCha20-Poly1305, acknowledged and ordered delivery) or, as the baseline, raw UDP.
 *
 * The responder echoes (ping-pong) or just receives (throughput); the initiator measures.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ed25519KeyPair, type KeyPair } from '../src/crypto/keys.js';
import { PeerSession, type PeerSessionDeps } from '../src/client/peer-session.js';
import type { Endpoint } from '../src/protocol/endpoint.js';
import { decodeV2 } from '../src/protocol/v2/messages.js';
import { serve } from './lib/rpc.js';

export type PeerImpl = 'qim' | 'raw';

let impl: PeerImpl = 'raw';
let socket: Socket | null = null;
let identity: KeyPair = ed25519KeyPair();
let peerKey = Buffer.alloc(32);
let target: Endpoint = { address: '127.0.0.1', port: 0 };
let echo = true;
const sessions = new Map<number, PeerSession>();
let onRaw: ((bytes: Buffer, from: RemoteInfo) => void) | null = null;

function deps(): PeerSessionDeps {
  return {
    identity,
    name: 'bench',
    peerKey,
    // Straight to the peer: there is no relay between two processes on one host.
    send: (bytes: Buffer, to: Endpoint | 'relay') => {
      if (to !== 'relay') socket?.send(bytes, to.port, to.address);
    },
    now: () => performance.now(),
  };
}

function receive(bytes: Buffer, from: RemoteInfo): void {
  if (impl === 'raw') {
    if (onRaw !== null) onRaw(bytes, from);
    else if (echo) socket?.send(bytes, from.port, from.address);
    return;
  }
  const d = decodeV2(bytes);
  if (!d.ok) return;
  const m = d.value;
  const ep = { address: from.address, port: from.port };
  if (m.type === 'handshake-init') {
    for (const s of sessions.values()) if (s.answered(m.sender)) return s.resendResponse();
    const s = PeerSession.respond(deps(), m, ep);
    if (typeof s === 'string') return;
    sessions.set(s.localIndex, s);
    s.on('message', ({ text }) => {
      if (echo) s.send(text);
    });
  } else if (m.type === 'handshake-response') {
    sessions.get(m.receiver)?.onResponse(m);
  } else if (m.type === 'data') {
    sessions.get(m.receiver)?.onData(m, ep);
  }
}

/** Starts a qim session to the target and waits until it is established. */
async function session(): Promise<PeerSession> {
  const s = PeerSession.initiate(deps(), target);
  sessions.set(s.localIndex, s);
  await new Promise<void>((resolve, reject) => {
    s.once('state', (st) => (st === 'established' ? resolve() : reject(new Error(`handshake ${st}`))));
  });
  return s;
}

/** Waits for the echo of `text` (qim) or of `bytes` (raw), up to `timeoutMs`; resolves with the RTT or NaN. */
function roundTrip(s: PeerSession | null, text: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(Number.NaN), timeoutMs);
    const done = (rtt: number): void => {
      clearTimeout(timer);
      if (s !== null) s.off('message', onMessage);
      onRaw = null;
      resolve(rtt);
    };
    const onMessage = (m: { text: string }): void => {
      if (m.text === text) done(performance.now() - t0);
    };
    if (s !== null) {
      s.on('message', onMessage);
      s.send(text);
    } else {
      onRaw = (bytes) => {
        if (bytes.toString() === text) done(performance.now() - t0);
      };
      socket?.send(Buffer.from(text), target.port, target.address);
    }
  });
}

serve({
  async open(arg: { impl: PeerImpl }): Promise<{ port: number; key: Buffer }> {
    impl = arg.impl;
    identity = ed25519KeyPair();
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    socket = s;
    s.on('message', receive);
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    return { port: s.address().port, key: identity.publicKey };
  },

  /** Where to send, the peer's key, and (responder) whether to echo. */
  peer(arg: { target: Endpoint; key: Buffer; echo: boolean }): void {
    target = arg.target;
    peerKey = Buffer.from(arg.key);
    echo = arg.echo;
  },

  /** `count` round trips one after another (after `warmup` unmeasured ones); RTTs in ms, NaN for lost. */
  async pingpong(arg: { count: number; warmup: number; timeoutMs: number }): Promise<{ rtts: Float64Array; elapsedMs: number }> {
    const s = impl === 'qim' ? await session() : null;
    for (let i = 0; i < arg.warmup; i++) await roundTrip(s, `w${i}`, arg.timeoutMs);
    const rtts = new Float64Array(arg.count);
    const t0 = performance.now();
    for (let i = 0; i < arg.count; i++) rtts[i] = await roundTrip(s, `p${i}`, arg.timeoutMs);
    const elapsedMs = performance.now() - t0;
    s?.close();
    return { rtts, elapsedMs };
  },

  /**
   * Messages for `durationMs` with up to `window` unresolved at once: qim counts deliveries
   * (acknowledged by the peer), raw counts echoes (a datagram not echoed within 200 ms is lost).
   */
  async throughput(arg: { durationMs: number; window: number }): Promise<{ delivered: number; failed: number; elapsedMs: number }> {
    let delivered = 0;
    let failed = 0;
    let open = 0;
    const end = performance.now() + arg.durationMs;
    const t0 = performance.now();
    if (impl === 'qim') {
      const s = await session();
      await new Promise<void>((resolve) => {
        const fill = (): void => {
          while (open < arg.window && performance.now() < end) {
            open++;
            s.send('m'.repeat(64));
          }
          if (open === 0) resolve();
        };
        s.on('delivery', (d) => {
          open--;
          if (d.state === 'delivered') delivered++;
          else failed++;
          fill();
        });
        fill();
      });
      s.close();
    } else {
      const outstanding = new Map<number, NodeJS.Timeout>();
      let next = 0;
      await new Promise<void>((resolve) => {
        const fill = (): void => {
          while (outstanding.size < arg.window && performance.now() < end) {
            const id = next++;
            outstanding.set(
              id,
              setTimeout(() => {
                outstanding.delete(id);
                failed++;
                fill();
              }, 200),
            );
            socket?.send(Buffer.from(`${id}`.padEnd(64, ' ')), target.port, target.address);
          }
          if (outstanding.size === 0) resolve();
        };
        onRaw = (bytes) => {
          const id = Number(bytes.toString().trim());
          const timer = outstanding.get(id);
          if (timer === undefined) return;
          clearTimeout(timer);
          outstanding.delete(id);
          delivered++;
          fill();
        };
        fill();
      });
      onRaw = null;
    }
    return { delivered, failed, elapsedMs: performance.now() - t0 };
  },
});
