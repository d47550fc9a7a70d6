/**
 * Test helper: captures every UDP datagram on the loopback interface with `tcpdump` (Debian's
 * `tcpdump`, run as root; `.ci/run` installs it) into a pcap file, so a test can search the bytes
 * that really crossed the wire.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Capture {
  /**
   * Stops capturing; returns the pcap file's bytes (packet headers and payloads) and how many
   * packets the kernel dropped before tcpdump read them (a capture that dropped proves nothing).
   */
  stop(): Promise<{ pcap: Buffer; dropped: number }>;
}

/** Polls `file` until it holds `marker` (tcpdump -U writes each packet as it reads it). */
async function fileHolds(file: string, marker: Buffer, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (readFileSync(file).includes(marker)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * Starts capturing UDP on `lo` to and from `ports` (all UDP when none); resolves once tcpdump listens.
 * tcpdump may still be behind the kernel when told to stop: `stop` first sends a marker datagram
 * to a socket of its own (inside the filter) and waits until the file holds it, so every datagram
 * sent before `stop` is in the capture.
 */
export async function captureLoopbackUdp(ports: readonly number[] = []): Promise<Capture> {
  if (spawnSync('tcpdump', ['--version']).error !== undefined) {
    throw new Error('tcpdump is missing: install Debian\'s tcpdump (apt-get install tcpdump); the capture test needs it');
  }
  if (process.getuid?.() !== 0) throw new Error('capturing on loopback needs root (tcpdump); run the tests as root');
  const dir = mkdtempSync(join(tmpdir(), 'qim-capture-'));
  const file = join(dir, 'lo.pcap');
  // --immediate-mode and -U: hand over and write each packet at once (else the last ones may sit in
  // the kernel's ring when we stop); -s 0: whole packets; -n: no name lookups.
  // -B: an 8 MiB kernel buffer, so a busy machine does not drop packets before tcpdump reads them.
  const sentinel = createSocket('udp4');
  await new Promise<void>((resolve) => sentinel.bind(0, '127.0.0.1', resolve));
  const sentinelPort = sentinel.address().port;
  const filter = ports.length === 0 ? 'udp' : `udp and (${[...ports, sentinelPort].map((p) => `port ${p}`).join(' or ')})`;
  const child: ChildProcess = spawn('tcpdump', ['--immediate-mode', '-B', '8192', '-i', 'lo', '-U', '-s', '0', '-n', '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const failed = (code: number | null) => {
      clearTimeout(timer);
      sentinel.close();
      reject(new Error(`tcpdump exited with ${code}: ${stderr}`));
    };
    const timer = setTimeout(() => {
      child.off('exit', failed);
      child.kill('SIGKILL');
      sentinel.close();
      reject(new Error(`tcpdump did not start: ${stderr}`));
    }, 10_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        child.off('exit', failed);
        resolve();
      }
    });
    child.once('exit', failed);
  });
  return {
    async stop() {
      const marker = Buffer.from(`qim-capture-end-${randomBytes(8).toString('hex')}`);
      sentinel.send(marker, sentinelPort, '127.0.0.1');
      const caughtUp = await fileHolds(file, marker, 10_000);
      sentinel.close();
      if (!caughtUp) throw new Error('tcpdump did not write the end marker within 10 s: the capture is incomplete');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
      const pcap = readFileSync(file);
      rmSync(dir, { recursive: true, force: true });
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 'NaN');
      return { pcap, dropped };
    },
  };
}
