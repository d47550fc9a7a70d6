/**
 * `qim server --http`: the real CLI process serves the dashboard, names its address in the
 * `started` line, and refuses what it cannot do with one clear line.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isEvent, killAllQim, portOf, startQim } from '../helpers/cli.js';
import { fetchText } from '../helpers/http.js';
import { RawPeer, rawLogin } from '../helpers/raw-peer.js';

const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await killAllQim();
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('qim server --http', () => {
  it('prints the dashboard URL in its started line and serves /healthz, /metrics and the page', async () => {
    const server = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--http', '0', '--log', 'json']);
    const started = await server.waitForJson(isEvent('started'));
    expect(started.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const url = String(started.http);

    expect(await fetchText(`${url}healthz`)).toMatchObject({ status: 200, body: 'ok\n' });

    const alice = await RawPeer.bind('127.0.0.1');
    closers.push(() => alice.close());
    await rawLogin(alice, 'alice', portOf(started.udp));
    await server.waitForJson(isEvent('login', { name: 'alice' }));
    expect((await fetchText(`${url}metrics`)).body).toMatch(/^qim_logins_total 1$/m);
    expect((await fetchText(url)).body).toMatch(/<li data-name="alice">/);

    server.kill('SIGTERM');
    expect(await server.waitForJson(isEvent('stopped'))).toMatchObject({ logins: 1 });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    await expect(fetchText(`${url}healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('names the URL in text logs too, and listens where --http-host says', async () => {
    const server = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--http', '0', '--http-host', '127.0.0.2']);
    const line = await server.waitForLine(/ started /);
    const m = / http=(http:\/\/127\.0\.0\.2:\d+\/)$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(await fetchText(`${m?.[1] ?? ''}healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('does not serve HTTP without --http', async () => {
    const server = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--log', 'json']);
    const started = await server.waitForJson(isEvent('started'));
    expect(started).not.toHaveProperty('http');
  });

  it('refuses --http-host without --http', async () => {
    const p = startQim(['server', '--http-host', '127.0.0.1']);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.stderr).toMatch(/--http-host.*needs --http/);
    expect(p.lines).toEqual([]);
  });

  it('refuses a bad --http port', async () => {
    const p = startQim(['server', '--http', 'eighty']);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr).toMatch(/--http.*eighty.*expected a port number from 0 to 65535/);
  });

  it('exits 1 with one clear line when the HTTP port is taken, and never starts the index server', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => holder.close(() => resolve())));
    const address = holder.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP port');
    const p = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--http', String(address.port)]);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.stderr).toMatch(/^qim: .*EADDRINUSE.*\n$/);
    expect(p.lines.some((l) => / started /.test(l))).toBe(false);
  });
});
