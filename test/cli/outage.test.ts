/**
 * Whole-system liveness with real processes: a `qim server` killed with SIGKILL and started again
 * on the same port and data folder, and `qim chat` clients that keep chatting across the outage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.js';
import { isEvent, killAllQim, startQim, type JsonObject, type QimProcess } from '../helpers/cli.js';

const dirs: string[] = [];
afterEach(async () => {
  await killAllQim();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function startServer(data: string, port: number): Promise<{ p: QimProcess; port: number }> {
  const p = startQim(['server', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--log', 'json']);
  const started = await p.waitForJson(isEvent('started'));
  return { p, port: Number(String(started.udp).split(':').pop()) };
}

function names(list: JsonObject): string[] {
  return (list.users as { name: string }[]).map((u) => u.name).sort();
}

/** Asks `p` for its list (`/who`) until it holds exactly `expected`. */
async function listBecomes(p: QimProcess, expected: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  while (Date.now() < deadline) {
    p.send('/who');
    last = names(await p.waitForJson(isEvent('list'), timeoutMs));
    if (last.join() === expected.join()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`list is [${last.join(', ')}], expected [${expected.join(', ')}]`);
}

describe('qim server killed with SIGKILL and restarted', () => {
  it('brings every client back with the lists equal to the server and loses no message of a chat across the outage', { timeout: 90_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), 'qim-outage-'));
    dirs.push(data);
    const first = await startServer(data, 0);
    const server = `127.0.0.1:${first.port}`;
    const chat = (name: string) => startQim(['chat', '--server', server, '--name', name, '--host', '127.0.0.1']);
    const alice = chat('alice');
    const bob = chat('bob');
    await alice.waitForJson(isEvent('list'));
    await bob.waitForJson(isEvent('list'));
    await listBecomes(alice, ['bob'], 10_000);

    const received: string[] = [];
    const expected: string[] = [];
    const send = (text: string): void => {
      expected.push(text);
      alice.send(`/msg bob ${text}`);
    };
    const collect = async (count: number): Promise<void> => {
      while (received.length < count) {
        const m = await bob.waitForJson(isEvent('message', { from: 'alice' }), 20_000);
        received.push(String(m.text));
      }
    };
    send('before the outage');
    await collect(1);

    first.p.kill('SIGKILL');
    expect(await first.p.exited).toMatchObject({ signal: 'SIGKILL' });
    for (let i = 0; i < 20; i++) send(`during ${i} 断线`);
    await collect(21); // peer to peer: the chat does not need the server

    const second = await startServer(data, first.port);
    // Both clients notice at their next heartbeat (5 s by default) and log in again.
    await second.p.waitForJson(isEvent('login', { name: 'alice' }), 30_000);
    await second.p.waitForJson(isEvent('login', { name: 'bob' }), 30_000);
    const carol = chat('carol');
    expect(names(await carol.waitForJson(isEvent('list')))).toEqual(['alice', 'bob']);
    await listBecomes(alice, ['bob', 'carol'], 15_000);
    await listBecomes(bob, ['alice', 'carol'], 15_000);
    // The same server key (same data folder): no client warned about a changed key.
    expect([...alice.lines, ...bob.lines].some((l) => l.includes('server-key-changed'))).toBe(false);

    send('after the outage');
    await collect(22);
    expect(received).toEqual(expected);
    // Every message ends delivered at the sender, none failed.
    await until(() => alice.lines.filter((l) => l.includes('"state":"delivered"')).length === 22, 'every delivery report', 20_000);
    expect(alice.lines.some((l) => l.includes('"state":"failed"'))).toBe(false);
  });
});
