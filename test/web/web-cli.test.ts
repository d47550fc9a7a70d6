/**
 * `qim web` and `qim start` as processes: each prints the page's address with its token, serves
 * the page, and (for `qim start`) a login through it reaches the server started alongside.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { QimServer } from '../../src/server/server.js';
import { killAllQim, startQim } from '../helpers/cli.js';
import { fetchText } from '../helpers/http.js';
import { PageSocket } from '../helpers/page-socket.js';

const URL_LINE = /^qim web: open (http:\/\/127\.0\.0\.1:(\d+)\/#token=[A-Za-z0-9_-]{43})$/;
const sockets: PageSocket[] = [];
let server: QimServer | null = null;

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await killAllQim();
  await server?.stop();
  server = null;
});

async function printedUrl(line: Promise<string>): Promise<string> {
  const m = URL_LINE.exec(await line);
  if (m?.[1] === undefined) throw new Error('no URL');
  return m[1];
}

describe('qim web and qim start', () => {
  it('qim web prints the address with a token, serves the page, logs a tab in, and stops on SIGTERM', async () => {
    server = new QimServer({ host: '127.0.0.1', port: 0 });
    await server.start();
    const web = startQim(['web', '--server', `127.0.0.1:${server.endpoint.port}`, '--port', '0']);
    const url = await printedUrl(web.waitForLine(URL_LINE, 15_000));
    const page = await fetchText(url.replace(/#.*$/, ''));
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="app">');

    const tab = await PageSocket.open(url);
    sockets.push(tab);
    expect(await tab.next('hello')).toMatchObject({ defaultServer: `127.0.0.1:${server.endpoint.port}` });
    tab.send({ type: 'login', server: `127.0.0.1:${server.endpoint.port}`, name: '剑痴' });
    expect(await tab.next('ready')).toMatchObject({ me: { name: '剑痴' } });
    await web.waitForLine(/web-login name=剑痴/);

    web.kill('SIGTERM');
    expect((await web.exited).code).toBe(0);
    expect(server.directory.size).toBe(0);
  });

  it('qim web says so when its port is taken', async () => {
    const first = startQim(['web', '--port', '0']);
    const port = new URL(await printedUrl(first.waitForLine(URL_LINE, 15_000))).port;
    const second = startQim(['web', '--port', port]);
    expect((await second.exited).code).toBe(1);
    expect(second.stderr).toContain(`port ${port} is in use`);
  });

  it('qim start brings up a server and the web client pointed at it', async () => {
    const start = startQim(['start', '--port', '0', '--web-port', '0']);
    const started = await start.waitForLine(/ started udp=/, 15_000);
    const serverPort = Number(/ udp=\S+:(\d+) /.exec(started)?.[1]);
    expect(serverPort).toBeGreaterThan(0);
    const url = await printedUrl(start.waitForLine(URL_LINE, 15_000));

    const tab = await PageSocket.open(url);
    sockets.push(tab);
    expect(await tab.next('hello')).toMatchObject({ defaultServer: `127.0.0.1:${serverPort}` });
    tab.send({ type: 'login', server: `127.0.0.1:${serverPort}`, name: 'alice' });
    expect(await tab.next('ready')).toMatchObject({ me: { name: 'alice', server: `127.0.0.1:${serverPort}` } });
    await start.waitForLine(/ login name=alice /);

    start.kill('SIGTERM');
    await start.waitForLine(/ stopped /);
    expect((await start.exited).code).toBe(0);
  });
});
