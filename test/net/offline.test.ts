/**
 * Offline messages across real NATs and a server restart: a message to someone who is offline is
 * kept (sealed) by the server, survives the server's restart, and reaches them exactly once when
 * they next log in; the sender sees it stored, then delivered.
 */
import { describe, expect, it } from 'vitest';
import { isEvent } from '../helpers/cli.js';
import { tempDir, useInternet } from './helpers/netns.js';

describe('offline messages behind NATs', () => {
  const internet = useInternet({ nats: [{ kind: 'endpoint-independent' }, { kind: 'symmetric' }] });

  it('are delivered exactly once at the next login, across a server restart', { timeout: 120_000 }, async () => {
    const net = internet();
    const [h1, h2] = net.hosts;
    if (h1 === undefined || h2 === undefined) throw new Error('two hosts expected');
    const data = tempDir();
    const home = tempDir('qim-net-home-'); // bob's profile (his key), kept across his two runs
    const first = await net.startServer(['--data', data]);
    const env = { ...process.env, NO_COLOR: '1', XDG_DATA_HOME: home };
    const bob0 = net.spawnQim(h2, ['chat', '--server', first.endpoint, '--name', 'bob'], { env });
    await bob0.waitForJson(isEvent('list'), 30_000);
    bob0.send('/quit');
    await bob0.exited;

    const alice = net.startChat(h1, 'alice');
    await alice.waitForJson(isEvent('list'), 30_000);
    const text = '你下线的时候留给你的 — offline ✉️';
    alice.send(`/msg bob ${text}`);
    const sent = await alice.waitForJson(isEvent('sent', { to: 'bob' }));
    expect(await alice.waitForJson(isEvent('delivery', { to: 'bob' }), 30_000)).toMatchObject({ id: sent.id, state: 'stored' });

    first.process.kill('SIGKILL');
    await first.process.exited;
    await net.startServer(['--data', data, '--port', String(first.port)]);

    const bob = net.spawnQim(h2, ['chat', '--server', first.endpoint, '--name', 'bob'], { env });
    expect(await bob.waitForJson(isEvent('message', { from: 'alice' }), 30_000)).toMatchObject({ text, encrypted: true });
    // alice logs in again by herself after the restart and hears of the delivery.
    expect(await alice.waitForJson(isEvent('delivery', { to: 'bob', state: 'delivered' }), 40_000)).toMatchObject({ id: sent.id });
    bob.send('/quit');
    await bob.exited;
    expect(bob.lines.filter((l) => l.includes('"event":"message"'))).toHaveLength(1);
  });
});
