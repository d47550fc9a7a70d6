/**
 * Test helper: a real index server and `qim web`'s service in this process for each test, on
 * free loopback ports, with profiles in a temporary folder; tabs opened through it are closed
 * after the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { QimServer } from '../../src/server/server.js';
import { WebService, type WebLimits } from '../../src/web/service.js';
import { PageSocket } from './page-socket.js';

export interface WebFixture {
  server: QimServer;
  web: WebService;
  /** The server as the login form names it, `127.0.0.1:PORT`. */
  serverText: string;
  profiles: string;
  /** A WebSocket as the page opens it, after its `hello`. */
  tab(): Promise<PageSocket>;
}

/** Registers the hooks; the returned object is filled in before each test. */
export function useWebService(limits: Partial<WebLimits> = {}): WebFixture {
  const sockets: PageSocket[] = [];
  const fx = {
    async tab() {
      const s = await PageSocket.open(fx.web.url);
      sockets.push(s);
      await s.next('hello');
      return s;
    },
  } as WebFixture;
  beforeEach(async () => {
    fx.profiles = mkdtempSync(join(tmpdir(), 'qim-web-profiles-'));
    fx.server = new QimServer({ host: '127.0.0.1', port: 0 });
    await fx.server.start();
    fx.serverText = `127.0.0.1:${fx.server.endpoint.port}`;
    fx.web = new WebService({ port: 0, defaultServer: fx.serverText, profilesRoot: fx.profiles, clientHost: '127.0.0.1', limits });
    await fx.web.start();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await fx.web.close();
    await fx.server.stop();
    rmSync(fx.profiles, { recursive: true, force: true });
  });
  return fx;
}
