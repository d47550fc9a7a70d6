/**
 * Self-tests of the test internet (helpers/netns.ts) with plain UDP sockets, no qim: the NATs map
 * and filter as the punching and relay tests assume, and teardown leaves nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { killAllQim } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';
import { buildInternet, NAT_PORTS, useInternet, type Host, type Internet } from './helpers/netns.js';
import { listNamespaces, removeLeftovers } from './helpers/sys.js';
import type { AgentSocket } from './helpers/udp.js';

const ECHO_PORT = 7000;

/** Polls `read` until it returns more than `before`. */
async function risesAbove(read: () => Promise<number>, before: number, what: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await read();
    if (now > before) return now;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (still ${now})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

describe('the test internet', () => {
  // h1 behind nat1 and h3 behind nat3 map endpoint-independently; h2 (nat2) and h4 (nat4) symmetrically.
  const internet = useInternet({
    nats: [{ kind: 'endpoint-independent' }, { kind: 'symmetric' }, { kind: 'endpoint-independent' }, { kind: 'symmetric' }],
    publicHosts: 2,
  });

  /** Echo sockets (they answer `seen ADDRESS:PORT`) on the server and both public hosts. */
  async function echoes(net: Internet): Promise<string[]> {
    const places = [net.server, ...net.publicHosts];
    await Promise.all(places.map(async (p) => (await net.udpAgent(p)).bind({ port: ECHO_PORT, echo: true })));
    return places.map((p) => `${p.address}:${ECHO_PORT}`);
  }

  async function socketOn(net: Internet, host: Host): Promise<AgentSocket> {
    return (await net.udpAgent(host)).bind();
  }

  it('an endpoint-independent NAT shows one public address and port to every destination, a new one once its bindings expire', async () => {
    const net = internet();
    const [h1] = net.hosts;
    if (h1 === undefined) throw new Error('no h1');
    const targets = await echoes(net);
    const sock = await socketOn(net, h1);

    const seen = await Promise.all(targets.map((t) => sock.observedBy(t)));
    const first = seen[0] ?? '';
    expect(first.startsWith(`${h1.nat.address}:`)).toBe(true);
    expect(portOf(first)).toBeGreaterThanOrEqual(NAT_PORTS.min);
    expect(portOf(first)).toBeLessThanOrEqual(NAT_PORTS.max);
    expect(portOf(first)).not.toBe(sock.port);
    expect(seen).toEqual(targets.map(() => first));

    // The router's table agrees: one private socket, one public endpoint, three far ends.
    const bindings = (await h1.nat.bindings()).filter((b) => b.private === `${h1.address}:${sock.port}`);
    expect(bindings.map((b) => b.remote).sort()).toEqual([...targets].sort());
    expect(new Set(bindings.map((b) => b.public))).toEqual(new Set([first]));

    // Expired bindings: the next datagram gets a fresh random port (twice, so a chance repeat of
    // the same port out of 10,000 cannot fail the test).
    const ports = new Set([portOf(first)]);
    for (let i = 0; i < 2; i++) {
      await h1.nat.expireBindings(h1);
      expect(await h1.nat.bindings()).toEqual([]);
      const again = await sock.observedBy(targets[0] ?? '');
      expect(again.startsWith(`${h1.nat.address}:`)).toBe(true);
      ports.add(portOf(again));
    }
    expect(ports.size).toBeGreaterThan(1);
  });

  it('a symmetric NAT shows a different public port to each destination', async () => {
    const net = internet();
    const h2 = net.hosts[1];
    if (h2 === undefined) throw new Error('no h2');
    expect(h2.nat.kind).toBe('symmetric');
    const targets = await echoes(net);
    const sock = await socketOn(net, h2);

    const seen = await Promise.all(targets.map((t) => sock.observedBy(t)));
    for (const s of seen) expect(s.startsWith(`${h2.nat.address}:`)).toBe(true);
    // Three random ports out of 10,000: all equal once in 10^8 runs.
    expect(new Set(seen).size).toBeGreaterThan(1);
    // And asking the same destination again keeps its binding (a NAT is not a random source).
    expect(await sock.observedBy(targets[0] ?? '')).toBe(seen[0]);
  });

  it('drops unsolicited datagrams to a NATed host, and lets the answers in once the host has sent to that peer', async () => {
    const net = internet();
    const [h1] = net.hosts;
    const pub1 = net.publicHosts[0];
    if (h1 === undefined || pub1 === undefined) throw new Error('no h1 or pub1');
    const [serverEcho] = await echoes(net);
    const sock = await socketOn(net, h1);
    const mapped = await sock.observedBy(serverEcho ?? '');
    const peer = await (await net.udpAgent(pub1)).bind({ port: 7100 });

    // The peer knows h1's public endpoint (as the server would tell it) but h1 never sent to it.
    const dropped = await h1.nat.droppedInbound();
    await peer.send(mapped, 'unsolicited', { count: 3 });
    await risesAbove(() => h1.nat.droppedInbound(), dropped + 2, 'nat1 to drop the 3 unsolicited datagrams');
    expect(sock.received.filter((m) => m.data === 'unsolicited')).toEqual([]);

    // h1 sends to the peer: the peer sees the same public endpoint (endpoint-independent), and its
    // datagrams now come in.
    await sock.send(`${pub1.address}:7100`, 'hello from h1');
    const out = await peer.waitForMessage((m) => m.data === 'hello from h1');
    expect(out.from).toBe(mapped);
    await peer.send(mapped, 'answer');
    expect(await sock.waitForMessage((m) => m.data === 'answer')).toEqual({ from: `${pub1.address}:7100`, data: 'answer' });
  });

  /**
   * Both hosts learn their public endpoint from the server's echo, then send to each other's at
   * the same time (20 datagrams, 50 ms apart), as qim's introduction will have them do.
   */
  async function punch(net: Internet, a: Host, b: Host): Promise<{ sa: AgentSocket; sb: AgentSocket; pa: string; pb: string }> {
    const [serverEcho] = await echoes(net);
    const [sa, sb] = await Promise.all([socketOn(net, a), socketOn(net, b)]);
    const [pa, pb] = await Promise.all([sa.observedBy(serverEcho ?? ''), sb.observedBy(serverEcho ?? '')]);
    await Promise.all([sa.send(pb, `punch from ${a.label}`, { count: 20, intervalMs: 50 }), sb.send(pa, `punch from ${b.label}`, { count: 20, intervalMs: 50 })]);
    return { sa, sb, pa, pb };
  }

  it('two hosts behind two endpoint-independent NATs punch a hole by sending to each other at once', async () => {
    const net = internet();
    const [h1, , h3] = net.hosts;
    if (h1 === undefined || h3 === undefined) throw new Error('no h1 or h3');
    const { sa, sb, pa, pb } = await punch(net, h1, h3);
    // Each sees the other's datagrams, from the very endpoint the server saw.
    expect((await sa.waitForMessage((m) => m.data === 'punch from h3')).from).toBe(pb);
    expect((await sb.waitForMessage((m) => m.data === 'punch from h1')).from).toBe(pa);
    // And the hole stays open both ways.
    await sa.send(pb, 'through the hole');
    expect((await sb.waitForMessage((m) => m.data === 'through the hole')).from).toBe(pa);
  });

  it('two hosts behind two symmetric NATs cannot punch a hole: each NAT drops the other\'s datagrams', async () => {
    const net = internet();
    const [, h2, , h4] = net.hosts;
    if (h2 === undefined || h4 === undefined) throw new Error('no h2 or h4');
    const before = await Promise.all([h2.nat.droppedInbound(), h4.nat.droppedInbound()]);
    const { sa, sb } = await punch(net, h2, h4);
    // The datagrams did reach the other NAT (its drop counter rose by at least the 20 sent)...
    await risesAbove(() => h2.nat.droppedInbound(), (before[0] ?? 0) + 19, 'nat2 to drop what h4 sent');
    await risesAbove(() => h4.nat.droppedInbound(), (before[1] ?? 0) + 19, 'nat4 to drop what h2 sent');
    // ...and none got through.
    expect(sa.received.filter((m) => m.data.startsWith('punch'))).toEqual([]);
    expect(sb.received.filter((m) => m.data.startsWith('punch'))).toEqual([]);
  });

  it('a host that changes address (new network) gets a new public endpoint; one moved to another NAT is seen at that NAT', async () => {
    const net = internet();
    const [h1, , h3] = net.hosts;
    if (h1 === undefined || h3 === undefined) throw new Error('no h1 or h3');
    const [serverEcho] = await echoes(net);
    const sock = await socketOn(net, h1); // bound to 0.0.0.0: it survives address changes
    const before = await sock.observedBy(serverEcho ?? '');
    const oldAddress = h1.address;

    const moved = await h1.changeAddress();
    expect(moved).not.toBe(oldAddress);
    expect(h1.address).toBe(moved);
    const after = await sock.observedBy(serverEcho ?? '');
    expect(after.startsWith(`${h1.nat.address}:`)).toBe(true);
    // The old binding (toward the same echo) still holds its port, so the new one cannot reuse it.
    expect(after).not.toBe(before);
    expect((await h1.nat.bindings()).some((b) => b.private.startsWith(`${moved}:`) && b.public === after)).toBe(true);

    const nat1 = h1.nat;
    await h1.changeAddress({ nat: h3.nat });
    try {
      expect(h1.address.startsWith('192.168.3.')).toBe(true);
      expect((await sock.observedBy(serverEcho ?? '')).startsWith(`${h3.nat.address}:`)).toBe(true);
      await h1.setLink(false);
      await expect(sock.send(serverEcho ?? '', 'down')).rejects.toThrow();
      await h1.setLink(true);
      expect((await sock.observedBy(serverEcho ?? '')).startsWith(`${h3.nat.address}:`)).toBe(true);
    } finally {
      await h1.changeAddress({ nat: nat1 });
    }
  });

  it('a capture on the server holds what crossed, with addresses as the server sees them', async () => {
    const net = internet();
    const [h1] = net.hosts;
    if (h1 === undefined) throw new Error('no h1');
    const [serverEcho] = await echoes(net);
    const capture = await net.capture(net.server);
    const sock = await socketOn(net, h1);
    const mapped = await sock.observedBy(serverEcho ?? '');
    await sock.send(serverEcho ?? '', 'secret 机密');
    await sock.waitForMessage((m) => m.data === `seen ${mapped}` && sock.received.length >= 2);
    const { pcap, udp } = await capture.stop();
    expect(pcap.includes(Buffer.from('secret 机密'))).toBe(true);
    const fromHost = udp.filter((d) => d.src === mapped && d.dst === serverEcho);
    expect(fromHost.map((d) => d.payload.toString())).toContain('secret 机密');
    expect(udp.some((d) => d.src === serverEcho && d.dst === mapped && d.payload.toString() === `seen ${mapped}`)).toBe(true);
    // No private address ever reaches the internet.
    expect(udp.some((d) => d.src.startsWith('192.168.') || d.dst.startsWith('192.168.'))).toBe(false);
  });
});

describe('binding timeout', () => {
  it('a NAT with bindingTimeoutSeconds forgets an idle binding after that long, and keeps one in use', async () => {
    const net = await buildInternet({ nats: [{ kind: 'endpoint-independent', bindingTimeoutSeconds: 2 }] });
    try {
      const [h1] = net.hosts;
      if (h1 === undefined) throw new Error('no h1');
      await (await net.udpAgent(net.server)).bind({ port: ECHO_PORT, echo: true });
      const sock = await (await net.udpAgent(h1)).bind();
      const echo = `${net.server.address}:${ECHO_PORT}`;
      const mapped = await sock.observedBy(echo);
      const binding = (await h1.nat.bindings()).find((b) => b.public === mapped);
      expect(binding?.expiresIn).toBeLessThanOrEqual(2);
      // Kept alive by a datagram every 500 ms for 3 s (longer than the timeout): the same mapping.
      await sock.send(echo, 'keepalive', { count: 6, intervalMs: 500 });
      expect((await h1.nat.bindings()).some((b) => b.public === mapped)).toBe(true);
      // Then idle: gone within the timeout (plus conntrack's garbage-collection lag).
      const idleSince = Date.now();
      for (;;) {
        if ((await h1.nat.bindings()).length === 0) break;
        if (Date.now() - idleSince > 10_000) throw new Error('the idle binding did not expire within 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(Date.now() - idleSince).toBeGreaterThan(1000);
    } finally {
      await killAllQim();
      await net.destroy();
    }
  });
});

describe('teardown', () => {
  it('leaves no namespace behind, even with processes still running inside', async () => {
    const net = await buildInternet({ nats: [{ kind: 'symmetric' }] });
    const ours = (): string[] => listNamespaces().filter((n) => n.startsWith(`${net.id}-`));
    expect(ours().sort()).toEqual([`${net.id}-h1`, `${net.id}-inet`, `${net.id}-nat1`, `${net.id}-server`]);
    const agent = await net.udpAgent(net.hosts[0] ?? net.server);
    await agent.bind();
    await net.destroy();
    expect(agent.process.hasExited).toBe(true);
    expect(ours()).toEqual([]);
    await net.destroy(); // idempotent
  });

  it('removes the namespaces a killed run left behind, and only those', async () => {
    // A pid that is surely gone: a process that already exited.
    const dead = spawnSync('true').pid;
    const leftover = `qn${dead}-1-server`;
    spawnSync('ip', ['netns', 'add', leftover]);
    const net = await buildInternet();
    try {
      expect(listNamespaces()).toContain(leftover);
      expect(removeLeftovers()).toContain(leftover);
      expect(listNamespaces()).not.toContain(leftover);
      // Ours (a live process's) are kept.
      expect(listNamespaces()).toContain(`${net.id}-server`);
    } finally {
      spawnSync('ip', ['netns', 'del', leftover], { stdio: 'ignore' });
      await net.destroy();
    }
    await until(() => !listNamespaces().some((n) => n.startsWith(`${net.id}-`)), 'our namespaces to go');
  });
});
