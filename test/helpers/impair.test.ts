import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImpairProxy, mulberry32, type Endpoint, type ImpairOptions } from './impair.js';
import { until } from './wait.js';

/** A bare UDP socket on loopback that records what it receives (and can echo it back). */
class Peer {
  readonly received: { bytes: Buffer; from: Endpoint }[] = [];
  private constructor(readonly socket: Socket, echo: boolean) {
    socket.on('message', (bytes, rinfo) => {
      this.received.push({ bytes, from: { address: rinfo.address, port: rinfo.port } });
      if (echo) socket.send(bytes, rinfo.port, rinfo.address);
    });
  }

  static async bind(echo = false): Promise<Peer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const peer = new Peer(socket, echo);
    open.push(peer);
    return peer;
  }

  get endpoint(): Endpoint {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  send(bytes: Uint8Array, to: Endpoint): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, to.port, to.address, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Sends in small batches, yielding to the event loop between them so the proxy and receiver
   * keep their buffers drained (libuv reads at most 32 datagrams per socket per loop turn).
   */
  async sendAll(datagrams: readonly Uint8Array[], to: Endpoint, batch = 16): Promise<void> {
    for (let i = 0; i < datagrams.length; i += batch) {
      await Promise.all(datagrams.slice(i, i + batch).map((d) => this.send(d, to)));
      await new Promise((r) => setImmediate(r));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const open: Peer[] = [];
const proxies: ImpairProxy[] = [];

async function proxy(options: ImpairOptions): Promise<ImpairProxy> {
  const p = await ImpairProxy.start(options);
  proxies.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all([...proxies.splice(0).map((p) => p.close()), ...open.splice(0).map((p) => p.close())]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Datagram `i`: a 4-byte big-endian sequence number, then `extra` filler bytes. */
function numbered(count: number, extra = (i: number) => i % 16): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const b = Buffer.alloc(4 + extra(i), i & 0xff);
    b.writeUInt32BE(i, 0);
    return b;
  });
}

const seqs = (peer: Peer) => peer.received.map((r) => r.bytes.readUInt32BE(0));

/** Client → proxy → target, one way; resolves once everything the proxy forwarded has arrived. */
async function oneWay(options: Omit<ImpairOptions, 'target'>, datagrams: readonly Buffer[]) {
  const [client, target] = await Promise.all([Peer.bind(), Peer.bind()]);
  const p = await proxy({ ...options, target: target.endpoint });
  await client.sendAll(datagrams, p.front);
  await until(() => p.stats.toTarget.received === datagrams.length, 'the proxy to receive every datagram');
  await until(() => p.pending === 0 && target.received.length === p.stats.toTarget.forwarded, 'the target to receive every forwarded datagram');
  return { p, client, target };
}

describe('ImpairProxy', () => {
  it('passes datagrams through both ways byte-identical with no impairment', async () => {
    const target = await Peer.bind(true);
    const client = await Peer.bind();
    const p = await proxy({ target: target.endpoint, seed: 1 });
    const rand = mulberry32(99);
    const sizes = [0, 1, 2, 1400, 8000, ...Array.from({ length: 195 }, () => Math.floor(rand() * 1500))];
    const sent = sizes.map((n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256))));
    await client.sendAll(sent, p.front);
    await until(() => client.received.length === sent.length, 'every echo back at the client');

    // Buffer.equals: deep toEqual over ~150 KB of bytes is needlessly slow.
    const same = (got: readonly { bytes: Buffer }[]) => got.length === sent.length && got.every((r, i) => r.bytes.equals(sent[i] as Buffer));
    expect(same(target.received)).toBe(true);
    expect(same(client.received)).toBe(true);
    expect(target.received.every((r) => r.from.port === p.back.port && r.from.address === '127.0.0.1')).toBe(true);
    expect(client.received.every((r) => r.from.port === p.front.port)).toBe(true);
    expect(p.client).toEqual(client.endpoint);
    for (const dir of ['toTarget', 'toClient'] as const) {
      expect(p.stats[dir]).toMatchObject({ received: 200, forwarded: 200, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 });
    }
  });

  it('loses about 20% of 2,000 datagrams at loss 0.2, and the count matches the stats', async () => {
    const n = 2000;
    const { p, target } = await oneWay({ loss: 0.2, seed: 1234 }, numbered(n));
    const got = seqs(target);
    const lossRate = (n - got.length) / n;
    expect(lossRate).toBeGreaterThan(0.16);
    expect(lossRate).toBeLessThan(0.24);
    expect(p.stats.toTarget.dropped).toBe(n - got.length);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual([...got].sort((a, b) => a - b)); // loss alone never reorders
  });

  it('replays the same drop pattern for the same seed, and a different one for another seed', async () => {
    const n = 1000;
    const a = await oneWay({ loss: 0.3, seed: 42 }, numbered(n));
    const b = await oneWay({ loss: 0.3, seed: 42 }, numbered(n));
    const c = await oneWay({ loss: 0.3, seed: 43 }, numbered(n));
    expect(a.p.seed).toBe(42);
    expect(seqs(b.target)).toEqual(seqs(a.target));
    expect(seqs(c.target)).not.toEqual(seqs(a.target));
    // Other impairments do not disturb the drop pattern: loss is always the first draw.
    const d = await oneWay({ loss: 0.3, corrupt: 0.5, duplicate: 0.2, seed: 42 }, numbered(n, () => 0));
    expect(d.p.stats.toTarget.dropped).toBe(a.p.stats.toTarget.dropped);
  });

  it('duplicates datagrams into identical extra copies', async () => {
    const n = 500;
    const sent = numbered(n);
    const { p, target } = await oneWay({ duplicate: 0.3, seed: 7 }, sent);
    const dup = p.stats.toTarget.duplicated;
    expect(dup).toBeGreaterThan(0.2 * n);
    expect(dup).toBeLessThan(0.4 * n);
    expect(target.received.length).toBe(n + dup);
    const copies = new Map<number, number>();
    for (const r of target.received) {
      const seq = r.bytes.readUInt32BE(0);
      expect(r.bytes).toEqual(sent[seq]);
      copies.set(seq, (copies.get(seq) ?? 0) + 1);
    }
    expect(copies.size).toBe(n);
    expect([...copies.values()].filter((c) => c === 2)).toHaveLength(dup);
  });

  it('reorders some datagrams but delivers each exactly once', async () => {
    const n = 300;
    const { p, target } = await oneWay({ reorder: 0.2, seed: 11 }, numbered(n));
    const got = seqs(target);
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(got).not.toEqual([...got].sort((a, b) => a - b));
    let overtaken = 0;
    let max = -1;
    for (const s of got) {
      if (s < max) overtaken++;
      max = Math.max(max, s);
    }
    expect(overtaken).toBeGreaterThan(0);
    expect(p.stats.toTarget.reordered).toBeGreaterThan(0.1 * n);
    expect(overtaken).toBeLessThanOrEqual(p.stats.toTarget.reordered);
  });

  it('corrupts 1–3 bits of some datagrams without changing their length', async () => {
    const n = 400;
    const sent = numbered(n, (i) => 1 + (i % 64));
    const { p, target } = await oneWay({ corrupt: 0.3, seed: 5 }, sent);
    // No delay, so loopback keeps the order and arrivals line up with what was sent.
    expect(target.received).toHaveLength(n);
    let changed = 0;
    target.received.forEach((r, i) => {
      const orig = sent[i] as Buffer;
      expect(r.bytes.length).toBe(orig.length);
      let bits = 0;
      for (let j = 0; j < orig.length; j++) {
        let x = (orig[j] as number) ^ (r.bytes[j] as number);
        for (; x; x &= x - 1) bits++;
      }
      expect(bits).toBeLessThanOrEqual(3);
      if (bits > 0) changed++;
    });
    expect(changed).toBe(p.stats.toTarget.corrupted);
    expect(changed).toBeGreaterThan(0.2 * n);
    expect(changed).toBeLessThan(0.4 * n);
  });

  it('applies per-direction settings and blackholes live with setOptions({ loss: 1 })', async () => {
    const target = await Peer.bind(true);
    const client = await Peer.bind();
    const p = await proxy({ target: target.endpoint, seed: 3, toClient: { loss: 0 }, toTarget: { delayMs: [1, 3] } });
    const batch = numbered(20);

    await client.sendAll(batch, p.front);
    await until(() => client.received.length === 20, 'echoes before going dark');

    p.setOptions({ loss: 1 });
    expect(p.settings('toClient').loss).toBe(1); // the shared field clears the per-direction override
    expect(p.settings('toTarget').delayMs).toEqual([1, 3]); // other overrides stay
    await client.sendAll(batch, p.front);
    await target.send(Buffer.from('unsolicited'), p.back); // target → client is dark too
    await sleep(60);
    expect(target.received).toHaveLength(20);
    expect(client.received).toHaveLength(20);
    expect(p.stats.toTarget.dropped).toBe(20);
    expect(p.stats.toClient.dropped).toBe(1);

    // Only the return path dark: the target still hears the client.
    p.setOptions({ loss: 0, toClient: { loss: 1 } });
    expect(p.describe()).toContain('toClient(loss=1');
    await client.sendAll(batch, p.front);
    await until(() => target.received.length === 40, 'the target to hear the client again');
    await sleep(30);
    expect(client.received).toHaveLength(20);

    p.setOptions({ toClient: { loss: 0 } });
    await client.sendAll(batch, p.front);
    await until(() => client.received.length === 40, 'echoes after coming back');
  });

  it('delays by delayMs and cancels pending deliveries on close', async () => {
    const [client, target] = await Promise.all([Peer.bind(), Peer.bind()]);
    const p = await proxy({ target: target.endpoint, seed: 9, delayMs: [40, 50] });
    const t0 = Date.now();
    await client.send(Buffer.from('late'), p.front);
    await until(() => target.received.length === 1, 'the delayed datagram');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(35);

    await client.send(Buffer.from('never'), p.front);
    await until(() => p.pending === 1, 'the datagram to be held');
    await p.close();
    expect(p.pending).toBe(0);
    await sleep(80);
    expect(target.received).toHaveLength(1);
    expect(p.stats.toTarget.forwarded).toBe(1);
  });

  it('exposes its seed and describes itself once on start', async () => {
    const lines: string[] = [];
    const p = await proxy({ target: { address: '127.0.0.1', port: 9 }, seed: 1234, loss: 0.2, duplicate: 0.1, log: (l) => lines.push(l) });
    expect(lines).toEqual([p.describe()]);
    expect(p.describe()).toMatch(/^impair seed=1234 front=\d+ back=\d+ target=127\.0\.0\.1:9 loss=0\.2 dup=0\.1 reorder=0 delay=0ms corrupt=0$/);

    const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const r = await proxy({ target: { address: '127.0.0.1', port: 9 } });
      expect(Number.isInteger(r.seed) && r.seed >= 0 && r.seed < 2 ** 32).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy).toHaveBeenCalledWith(r.describe());
      vi.stubEnv('QIM_IMPAIR_SEED', '777');
      expect((await proxy({ target: { address: '127.0.0.1', port: 9 }, log: false })).seed).toBe(777);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
    }

    await expect(ImpairProxy.start({ target: { address: '127.0.0.1', port: 9 }, loss: 1.5 })).rejects.toThrow(RangeError);
    await expect(ImpairProxy.start({ target: { address: '127.0.0.1', port: 9 }, toClient: { delayMs: [5, 1] } })).rejects.toThrow(RangeError);
    expect(() => p.setOptions({ corrupt: -0.1 })).toThrow(RangeError);
  });
});
