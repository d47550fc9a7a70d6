/**
 * The floor under a login storm's list phase on this machine: N clients each fetch a list of N
 * entries over its own loopback TCP connection, from a server that does nothing else (no protocol,
 * no crypto, no parsing: a connection's first bytes are answered with the same buffer, then it is
 * closed). The clients start at random moments within the spread a qim server announces when a
 * hold settles (docs/PROTOCOL.md, "Presence in a storm"), from 127.x addresses as the benchmark's
 * users do, and only count the bytes.
 *
 *   node bench/tcp-list-floor.mjs [N=5000] [ENTRY_BYTES=35.5] [SPREAD_MS=from the server's rule]
 *
 * Prints the time until every list is read, and each process's CPU time. ENTRY_BYTES is what a
 * list entry takes in a qim snapshot over TCP (framing and signatures included: 846.3 MiB for
 * 5,000 lists of 5,000 in `npm run bench -- --scenario login-storm`).
 */
import { fork } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === 'serve') {
  const list = Buffer.alloc(Number(process.argv[3]), 7);
  const server = createServer((socket) => {
    socket.once('data', () => socket.end(list));
    socket.on('error', () => {});
  });
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => process.send?.(server.address().port));
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.(process.cpuUsage());
  });
} else {
  const n = Number(process.argv[2] ?? 5000);
  const listBytes = Math.round(n * Number(process.argv[3] ?? 35.5));
  // The server's rule: every recipient's list at 500,000 bytes a millisecond (presence.ts).
  const spreadMs = Number(process.argv[4] ?? Math.min(0xffff, Math.ceil((n * listBytes) / 500_000)));
  const child = fork(fileURLToPath(import.meta.url), ['serve', String(listBytes)]);
  const port = await new Promise((resolve) => child.once('message', resolve));
  const t0 = performance.now();
  let done = 0;
  let bytes = 0;
  let failed = 0;
  const finished = new Promise((resolve) => {
    const fetch = (i) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${1 + (i & 127)}`, noDelay: true });
      socket.on('connect', () => socket.write('list, please'));
      socket.on('data', (chunk) => (bytes += chunk.length));
      socket.on('error', () => failed++);
      socket.on('close', () => {
        if (++done === n) resolve();
      });
    };
    for (let i = 0; i < n; i++) setTimeout(() => fetch(i), Math.random() * spreadMs);
  });
  await finished;
  const elapsed = performance.now() - t0;
  child.send('cpu');
  const serverCpu = await new Promise((resolve) => child.once('message', resolve));
  child.kill();
  const clientCpu = process.cpuUsage();
  const ms = (c) => ((c.user + c.system) / 1000).toFixed(0);
  console.log(
    `${n} lists of ${listBytes} bytes (${(bytes / 2 ** 20).toFixed(1)} MiB read, ${failed} failed) within a ${spreadMs} ms spread: ` +
      `all read in ${(elapsed / 1000).toFixed(2)} s; CPU: server ${ms(serverCpu)} ms, clients ${ms(clientCpu)} ms`,
  );
}
