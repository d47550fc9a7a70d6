/**
 * `qim server` as a process: its log (JSON and text), what it does with garbage and a classic
 * login from a raw UDP socket, how it stops, and how the CLI refuses bad flags.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isEvent, killAllQim, portOf, startQim, type QimProcess } from '../helpers/cli.js';
import { RawPeer } from '../helpers/raw-peer.js';

const peers: RawPeer[] = [];

afterEach(async () => {
  await killAllQim();
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function rawPeer(): Promise<RawPeer> {
  const p = await RawPeer.bind('127.0.0.1');
  peers.push(p);
  return p;
}

/** Starts `qim server` on a free loopback port; resolves with the process and its UDP port. */
async function startServer(log: 'json' | 'text'): Promise<{ server: QimProcess; port: number }> {
  const server = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--log', log]);
  if (log === 'json') {
    const started = await server.waitForJson(isEvent('started'));
    expect(started).toMatchObject({ level: 'info', udp: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    return { server, port: portOf(started.udp) };
  }
  const started = await server.waitForLine(/ started /);
  const m = /udp=127\.0\.0\.1:(\d+)/.exec(started);
  if (m?.[1] === undefined) throw new Error(`no udp field in ${started}`);
  return { server, port: Number(m[1]) };
}

/** Sends one unknown datagram and waits for its `drop` log line, so the counters have something in them. */
async function pastStartup(server: QimProcess, port: number): Promise<void> {
  const peer = await rawPeer();
  await peer.send('ping', port);
  await server.waitForLine(/"event":"drop".*"bytes":8|warn  drop .*bytes=8/);
}

describe('qim server', () => {
  it('logs started with its UDP and TCP endpoints on one port', async () => {
    const { server, port } = await startServer('json');
    expect(port).toBeGreaterThan(0);
    expect(server.lines[0] === undefined ? null : JSON.parse(server.lines[0])).toEqual({
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      level: 'info',
      event: 'started',
      udp: `127.0.0.1:${port}`,
      tcp: `127.0.0.1:${port}`,
      data: expect.stringMatching(/qim-server$/),
      key: expect.stringMatching(/^([0-9a-f]{4} ){7}[0-9a-f]{4}$/),
    });
  });

  it('logs garbage as drops with a reason, then still accepts a login and logs it', async () => {
    const { server, port } = await startServer('json');
    const peer = await rawPeer();

    await peer.send(Buffer.from('hello', 'utf16le'), port); // 10 bytes: classic-looking, unknown
    await peer.send(Buffer.concat([Buffer.from('login', 'utf16le'), Buffer.from([0x2c])]), port); // 11 bytes
    const noise = randomBytes(37);
    noise[0] = 0xff; // never mistaken for a classic letter
    await peer.send(noise, port);

    const from = peer.endpoint;
    expect(await server.waitForJson(isEvent('drop', { bytes: 10 }))).toMatchObject({
      level: 'warn',
      reason: 'unknown-command',
      from,
      transport: 'udp',
    });
    expect(await server.waitForJson(isEvent('drop', { bytes: 11 }))).toMatchObject({ reason: 'odd-length', from });
    expect(await server.waitForJson(isEvent('drop', { bytes: 37 }))).toMatchObject({
      reason: expect.stringMatching(/^[a-z-]+$/),
      from,
    });

    await peer.send(`login,alice,${peer.endpoint}`, port);
    const accept = await peer.nextText('Accept,');
    expect(accept.text).toBe(`Accept,${port}`);
    expect(await server.waitForJson(isEvent('login'))).toMatchObject({
      name: 'alice',
      endpoint: peer.endpoint,
      protocol: 'classic',
      online: 1,
    });

    server.kill('SIGINT');
    const stopped = await server.waitForJson(isEvent('stopped'));
    expect(stopped).toMatchObject({ datagramsIn: 4, datagramsOut: 1, logins: 1 });
    // The random 37 bytes are odd-length too: three drops, two of them for their odd length.
    expect(stopped.drops).toEqual({ 'unknown-command': 1, 'odd-length': 2 });
  });

  it('stops on SIGINT: logs stopping and stopped with its counters, and exits 0', async () => {
    const { server, port } = await startServer('json');
    await pastStartup(server, port);
    server.kill('SIGINT');
    expect(await server.waitForJson(isEvent('stopping'))).toMatchObject({ signal: 'SIGINT' });
    expect(await server.waitForJson(isEvent('stopped'))).toEqual({
      time: expect.any(String),
      level: 'info',
      event: 'stopped',
      datagramsIn: 1,
      bytesIn: 8,
      datagramsOut: 0,
      bytesOut: 0,
      sendErrors: 0,
      logins: 0,
      logouts: 0,
      expired: 0,
      refused: 0,
      loginRepeats: 0,
      presenceHolds: 0,
      listBytes: 0,
      listsSent: 0,
      catchUps: 0,
      broadcasts: 0,
      tcpConnections: 0,
      relayed: 0,
      relayedBytes: 0,
      drops: { 'unknown-command': 1 },
    });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stderr).toBe('');
  });

  it('stops cleanly on a signal sent the moment it logs started', async () => {
    const { server } = await startServer('json');
    server.kill('SIGTERM');
    expect(await server.waitForJson(isEvent('stopped'))).toMatchObject({ datagramsIn: 0 });
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('logs lines for people with --log text, and stops on SIGTERM', async () => {
    const { server, port } = await startServer('text');
    expect(server.lines[0]).toMatch(
      new RegExp(`^\\d{4}-\\d{2}-\\d{2}T\\S+Z info  started udp=127\\.0\\.0\\.1:${port} tcp=127\\.0\\.0\\.1:${port} data=\\S+ key="[0-9a-f ]+"$`),
    );

    const peer = await rawPeer();
    await peer.send('hello', port);
    // This line also shows the server is past its startup (see pastStartup).
    expect(await server.waitForLine(/ warn  drop /)).toContain('reason=unknown-command');

    server.kill('SIGTERM');
    expect(await server.waitForLine(/ stopped /)).toMatch(/ datagramsIn=1 .* drops=\{"unknown-command":1\}$/);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.some((l) => l.startsWith('{'))).toBe(false);
  });
});

describe('the qim command line', () => {
  const cases: { cmd: string; stderr: RegExp }[] = [
    { cmd: 'server --port 70000', stderr: /--port.*70000.*expected a port number from 0 to 65535/ },
    { cmd: 'server --log xml', stderr: /--log.*xml.*text, json/ },
    { cmd: 'chat --server 127.0.0.1:8500', stderr: /required option '--name <name>'/ },
    { cmd: 'chat --server nope --name alice', stderr: /--server.*nope.*expected HOST:PORT/ },
  ];

  it.each(cases)('refuses `qim $cmd` with a clear message and no stack trace', async ({ cmd, stderr }) => {
    const p = startQim(cmd.split(' '));
    const exit = await p.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(p.stderr).toMatch(stderr);
    expect(p.stderr).not.toMatch(/\n\s+at /);
    expect(p.lines).toEqual([]);
  });

  it('refuses a port that is already in use with one clear line and exit code 1', async () => {
    const holder = await rawPeer();
    const p = startQim(['server', '--host', '127.0.0.1', '--port', String(holder.port)]);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.stderr).toMatch(/^qim: .*EADDRINUSE.*\n$/);
    expect(p.stderr).not.toMatch(/\n\s+at /);
  });
});
