import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpListener, type TcpRejection } from '../../src/transport/tcp.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listener(idleMs: number, answer: Buffer | null, rejects: TcpRejection[] = []): Promise<number> {
  const l = await TcpListener.listen(
    { host: '127.0.0.1', port: 0, maxConnections: 16, idleMs },
    (conn) => {
      if (answer !== null) conn.endWith(answer);
    },
    (reason) => rejects.push(reason),
  );
  closers.push(() => l.close());
  return l.port();
}

describe('TcpListener', () => {
  it('closes a connection that stays silent past the idle limit, and says so', async () => {
    const rejects: TcpRejection[] = [];
    const port = await listener(150, null, rejects);
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.on('error', () => undefined);
      c.on('close', () => resolve());
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(rejects).toEqual(['tcp-idle']);
  });

  it('lets a reader drain a long answer slowly, well past the idle limit, and delivers every byte', async () => {
    // 8 MiB read 64 KiB at a time, 10 ms apart: over a second or more, while the idle limit is 150 ms and
    // Node sees no write finish for most of that time (the kernel's buffers fill and drain).
    const answer = Buffer.alloc(8 * 1024 * 1024, 7);
    const rejects: TcpRejection[] = [];
    const port = await listener(150, answer, rejects);
    const started = Date.now();
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      const c = connect(port, '127.0.0.1');
      c.on('data', (d: Buffer) => {
        n += d.length;
        c.pause();
        setTimeout(() => c.resume(), 10);
      });
      c.on('error', () => undefined);
      c.on('close', () => resolve(n));
    });
    expect(got).toBe(answer.length);
    expect(Date.now() - started).toBeGreaterThan(750);
    expect(rejects).toEqual([]);
  });
});
