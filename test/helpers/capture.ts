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
  /** Stops capturing and returns the pcap file's bytes (packet headers and payloads). */
  stop(): Promise<Buffer>;
}

/** Starts capturing UDP on `lo`; resolves once tcpdump is listening. */
export async function captureLoopbackUdp(): Promise<Capture> {
  if (spawnSync('tcpdump', ['--version']).error !== undefined) {
    throw new Error('tcpdump is missing: install Debian\'s tcpdump (apt-get install tcpdump); the capture test needs it');
  }
  if (process.getuid?.() !== 0) throw new Error('capturing on loopback needs root (tcpdump); run the tests as root');
  const dir = mkdtempSync(join(tmpdir(), 'qim-capture-'));
  const file = join(dir, 'lo.pcap');
  // --immediate-mode and -U: hand over and write each packet at once (else the last ones may sit in
  // the kernel's ring when we stop); -s 0: whole packets; -n: no name lookups.
  const child: ChildProcess = spawn('tcpdump', ['--immediate-mode', '-i', 'lo', '-U', '-s', '0', '-n', '-w', file, 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] });
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
    async stop(): Promise<Buffer> {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
      const bytes = readFileSync(file);
      rmSync(dir, { recursive: true, force: true });
      return bytes;
    },
  };
}
