/**
 * The server's HTTP face on real sockets: `/healthz`, `/metrics` moving with a real classic login,
 * the page (escaped, locked down by its headers), the live event stream, and every bound.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { trailingMac } from '../../src/crypto/control.js';
import { encodeV2, type Status } from '../../src/protocol/v2/messages.js';
import { QimServer } from '../../src/index.js';
import { Dashboard, type DashboardOptions } from '../../src/server/http/dashboard.js';
import type { LogEntry } from '../../src/server/http/event-log.js';
import type { PresenceChange, Snapshot } from '../../src/server/http/view.js';
import { fetchText, SseReader } from '../helpers/http.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';
import { V2Peer } from '../helpers/v2-peer.js';
import { until } from '../helpers/wait.js';

// Each test starts its own server and dashboard, with the options it needs.
let server: QimServer | undefined;
let dashboard: Dashboard | undefined;
let port: number;
let url: string;
const peers: RawPeer[] = [];
const streams: SseReader[] = [];

async function start(options: DashboardOptions = {}): Promise<{ server: QimServer; dashboard: Dashboard }> {
  const s = new QimServer({ host: '127.0.0.1', port: 0 });
  const d = new Dashboard(s, options);
  server = s;
  dashboard = d;
  await d.listen();
  await s.start();
  port = s.endpoint.port;
  url = d.url;
  return { server: s, dashboard: d };
}

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.bind('127.0.0.1');
  peers.push(p);
  return p;
}

async function stream(): Promise<SseReader> {
  const s = await SseReader.open(`${url}events`);
  streams.push(s);
  return s;
}

/** Sends a MAC'd STATUS from a logged-in qim peer, as a real client does. */
async function setStatus(peer: V2Peer, status: Status): Promise<void> {
  if (peer.session === null || peer.macKey === null) throw new Error('not logged in');
  const out = encodeV2({ type: 'status', session: peer.session, counter: ++peer.counter, status, mac: Buffer.alloc(16) });
  trailingMac(peer.macKey, out).copy(out, out.length - 16);
  await peer.send(out);
}

