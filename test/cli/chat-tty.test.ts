/**
 * `qim chat` in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen.
 * The other side is a `qim chat` in line mode, so every step is checked from both ends.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QimServer } from '../../src/index.js';
import { isEvent, killAllQim, REPO_ROOT, startQim } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

let server: QimServer;
const session = `qim-tty-${process.pid}`;
let home = '';

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

/** The visible screen of the terminal. */
function screen(): string {
  return tmux('capture-pane', '-p', '-t', session);
}

async function shows(text: string | RegExp, what: string): Promise<void> {
  const has = (s: string): boolean => (typeof text === 'string' ? s.includes(text) : text.test(s));
  await until(() => has(screen()), `${what} on the screen:\n${screen()}`, 15_000);
}

/** Types a line into the terminal, as a person would. */
function type(line: string): void {
  tmux('send-keys', '-t', session, '-l', line);
  tmux('send-keys', '-t', session, 'Enter');
}

beforeEach(async () => {
  if (spawnSync('tmux', ['-V']).error !== undefined) throw new Error("tmux is missing: install Debian's tmux (apt-get install tmux); this test drives the terminal UI through it");
  server = new QimServer({ host: '127.0.0.1', port: 0 });
  await server.start();
  home = mkdtempSync(join(tmpdir(), 'qim-tty-'));
});

afterEach(async () => {
  spawnSync('tmux', ['kill-session', '-t', session]);
  await killAllQim();
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('qim chat in a terminal', () => {
  it('chats with a peer, shows their fingerprint, status and typing, and sets our own status', { timeout: 60_000 }, async () => {
    const port = server.endpoint.port;
    const bob = startQim(['chat', '--server', `127.0.0.1:${port}`, '--name', 'bob', '--host', '127.0.0.1']);
    await bob.waitForJson(isEvent('list'));
    const cmd = `XDG_DATA_HOME=${home} NO_COLOR=1 ${process.execPath} --import tsx src/cli/main.ts chat --server 127.0.0.1:${port} --name alice --host 127.0.0.1`;
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '40', '-c', REPO_ROOT, cmd);
    await shows('alice at 127.0.0.1', 'the welcome line');
    await shows(/Online \(1\): bob \[[0-9a-f]{4} /, "bob with his key's fingerprint");

    type('/open bob');
    await shows('── bob ──', 'the open conversation');
    type('你好 bob 😀');
    expect(await bob.waitForJson(isEvent('message', { from: 'alice' }))).toMatchObject({ text: '你好 bob 😀', encrypted: true });
    await shows('✓ delivered to bob', 'the delivery tick');

    bob.send('/typing alice on');
    await shows('bob (typing…)', 'the typing indicator in the prompt');
    bob.send('/msg alice 收到了');
    await shows('bob: 收到了', "bob's answer");
    bob.send('/status busy');
    await shows('bob is busy', "bob's status");

    type('/status away');
    await shows('you are away', 'our own status');
    expect(await bob.waitForJson(isEvent('status', { name: 'alice' }))).toMatchObject({ status: 'away' });

    type('/who');
    await shows(/bob \(busy\) \[[0-9a-f ]+· direct\]/, "bob's status, fingerprint and path in /who");

    type('/quit');
    await bob.waitForJson(isEvent('left', { name: 'alice' }));
  });
});
