/**
 * `qim chat` in line mode (stdin is a pipe): commands in, one JSON event per line out. Each test
 * runs real `qim chat` processes against an in-process index server on 127.0.0.1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QimServer } from '../../src/index.js';
import { isEvent, killAllQim, startQim, type QimProcess } from '../helpers/cli.js';

let server: QimServer;
let serverAddress: string;

beforeEach(async () => {
  server = new QimServer({ host: '127.0.0.1', port: 0 });
  await server.start();
  serverAddress = `127.0.0.1:${server.endpoint.port}`;
});

afterEach(async () => {
  await killAllQim();
  await server.stop();
});

/** Starts `qim chat` as `name`; resolves once it has printed its first line (the list). */
async function chat(name: string, extra: string[] = []): Promise<{ p: QimProcess; first: Record<string, unknown> }> {
  const p = startQim(['chat', '--server', serverAddress, '--name', name, '--host', '127.0.0.1', ...extra]);
  const first = await p.waitForJson(() => true);
  return { p, first };
}

/** Starts `qim chat` as `name` and waits until it is online. */
async function online(name: string): Promise<QimProcess> {
  const { p, first } = await chat(name);
  expect(first).toMatchObject({ event: 'list' });
  return p;
}

function userNames(list: Record<string, unknown>): string[] {
  return (list.users as { name: string }[]).map((u) => u.name);
}