/** The samples of a Prometheus exposition, by series (`name{labels}`); checks every line's shape. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE (qim_[a-z_]+) (counter|gauge)$/.exec(line);
    if (type?.[1] !== undefined && type[2] !== undefined) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('# HELP qim_')) continue;
    const m = /^(qim_[a-z_]+)(\{[a-z]+="[^"\\\n]*"\})? (\d+(?:\.\d+)?)$/.exec(line);
    expect(m, `a sample line: ${line}`).not.toBeNull();
    const [, name = '', labels = '', value = ''] = m ?? [];
    const type2 = types.get(name);
    expect(type2, `TYPE before ${name}`).toBeDefined();
    if (type2 === 'counter') expect(name).toMatch(/_total$/);
    samples.set(`${name}${labels}`, Number(value));
  }
  return samples;
}

afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await server?.stop();
  await dashboard?.close();
  server = dashboard = undefined;
});

describe('dashboard HTTP', () => {
  it('/healthz answers ok while the server runs, and says when it does not', async () => {
    const { server } = await start();
    const reply = await fetchText(`${url}healthz`);
    expect(reply).toMatchObject({ status: 200, body: 'ok\n' });
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
    await server.stop();
    expect(await fetchText(`${url}healthz`)).toMatchObject({ status: 503, body: 'stopped\n' });
  });

  it('/metrics counts a real classic login, its datagrams and a drop, without naming anyone', async () => {
    const { server } = await start();
    const before = await fetchText(`${url}metrics`);
    expect(before.status).toBe(200);
    expect(before.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m0 = parseMetrics(before.body);
    expect(m0.get('qim_online_users{protocol="classic"}')).toBe(0);
    expect(m0.get('qim_online_users{protocol="qim"}')).toBe(0);
    expect(m0.get('qim_logins_total')).toBe(0);
    expect(m0.get('qim_drops_total{reason="unknown-command"}')).toBe(0);
    expect(m0.get('qim_dashboard_clients')).toBe(0);

    const alice = await peer();
    await rawLogin(alice, 'alice-metrics', port);
    await alice.send('hello', port);
    await until(() => server.counters.drops['unknown-command'] === 1, 'the drop');

    const after = await fetchText(`${url}metrics`);
    const m1 = parseMetrics(after.body);
    expect(m1.get('qim_online_users{protocol="classic"}')).toBe(1);
    expect(m1.get('qim_logins_total')).toBe(1);
    expect(m1.get('qim_lists_sent_total')).toBe(1);
    expect(m1.get('qim_tcp_connections_total')).toBe(1);
    expect(m1.get('qim_datagrams_received_total')).toBe(2);
    expect(m1.get('qim_received_bytes_total')).toBe(server.counters.bytesIn);
    expect(m1.get('qim_datagrams_sent_total')).toBe(1); // the Accept
    expect(m1.get('qim_sent_bytes_total')).toBeGreaterThan(0);
    expect(m1.get('qim_drops_total{reason="unknown-command"}')).toBe(1);
    expect(m1.get('qim_start_time_seconds')).toBeGreaterThan(1.6e9);
    expect(after.body).not.toContain('alice');

    await alice.send(`logout,alice-metrics,${alice.endpoint}`, port);
    await until(() => server.directory.size === 0, 'the logout');
    const m2 = parseMetrics((await fetchText(`${url}metrics`)).body);
    expect(m2.get('qim_logouts_total')).toBe(1);
    expect(m2.get('qim_online_users{protocol="classic"}')).toBe(0);
  });

  it('answers 404 to unknown paths and 405 to anything but GET and HEAD', async () => {
    await start();
    for (const path of ['nope', 'metrics/', 'index.html', '..%2Fetc%2Fpasswd', 'events/x']) {
      expect((await fetchText(`${url}${path}`)).status, path).toBe(404);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const reply = await fetchText(`${url}metrics`, { method });
      expect(reply.status, method).toBe(405);
      expect(reply.headers.allow).toBe('GET, HEAD');
    }
    const head = await fetchText(`${url}healthz`, { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    // A query string does not change the resource.
    expect((await fetchText(`${url}healthz?x=<y>`)).body).toBe('ok\n');
  });

  it('serves a page with a heading, labelled regions, a strict CSP and no inline script', async () => {
    await start();
    const page = await fetchText(url);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self'(;|$)/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toMatch(/<h1>qim server<\/h1>/);
    expect(page.body).toMatch(/<ul id="users" aria-label="Online users"/);
    expect(page.body).toMatch(/<section id="activity" aria-labelledby="log-heading">/);
    expect(page.body).toMatch(/<div role="log" aria-labelledby="log-heading">/);
    // Every script is a file of the same origin; nothing inline, no style attributes, no CDN.
    expect(page.body.match(/<script[^>]*>/g)).toEqual(['<script src="/dashboard.js" defer>']);
    expect(page.body).not.toMatch(/\sstyle=|\son[a-z]+=|https?:\/\//);

    for (const [path, type] of [
      ['dashboard.js', 'text/javascript; charset=utf-8'],
      ['dashboard.css', 'text/css; charset=utf-8'],
    ] as const) {
      const asset = await fetchText(`${url}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers['content-type']).toBe(type);
      expect(asset.headers['x-content-type-options']).toBe('nosniff');
      expect(asset.body).not.toMatch(/https?:\/\//);
    }
    expect((await fetchText(`${url}dashboard.js`)).body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('escapes a hostile name everywhere it shows on the page', async () => {
    await start();
    const hostile = '<script>alert(1)</script>';
    const other = `"'><img src=x onerror=1>&lt`; // no ';': names may not hold one
    await rawLogin(await peer(), hostile, port);
    await rawLogin(await peer(), other, port);
    const { body } = await fetchText(url);
    expect(body).not.toContain('<script>alert');
    expect(body).not.toContain('<img');
    expect(body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(body).toContain('&#34;&#39;&#62;&#60;img src=x onerror=1&#62;&#38;lt');
    // In the list (with its data attribute) and in the log's login lines.
    expect(body.match(/&#60;script&#62;alert\(1\)&#60;\/script&#62;/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('streams a login live, after a snapshot of who was already online and the recent log', async () => {
    const { dashboard } = await start();
    const bob = await peer();
    await rawLogin(bob, 'bob', port);

    const live = await stream();
    expect(live.response.statusCode).toBe(200);
    expect(live.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const snapshot = await live.next<Snapshot>('snapshot');
    expect(snapshot.online).toBe(1);
    expect(snapshot.users).toEqual([{ name: 'bob', endpoint: bob.endpoint, protocol: 'classic', status: 'online', since: expect.any(String) }]);
    expect(snapshot.log.map((e) => e.event)).toEqual(['started', 'login', 'broadcast', 'list-sent']);
    expect(snapshot.counters.counters.logins).toBe(1);
    await until(() => dashboard.clients === 1, 'the stream to be counted');

    const alice = await peer();
    await alice.send(`login,剑痴 <b>,${alice.endpoint}`, port);
    expect(await live.next<PresenceChange>('presence')).toEqual({
      op: 'upsert',
      user: { name: '剑痴 <b>', endpoint: alice.endpoint, protocol: 'classic', status: 'online', since: expect.any(String) },
      online: 2,
    });
    const login = await live.next<LogEntry>('log', (e) => e.event === 'login');
    expect(login).toMatchObject({ level: 'info', fields: { name: '剑痴 <b>', endpoint: alice.endpoint, protocol: 'classic', online: 2 } });
    expect(login.id).toBeGreaterThan(snapshot.log.at(-1)?.id ?? Infinity);
    expect(await live.next<LogEntry>('log', (e) => e.event === 'broadcast')).toMatchObject({
      fields: { kind: 'login', name: '剑痴 <b>', recipients: 1 },
    });
    const counters = await live.next<Snapshot['counters']>('counters', (c) => c.counters.logins === 2);
    expect(counters.online).toEqual({ classic: 2, qim: 0 });

    await bob.send(`logout,bob,${bob.endpoint}`, port);
    expect(await live.next<PresenceChange>('presence')).toEqual({ op: 'remove', name: 'bob', online: 1 });
    expect(await live.next<LogEntry>('log', (e) => e.event === 'logout')).toMatchObject({
      fields: { name: 'bob', endpoint: bob.endpoint, reason: 'logout', online: 1 },
    });
  });

  it('lists qim users with their status, and follows a status change (invisible included)', async () => {
    const { server } = await start();
    const live = await stream();
    await live.next('snapshot');
    const carol = await V2Peer.create(port);
    peers.push(carol.raw);
    await carol.login('carol');
    expect(await live.next<PresenceChange>('presence')).toMatchObject({
      op: 'upsert',
      user: { name: 'carol', protocol: 'qim', status: 'online', endpoint: carol.raw.endpoint },
      online: 1,
    });
    for (const status of ['away', 'invisible', 'busy'] as const) {
      const before = server.directory.byName('carol')?.status;
      await setStatus(carol, status);
      expect(await live.next<PresenceChange>('presence', (p) => p.op === 'upsert' && p.user.status === status)).toMatchObject({
        user: { name: 'carol' },
        online: 1,
      });
      expect(await live.next<LogEntry>('log', (e) => e.event === 'status')).toMatchObject({
        level: 'info',
        fields: { name: 'carol', status, before },
      });
    }
    const metrics = parseMetrics((await fetchText(`${url}metrics`)).body);
    expect(metrics.get('qim_online_users{protocol="qim"}')).toBe(1);
    expect((await fetchText(url)).body).toMatch(/<span class="name">carol<\/span> <span class="protocol">qim<\/span> <span class="status">busy<\/span>/);
  });

  it('logs refusals and drops with their reasons', async () => {
    await start();
    const live = await stream();
    await live.next('snapshot');
    const alice = await peer();
    const mallory = await peer();
    await rawLogin(alice, 'alice', port);
    await mallory.send(`login,alice,${mallory.endpoint}`, port);
    expect(await live.next<LogEntry>('log', (e) => e.event === 'refused')).toMatchObject({
      level: 'warn',
      fields: { name: 'alice', endpoint: mallory.endpoint, reason: 'name-taken' },
    });
    await mallory.send(Buffer.from([0xff, 0x00, 0x01]), port);
    expect(await live.next<LogEntry>('log', (e) => e.event === 'drop')).toMatchObject({
      level: 'warn',
      fields: { from: mallory.endpoint, bytes: 3, transport: 'udp', reason: expect.stringMatching(/^[a-z-]+$/) },
    });
  });
});

describe('dashboard bounds', () => {
  it('keeps only the last logSize log entries', async () => {
    const { server, dashboard } = await start({ logSize: 5 });
    const p = await peer();
    for (let i = 0; i < 12; i++) await p.send('hello', port);
    await until(() => server.counters.drops['unknown-command'] === 12, 'twelve drops');
    const log = dashboard.snapshot().log;
    expect(log).toHaveLength(5);
    expect(log.map((e) => e.id)).toEqual([9, 10, 11, 12, 13]); // `started` was 1
  });

  it('caps drop lines per reason per second and sums up the rest', async () => {
    const { server } = await start({ dropLogsPerSecond: 3 });
    const live = await stream();
    await live.next('snapshot');
    const p = await peer();
    for (let i = 0; i < 20; i++) await p.send('hello', port);
    await until(() => server.counters.drops['unknown-command'] === 20, 'twenty drops');
    let logged = 0;
    let summed = 0;
    while (logged + summed < 20) {
      const e = await live.next<LogEntry>('log', (x) => x.event === 'drop' || x.event === 'drops-suppressed', 5000);
      if (e.event === 'drop') logged++;
      else summed += Number(e.fields.count);
    }
    expect(logged + summed).toBe(20);
    // The sends may straddle a one-second window: at most two windows' worth of lines.
    expect(logged).toBeLessThanOrEqual(6);
  });

  it('refuses live clients past maxSseClients with 503, and takes one again when another leaves', async () => {
    const { dashboard } = await start({ maxSseClients: 2 });
    const a = await stream();
    await stream();
    await until(() => dashboard.clients === 2, 'two live clients');
    const third = await fetchText(`${url}events`);
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('10');
    a.close();
    await until(() => dashboard.clients === 1, 'the first to leave');
    const again = await stream();
    expect(again.response.statusCode).toBe(200);
    await again.next('snapshot');
  });

  it('lists at most maxListedUsers in a snapshot, with the exact count', async () => {
    const { dashboard } = await start({ maxListedUsers: 2 });
    for (const name of ['a', 'b', 'c']) await rawLogin(await peer(), name, port);
    const snapshot = dashboard.snapshot();
    expect(snapshot.users.map((u) => u.name)).toEqual(['a', 'b']);
    expect(snapshot.online).toBe(3);
    expect((await fetchText(url)).body).toContain('<p id="online-note">Showing 2 of 3.</p>');
  });

  it('answers only to loopback names on a loopback address (no DNS rebinding)', async () => {
    const { dashboard } = await start();
    const { port: httpPort } = dashboard.endpoint;
    expect((await fetchText(`${url}healthz`, { headers: { host: 'evil.example' } })).status).toBe(403);
    expect((await fetchText(`${url}healthz`, { headers: { host: `evil.example:${httpPort}` } })).status).toBe(403);
    for (const host of [`localhost:${httpPort}`, `127.0.0.1:${httpPort}`, `[::1]:${httpPort}`, 'LOCALHOST']) {
      expect((await fetchText(`${url}healthz`, { headers: { host } })).status, host).toBe(200);
    }
  });

  it('refuses bad options and an address in use with clear errors', async () => {
    const { server, dashboard } = await start();
    expect(() => new Dashboard(server, { port: 70000 })).toThrow(/dashboard port must be 0 to 65535/);
    expect(() => new Dashboard(server, { maxSseClients: 0 })).toThrow(/maxSseClients must be a positive integer/);
    const listeners = server.listenerCount('login');
    const taken = new Dashboard(server, { port: dashboard.endpoint.port });
    await expect(taken.listen()).rejects.toThrow(/EADDRINUSE/);
    await taken.close();
    // The failed one left no listener behind on the server.
    expect(server.listenerCount('login')).toBe(listeners);
  });

  it('survives garbage on its TCP port and keeps serving', async () => {
    const { dashboard } = await start();
    const { port: httpPort } = dashboard.endpoint;
    await new Promise<void>((resolve) => {
      const c = connect(httpPort, '127.0.0.1', () => c.write('\u0000\u0001 GARBAGE \r\n\r\n'));
      c.on('error', () => resolve());
      c.on('close', () => resolve());
      c.resume();
    });
    expect((await fetchText(`${url}healthz`)).status).toBe(200);
  });
});
