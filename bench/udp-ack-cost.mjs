/**
 * What an ACK datagram each way costs a ping-pong's latency, without qim: two Node processes
 * ping-pong over raw UDP on loopback, with WORK µs of busy work per datagram handled, and with
 * EXTRA=1 each side also sends a one-byte "ACK" after the turn (setImmediate), as a peer did
 * before delayed ACKs. Prints p50, p90 and p99 of 6,000 round trips (after 300 unmeasured).
 *
 *   node bench/udp-ack-cost.mjs               # no ACKs, no work
 *   EXTRA=1 WORK=40 node bench/udp-ack-cost.mjs
 */
import { createSocket } from 'node:dgram';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const EXTRA = process.env.EXTRA === '1';
const WORK = Number(process.env.WORK ?? 0);
const ACK = 0x41;

function spin() {
  if (WORK === 0) return;
  const end = performance.now() + WORK / 1000;
  while (performance.now() < end);
}

if (process.argv[2] === 'echo') {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1', () => process.send?.(s.address().port));
  s.on('message', (m, r) => {
    spin();
    if (m[0] === ACK) return;
    s.send(m, r.port, r.address);
    if (EXTRA) setImmediate(() => (spin(), s.send(Buffer.from([ACK]), r.port, r.address)));
  });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['echo'], { env: process.env });
  const port = await new Promise((resolve) => child.once('message', resolve));
  const s = createSocket('udp4');
  await new Promise((resolve) => s.bind(0, '127.0.0.1', resolve));
  let answered = null;
  s.on('message', (m) => {
    spin();
    if (m[0] === ACK) return;
    const done = answered;
    answered = null;
    done?.();
    if (EXTRA) setImmediate(() => (spin(), s.send(Buffer.from([ACK]), port, '127.0.0.1')));
  });
  const rtts = [];
  for (let i = 0; i < 6300; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => {
      answered = resolve;
      spin();
      s.send(Buffer.from(`p${i}`), port, '127.0.0.1');
    });
    if (i >= 300) rtts.push(performance.now() - t0);
  }
  rtts.sort((a, b) => a - b);
  const at = (q) => rtts[Math.floor((q / 100) * (rtts.length - 1))].toFixed(3);
  console.log(`EXTRA=${EXTRA ? 1 : 0} WORK=${WORK} µs: p50 ${at(50)} ms, p90 ${at(90)} ms, p99 ${at(99)} ms`);
  child.kill();
  process.exit(0); // an ACK may still be scheduled on the socket
}
