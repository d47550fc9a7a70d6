/**
 * `qim server --redis`: two real server processes sharing one directory through a redis-server of
 * the test's own, `qim chat` clients on each, and a SIGKILL of one instance.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, killAllQim, startQim, type QimProcess } from '../helpers/cli.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';

let redis: RedisProcess;
const dirs: string[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  await killAllQim();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function instance(data: string, port = 0): Promise<{ p: QimProcess; port: number }> {
  const p = startQim(['server', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--log', 'json', '--redis', redis.url]);
  const started = await p.waitForJson(isEvent('started'));
  expect(await p.waitForJson(isEvent('cluster'))).toMatchObject({ redis: expect.stringMatching(/^redis:\/\//), instance: expect.any(String) });
  return { p, port: Number(String(started.udp).split(':').pop()) };
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qim-cluster-'));
  dirs.push(d);
  return d;
}

describe('qim server --redis', () => {
  it('lets users on two instances chat; a killed instance\'s users leave the other\'s lists, and come back when it restarts', { timeout: 90_000 }, async () => {
    const a = await instance(tempDir());
    const bData = tempDir();
    const b = await instance(bData);
    const chat = (port: number, name: string) => startQim(['chat', '--server', `127.0.0.1:${port}`, '--name', name, '--host', '127.0.0.1']);
    const alice = chat(a.port, 'alice');
    await alice.waitForJson(isEvent('list'));
    const bob = chat(b.port, '鲍勃');
    expect(await bob.waitForJson(isEvent('list'))).toMatchObject({ users: [{ name: 'alice', protocol: 'qim' }] });
    await alice.waitForJson(isEvent('joined', { name: '鲍勃' }));
    alice.send('/msg 鲍勃 你好，另一台服务器上的朋友');
    await bob.waitForJson(isEvent('message', { from: 'alice', text: '你好，另一台服务器上的朋友' }));

    b.p.kill('SIGKILL');
    await b.p.exited;
    // B's lease in Redis (3 s) runs out; A sweeps, and tells alice.
    await alice.waitForJson(isEvent('left', { name: '鲍勃' }), 15_000);
    expect(await a.p.waitForJson(isEvent('logout', { name: '鲍勃' }))).toMatchObject({ reason: 'expired' });

    await instance(bData, b.port);
    // bob's client notices at its next heartbeat and logs in to the restarted instance.
    await alice.waitForJson(isEvent('joined', { name: '鲍勃' }), 30_000);
    bob.send('/msg alice 我回来了');
    await alice.waitForJson(isEvent('message', { from: '鲍勃', text: '我回来了' }));
  });

  it('fails to start, with a clear message, when Redis cannot be reached', async () => {
    const p = startQim(['server', '--host', '127.0.0.1', '--port', '0', '--data', tempDir(), '--redis', 'redis://127.0.0.1:1']);
    expect(await p.exited).toMatchObject({ code: 1 });
    expect(p.stderr).toMatch(/cannot join the cluster/);
  });

  it('refuses a --redis that is not a redis URL', async () => {
    const p = startQim(['server', '--redis', 'http://example.com']);
    expect(await p.exited).toMatchObject({ code: 2 });
    expect(p.stderr).toMatch(/redis:\/\//);
  });
});
