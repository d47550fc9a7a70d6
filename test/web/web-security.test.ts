/**
 * `qim web`'s guard: loopback only, the page's own Origin and Host, the per-run token; strict
 * headers on the page; bad WebSocket input answered with errors while the service keeps serving.
 */
import { describe, expect, it } from 'vitest';
import { QimError } from '../../src/errors.js';
import { WebService } from '../../src/web/service.js';
import { fetchText } from '../helpers/http.js';
import { tryUpgrade } from '../helpers/page-socket.js';
import { useWebService } from '../helpers/web.js';

const fx = useWebService();
const port = (): number => fx.web.address.port;

const wsUrl = (token: string | null): string => `ws://127.0.0.1:${port()}/ws${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;

describe('qim web security', () => {
  it('binds loopback only, and refuses to bind anything else', () => {
    expect(fx.web.address.host).toBe('127.0.0.1');
    expect(fx.web.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port()}/#token=[A-Za-z0-9_-]{43}$`));
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      expect(() => new WebService({ host, port: 0, defaultServer: '127.0.0.1:8500' })).toThrow(QimError);
    }
  });

  it('accepts the page itself: its own Origin (127.0.0.1 or localhost) with the token', async () => {
    expect(await tryUpgrade(wsUrl(fx.web.token), { Origin: `http://127.0.0.1:${port()}` })).toBe('open');
    expect(await tryUpgrade(`ws://localhost:${port()}/ws?token=${fx.web.token}`, { Origin: `http://localhost:${port()}` })).toBe('open');
  });

  it('refuses a WebSocket from another origin, or with no Origin at all', async () => {
    for (const origin of ['http://evil.example', `http://127.0.0.1:${port() + 1}`, `https://127.0.0.1:${port()}`, 'null']) {
      expect(await tryUpgrade(wsUrl(fx.web.token), { Origin: origin })).toBe(403);
    }
    expect(await tryUpgrade(wsUrl(fx.web.token), {})).toBe(403);
  });

  it('refuses a WebSocket without the token or with a wrong one', async () => {
    const origin = { Origin: `http://127.0.0.1:${port()}` };
    expect(await tryUpgrade(wsUrl(null), origin)).toBe(403);
    expect(await tryUpgrade(wsUrl(''), origin)).toBe(403);
    const wrong = `${fx.web.token.slice(0, -1)}${fx.web.token.endsWith('A') ? 'B' : 'A'}`;
    expect(await tryUpgrade(wsUrl(wrong), origin)).toBe(403);
    expect(await tryUpgrade(wsUrl(`${fx.web.token}x`), origin)).toBe(403);
  });

  it('refuses another Host (DNS rebinding), for the page and the WebSocket', async () => {
    const host = `evil.example:${port()}`;
    expect(await tryUpgrade(wsUrl(fx.web.token), { Origin: `http://${host}`, Host: host })).toBe(403);
    expect(await tryUpgrade(wsUrl(fx.web.token), { Origin: `http://127.0.0.1:${port()}`, Host: host })).toBe(403);
    expect((await fetchText(`http://127.0.0.1:${port()}/`, { headers: { Host: host } })).status).toBe(403);
  });

  it('serves the page with a strict policy, and nothing but the built files', async () => {
    const index = await fetchText(`http://127.0.0.1:${port()}/`);
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    expect(index.headers['content-security-policy']).toContain(`connect-src 'self' ws://127.0.0.1:${port()} ws://localhost:${port()}`);
    expect(index.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    expect(index.headers['cache-control']).toBe('no-store');
    // Every script and style comes from this origin: nothing from the internet.
    expect(index.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(index.body)?.[1];
    expect(script).toBeDefined();
    const js = await fetchText(`http://127.0.0.1:${port()}${script}`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/src/web/service.ts', '/nope']) {
      expect((await fetchText(`http://127.0.0.1:${port()}${path}`)).status).toBe(404);
    }
    expect((await fetchText(`http://127.0.0.1:${port()}/`, { method: 'POST' })).status).toBe(405);
  });

  it('answers garbage with errors, closes an oversized frame, and keeps serving', async () => {
    const s = await fx.tab();
    s.send('not json {');
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_JSON' });
    s.send({ type: 'explode', ref: 3 });
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_MESSAGE', ref: 3 });
    s.send([1, 2, 3]);
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_MESSAGE' });
    s.send({ type: 'send', to: '', text: 'x', ref: 4 });
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_MESSAGE', ref: 4 });
    s.send({ type: 'login', server: 'no port here', name: 'alice', ref: 5 });
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_MESSAGE', ref: 5 });
    s.send({ type: 'send', to: 'bob', text: 'hi', ref: 6 });
    expect(await s.next('error')).toMatchObject({ code: 'ERR_NOT_LOGGED_IN', ref: 6 });
    s.ws.send(Buffer.from([0, 1, 2]), { binary: true });
    expect(await s.next('error')).toMatchObject({ code: 'ERR_BAD_MESSAGE' });

    // Still the same connection, and it still works: a login, then a send to nobody.
    s.send({ type: 'login', server: fx.serverText, name: 'alice', ref: 7 });
    expect(await s.next('ready')).toMatchObject({ me: { name: 'alice' } });
    // Nobody of that name is online, nor has a key for a message kept offline: the line fails, with a warning.
    s.send({ type: 'send', to: 'nobody', text: 'hello?', ref: 8 });
    expect(await s.next('warning')).toMatchObject({ warning: { code: 'offline-failed', peer: 'nobody' } });

    // A frame over the cap closes that connection (1009); the service keeps serving.
    const big = await fx.tab();
    big.send({ type: 'send', to: 'bob', text: 'x'.repeat(fx.web.limits.maxMessageBytes) });
    expect(await big.closed()).toBe(1009);
    const again = await fx.tab();
    again.send({ type: 'login', server: fx.serverText, name: 'alice' });
    expect(await again.next('ready')).toMatchObject({ me: { name: 'alice' } });
  });

  it('reports a login that fails (no server there) to the page', async () => {
    const s = await fx.tab();
    s.send({ type: 'login', server: '127.0.0.1:9', name: 'alice', ref: 1 });
    expect(await s.next('error', {}, 10_000)).toMatchObject({ code: 'ERR_LOGIN_TIMEOUT', ref: 1 });
    expect(fx.web.hub.size).toBe(0);
  });
});
