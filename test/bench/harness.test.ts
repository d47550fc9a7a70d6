/**
 * The benchmark harness itself works (npm run bench is not part of npm test): a small login storm
 * against each implementation completes every list, the measurements come back, and the chart is
 * well-formed SVG. Nothing here asserts speed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { framesOf } from '../../bench/users/v2-user.js';
import { frameDatagrams, splitFrames } from '../../src/protocol/v2/stream.js';
import { runStorm, STORM_IMPLS } from '../../bench/scenarios/login-storm.js';
import { convergenceSvg } from '../../bench/lib/svg.js';
import { percentile, table } from '../../bench/lib/stats.js';
import { Bitset } from '../../bench/users/common.js';
import { scanPresence } from '../../bench/users/presence-scan.js';
import { encodeV2, type PresenceEntry } from '../../src/protocol/v2/messages.js';

/** Tags open and closed in order (a small well-formedness check; the chart has no text nodes with `<`). */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name = '', selfClosing] = m;
    if (selfClosing === '/') continue;
    if (close === '/') {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0;
}

describe('benchmark harness', () => {
  for (const impl of STORM_IMPLS) {
    it(`a login storm of 50 ${impl} users completes every list`, async () => {
      const run = await runStorm({ impl, n: 50, deadlineMs: 30_000 });
      expect(run.completed).toBe(50);
      expect(Number.isFinite(run.convergeMs)).toBe(true);
      expect(run.server.online).toBe(50);
      expect(run.server.traffic.datagramsOut).toBeGreaterThan(0);
      expect(run.server.cpuUserMs + run.server.cpuSystemMs).toBeGreaterThan(0);
      expect(run.server.peakRss).toBeGreaterThan(0);
      // The CPU budget: the users' processes and the whole machine were busy during the storm.
      expect(run.usersCpuMs).toBeGreaterThan(0);
      expect(run.machineBusyMs).toBeGreaterThan(0);
      expect(run.cpuFloorMs).toBeLessThan(run.machineBusyMs);
      // The server's loop ran its timers, however late; the accept queue's counter was read.
      expect(run.server.loopDelayMaxMs).toBeGreaterThan(0);
      expect(run.server.loopDelayMaxMs).toBeGreaterThanOrEqual(run.server.loopDelayP99Ms);
      expect(run.listenOverflows).toBeGreaterThanOrEqual(0);
    }, 120_000);
  }

  it('a qim storm of 150 users, large enough for a hold, completes every list through it', async () => {
    const run = await runStorm({ impl: 'qim', n: 150, deadlineMs: 30_000, limits: { presenceBatchMs: 500 } });
    expect(run.completed).toBe(150);
    expect(run.clientStats.holds).toBeGreaterThan(0);
  }, 120_000);

  it('keeps everyone online after a storm and reports what the steady phase cost', async () => {
    // Heartbeats every 250 ms and a 1.5 s lease: over a 2 s steady phase, a user the server stopped
    // hearing would expire.
    const run = await runStorm({ impl: 'qim', n: 50, deadlineMs: 30_000, steadyMs: 2000, limits: { heartbeatMs: 250, leaseMs: 1500 } });
    expect(run.completed).toBe(50);
    const s = run.steady;
    expect(s).toBeDefined();
    expect(s?.serverOnline).toBe(50);
    expect(s?.usersOnline).toBe(50);
    expect(s?.listsComplete).toBe(50);
    expect(Object.values(s?.leaves ?? { missing: 1 }).reduce((a, b) => a + b, 0)).toBe(0);
    expect(s?.retries).toBe(0);
    // About 200 heartbeats a second come in, each acknowledged.
    expect(s?.datagramsInPerSecond).toBeGreaterThan(50);
    expect(s?.datagramsOutPerSecond).toBeGreaterThan(50);
    expect(s?.ms).toBeGreaterThanOrEqual(2000);
  }, 120_000);

  it('reads TCP frames across chunks as they came, as one stream would be read', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 1200 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 3000 })), (datagrams, cuts) => {
        const stream = frameDatagrams(datagrams);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const n of cuts) if (at < stream.length) chunks.push(stream.subarray(at, (at += n)));
        if (at < stream.length) chunks.push(stream.subarray(at));
        expect(framesOf(chunks)).toEqual(splitFrames(stream));
        if (stream.length > 1) expect(framesOf([stream.subarray(0, stream.length - 1)])).toBeNull();
      }),
    );
  });

  it('writes the convergence chart as well-formed SVG with one curve per implementation', () => {
    const svg = convergenceSvg(
      'Login storm: 3 users <test> & more',
      [
        { label: 'qim', completeAt: Float64Array.from([12, 30, 45]), total: 3 },
        { label: 'naive', completeAt: Float64Array.from([200, Number.NaN, 4000]), total: 3 },
      ],
      10_000,
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('&#60;test&#62; &#38; more');
    expect(svg).toContain('naive (66.7%)');
    expect(svg).not.toContain('NaN');
  });

  it('reads PRESENCE entries without decoding them, as the protocol encodes them', () => {
    const entries: PresenceEntry[] = [
      { op: 'upsert', name: 'u7', protocol: 'qim', status: 'online', fingerprint: Buffer.alloc(16, 1), endpoint: { address: '127.1.0.1', port: 4000 }, privateEndpoint: { address: '::1', port: 4001 } } as PresenceEntry,
      { op: 'remove', name: 'u9' },
    ];
    const bytes = encodeV2({ type: 'presence', epoch: Buffer.alloc(8), fromVersion: 1, toVersion: 3, part: 0, parts: 1, entries, signature: Buffer.alloc(64) });
    const seen: string[] = [];
    expect(scanPresence(bytes, (up, at, len) => seen.push(`${up ? '+' : '-'}${bytes.toString('utf8', at, at + len)}`))).toBe(true);
    expect(seen).toEqual(['+u7', '-u9']);
  });

  it('keeps its small helpers honest', () => {
    const b = new Bitset(10);
    b.add(3);
    b.add(3);
    b.add(9);
    b.delete(4);
    expect(b.count).toBe(2);
    expect(percentile([5, 1, Number.NaN, 3], 50)).toBe(3);
    expect(table(['a', 'b'], [['x', '1']]).split('\n')).toHaveLength(3);
  });
});