describe('qim chat in line mode', () => {
  it('prints the list first, then tells alice when 张三 joins', async () => {
    const alice = await chat('alice');
    expect(alice.first).toEqual({ event: 'list', users: [] });

    const zhang = await chat('张三');
    expect(zhang.first).toEqual({
      event: 'list',
      users: [{ name: 'alice', endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/), protocol: 'qim', status: 'online', fingerprint: expect.stringMatching(/^([0-9a-f]{4} ){7}[0-9a-f]{4}$/) }],
    });

    const joined = await alice.p.waitForJson(isEvent('joined', { name: '张三' }));
    expect(joined).toEqual({
      event: 'joined',
      name: '张三',
      endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      protocol: 'qim',
      status: 'online',
      fingerprint: expect.any(String),
    });
    expect(server.users().map((u) => u.name).sort()).toEqual(['alice', '张三'].sort());
  });

  describe('with alice and 张三 online', () => {
    let alice: QimProcess;
    let zhang: QimProcess;

    beforeEach(async () => {
      // One after the other: a login that lands while another client is still fetching its list
      // is missed by that client (see the report on src/client/client.ts), so do not race them.
      alice = await online('alice');
      zhang = await online('张三');
      await alice.waitForJson(isEvent('joined', { name: '张三' }));
    });

    it('delivers a message with commas, Chinese and emoji whole, with the sender time', async () => {
      alice.send('/msg 张三 你好, 世界 😀');
      expect(await alice.waitForJson(isEvent('sent'))).toEqual({ event: 'sent', to: '张三', text: '你好, 世界 😀', id: 1 });

      const message = await zhang.waitForJson(isEvent('message'));
      expect(message).toEqual({
        event: 'message',
        from: 'alice',
        text: '你好, 世界 😀',
        sentAt: expect.stringMatching(/^\d{2}:\d{2}:\d{2}$/),
        receivedAt: expect.any(String),
        encrypted: true,
      });
      expect(await alice.waitForJson(isEvent('delivery'))).toEqual({ event: 'delivery', to: '张三', id: 1, state: 'delivered' });
      expect(Number.isNaN(Date.parse(message.receivedAt as string))).toBe(false);
    });

    it('carries replies both ways, in order', async () => {
      alice.send('/msg 张三 one');
      await zhang.waitForJson(isEvent('message', { from: 'alice', text: 'one' }));
      zhang.send('/msg alice two');
      await alice.waitForJson(isEvent('message', { from: '张三', text: 'two' }));
      alice.send('/msg 张三 three');
      await zhang.waitForJson(isEvent('message', { from: 'alice', text: 'three' }));

      const texts = (p: QimProcess): unknown[] =>
        p.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'message').map((e) => e.text);
      expect(texts(zhang)).toEqual(['one', 'three']);
      expect(texts(alice)).toEqual(['two']);
    });

    it('answers /who with a list that contains the other user', async () => {
      zhang.send('/who');
      const list = await zhang.waitForJson(isEvent('list'));
      expect(userNames(list)).toEqual(['alice']);

      alice.send('/who');
      expect(userNames(await alice.waitForJson(isEvent('list')))).toEqual(['张三']);
    });

    it('reports a message to someone unknown as failed, with a warning, and keeps working', async () => {
      alice.send('/msg nobody hi');
      // Not online: it would be kept for them, but nobody of that name has a key on this server.
      const sent = await alice.waitForJson(isEvent('sent', { to: 'nobody' }));
      expect(await alice.waitForJson(isEvent('delivery', { to: 'nobody' }))).toEqual({ event: 'delivery', to: 'nobody', id: sent.id, state: 'failed' });
      expect(await alice.waitForJson(isEvent('warning', { code: 'offline-failed' }))).toMatchObject({ peer: 'nobody', message: expect.stringContaining('no key') });

      alice.send('/msg 张三 still here');
      await zhang.waitForJson(isEvent('message', { from: 'alice', text: 'still here' }));
      expect(alice.hasExited).toBe(false);
    });

    it('prints an error event for an unknown command and keeps working', async () => {
      alice.send('/dance');
      expect(await alice.waitForJson(isEvent('error'))).toEqual({
        event: 'error',
        code: 'ERR_BAD_COMMAND',
        message: expect.stringContaining('/dance'),
      });
      alice.send('/msg');
      expect(await alice.waitForJson(isEvent('error'))).toMatchObject({ code: 'ERR_BAD_COMMAND' });

      alice.send('/who');
      expect(userNames(await alice.waitForJson(isEvent('list')))).toEqual(['张三']);
    });

    it('logs out on /quit: prints closed, exits 0, and the other sees left', async () => {
      alice.send('/quit');
      await alice.waitForJson(isEvent('closed'));
      expect(await alice.exited).toEqual({ code: 0, signal: null });
      await zhang.waitForJson(isEvent('left', { name: 'alice' }));
      expect(server.users().map((u) => u.name)).toEqual(['张三']);
    });

    it('logs out at the end of input: prints closed, exits 0, and the other sees left', async () => {
      alice.end();
      await alice.waitForJson(isEvent('closed'));
      expect(await alice.exited).toEqual({ code: 0, signal: null });
      await zhang.waitForJson(isEvent('left', { name: 'alice' }));
    });

    it.each(['SIGTERM', 'SIGINT'] as const)('logs out on %s: exits 0 and the other sees left', async (signal) => {
      alice.kill(signal);
      await zhang.waitForJson(isEvent('left', { name: 'alice' }));
      expect(await alice.exited).toEqual({ code: 0, signal: null });
      expect(alice.stderr).toBe('');
    });
  });

  it('chats between a qim user and a classic one (--protocol classic), marked unencrypted', async () => {
    const alice = await online('alice');
    const { p: old, first } = await chat('old', ['--protocol', 'classic']);
    expect(first).toMatchObject({ event: 'list', users: [{ name: 'alice', protocol: 'classic' }] });
    expect(await alice.waitForJson(isEvent('joined', { name: 'old' }))).toMatchObject({ protocol: 'classic' });
    alice.send('/msg old hi, old friend');
    expect(await old.waitForJson(isEvent('message'))).toMatchObject({ from: 'alice', text: 'hi, old friend', encrypted: false });
    old.send('/msg alice hello back');
    expect(await alice.waitForJson(isEvent('message'))).toMatchObject({ from: 'old', text: 'hello back', encrypted: false });
  });

  it('drops a killed client (kill -9) from every list within the lease plus two heartbeats', async () => {
    await server.stop();
    const heartbeatMs = 200;
    const leaseMs = 7 * heartbeatMs;
    server = new QimServer({ host: '127.0.0.1', port: 0, limits: { heartbeatMs, leaseMs } });
    await server.start();
    serverAddress = `127.0.0.1:${server.endpoint.port}`;
    const alice = await online('alice');
    const bob = await online('bob');
    await alice.waitForJson(isEvent('joined', { name: 'bob' }));
    bob.kill('SIGKILL');
    // The bound the issue sets; a generous second on top for process scheduling on a busy machine.
    expect(await alice.waitForJson(isEvent('left', { name: 'bob' }), leaseMs + 2 * heartbeatMs + 1000)).toMatchObject({ event: 'left' });
    expect(server.counters.expired).toBe(1);
  });

  it('prints ERR_LOGIN_REFUSED and exits 1 when the name is taken', async () => {
    await online('alice');
    const { p, first } = await chat('alice');
    // Another profile means another key: the server refuses the name bound to the first one.
    expect(first).toEqual({ event: 'error', code: 'ERR_LOGIN_REFUSED', message: expect.stringContaining('another key') });
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.lines).toHaveLength(1);
    expect(p.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints ERR_BAD_NAME and exits 1 for a name the protocol cannot carry', async () => {
    const { p, first } = await chat('bad,name');
    expect(first).toMatchObject({ event: 'error', code: 'ERR_BAD_NAME' });
    expect(await p.exited).toEqual({ code: 1, signal: null });
  });

  it('sends /msg Li Lei hello to "Li Lei", the longest known name, even when "Li" is online', async () => {
    const liLei = await online('Li Lei');
    const li = await online('Li');
    const alice = await online('alice');
    const list = alice.lines[0] === undefined ? {} : (JSON.parse(alice.lines[0]) as Record<string, unknown>);
    expect(userNames(list).sort()).toEqual(['Li', 'Li Lei']);

    alice.send('/msg Li Lei hello');
    expect(await alice.waitForJson(isEvent('sent'))).toMatchObject({ event: 'sent', to: 'Li Lei', text: 'hello' });
    await liLei.waitForJson(isEvent('message', { from: 'alice', text: 'hello' }));

    // Li gets only what is meant for Li.
    alice.send('/msg Li ping');
    await li.waitForJson(isEvent('message', { from: 'alice', text: 'ping' }));
    expect(li.lines.filter((l) => l.includes('"message"'))).toHaveLength(1);

    // Li Lei can answer alice too, whose name has no space.
    liLei.send('/msg alice hi Li Lei here');
    await alice.waitForJson(isEvent('message', { from: 'Li Lei', text: 'hi Li Lei here' }));
  });
});
