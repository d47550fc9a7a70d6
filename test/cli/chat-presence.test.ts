/**
 * `qim chat` line mode: statuses, typing indicators, and peer keys pinned in the profile across
 * runs. Real `qim chat` processes against an in-process server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { QimServer } from '../../src/index.js';
import { isEvent, killAllQim, startQim, type QimProcess } from '../helpers/cli.js';

const serverIdentity = ed25519KeyPair();
let server: QimServer | null = null;
const dirs: string[] = [];

afterEach(async () => {
  await killAllQim();
  await server?.stop();
  server = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function startServer(port = 0): Promise<number> {
  server = new QimServer({ host: '127.0.0.1', port, identity: serverIdentity });
  await server.start();
  return server.endpoint.port;
}

/** `qim chat` as `name`, online; `home` keeps its profile across runs when given. */
async function chat(port: number, name: string, home?: string): Promise<QimProcess> {
  const env = home === undefined ? undefined : { ...process.env, NO_COLOR: '1', XDG_DATA_HOME: home };
  const p = startQim(['chat', '--server', `127.0.0.1:${port}`, '--name', name, '--host', '127.0.0.1'], env === undefined ? {} : { env });
  await p.waitForJson(isEvent('list'));
  return p;
}

describe('qim chat line mode: statuses, typing, pinned keys', () => {
  it('reports typing and status changes, and invisible users leave the list', async () => {
    const port = await startServer();
    const alice = await chat(port, 'alice');
    const bob = await chat(port, 'bob');
    await alice.waitForJson(isEvent('joined', { name: 'bob' }));
    alice.send('/msg bob hi');
    await bob.waitForJson(isEvent('message', { from: 'alice' }));

    alice.send('/typing bob on');
    expect(await bob.waitForJson(isEvent('typing'))).toEqual({ event: 'typing', from: 'alice', typing: true });
    alice.send('/typing bob off');
    expect(await bob.waitForJson(isEvent('typing'))).toEqual({ event: 'typing', from: 'alice', typing: false });

    bob.send('/status away');
    expect(await alice.waitForJson(isEvent('status'))).toEqual({ event: 'status', name: 'bob', status: 'away' });
    bob.send('/status invisible');
    await alice.waitForJson(isEvent('left', { name: 'bob' }));
    alice.send('/who');
    expect(await alice.waitForJson(isEvent('list'))).toEqual({ event: 'list', users: [] });
    bob.send('/status busy');
    expect(await alice.waitForJson(isEvent('joined', { name: 'bob' }))).toMatchObject({ status: 'busy' });

    bob.send('/status sleeping');
    expect(await bob.waitForJson(isEvent('error'))).toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('/status') });
  });

  it("warns when a peer's key differs from the one pinned in an earlier run, and sends nothing until /trust", { timeout: 40_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'qim-home-'));
    dirs.push(home);
    let port = await startServer();
    let alice = await chat(port, 'alice', home);
    const bob = await chat(port, 'bob');
    await alice.waitForJson(isEvent('joined', { name: 'bob' }));
    // A first conversation: alice learns bob's key and pins it.
    alice.send('/msg bob hello');
    await bob.waitForJson(isEvent('message', { from: 'alice', text: 'hello' }));
    alice.send('/quit');
    await alice.exited;
    bob.kill('SIGKILL');
    await bob.exited;

    // The server comes back without its accounts; someone else (another key) now logs in as bob.
    await server?.stop();
    port = await startServer(port);
    const impostor = await chat(port, 'bob');
    alice = await chat(port, 'alice', home);
    const warning = await alice.waitForJson(isEvent('warning', { code: 'peer-key-changed' }));
    expect(warning).toMatchObject({ peer: 'bob', message: expect.stringContaining('changed') });
    alice.send('/who');
    expect(await alice.waitForJson(isEvent('list'))).toMatchObject({ users: [{ name: 'bob', keyChanged: true }] });
    alice.send('/msg bob are you really bob?');
    expect(await alice.waitForJson(isEvent('error'))).toMatchObject({ code: 'ERR_KEY_CHANGED' });

    alice.send('/trust bob');
    const list = await alice.waitForJson(isEvent('list'));
    expect((list.users as Record<string, unknown>[])[0]).not.toHaveProperty('keyChanged');
    alice.send('/msg bob checked your fingerprint on the phone');
    await impostor.waitForJson(isEvent('message', { from: 'alice', text: 'checked your fingerprint on the phone' }));
  });
});
