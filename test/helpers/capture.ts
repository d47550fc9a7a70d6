/**
 * Test helper: captures every UDP datagram on the loopback interface with `tcpdump` (Debian's
 * `tcpdump`, run as root; `.ci/run` installs it) into a pcap file, so a test can search the bytes
 * that really crossed the wire.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/** Starts capturing UDP on `lo` to and from `ports` (all UDP when none); resolves once tcpdump listens. */
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
  const filter = ports.length === 0 ? 'udp' : `udp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  const child: ChildProcess = spawn('tcpdump', ['--immediate-mode', '-B', '8192', '-i', 'lo', '-U', '-s', '0', '-n', '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 10_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited with ${code}: ${stderr}`));
    });
  });
  return {
    async stop() {
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
