/**
 * Captures inside a network namespace with `tcpdump` (into a pcap file), and reads the UDP
 * datagrams back out of it, so a test can say who sent what to whom (a relay carried none of a
 * punched conversation) and search the bytes that crossed (no plaintext at the relay).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One UDP datagram seen on the wire. */
export interface UdpDatagram {
  /** Seconds since the epoch, with microseconds. */
  readonly time: number;
  /** `ADDRESS:PORT` of the sender as seen at the capture point. */
  readonly src: string;
  /** `ADDRESS:PORT` of the receiver as seen at the capture point. */
  readonly dst: string;
  readonly payload: Buffer;
}

/** What a stopped capture holds. */
export interface CaptureResult {
  /** The pcap file's bytes (headers and whole payloads): search it for plaintext. */
  readonly pcap: Buffer;
  /** Every IPv4 UDP datagram in it (first fragments only), in order. */
  readonly udp: readonly UdpDatagram[];
}

/** A running capture. */
export interface NetCapture {
  /** Stops tcpdump (it flushes every packet first) and returns what it captured. */
  stop(): Promise<CaptureResult>;
}

const running = new Set<ChildProcess>();
let hookInstalled = false;

/** SIGKILLs every capture still running (teardown; a stopped capture is not affected). */
export function killAllCaptures(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/**
 * Starts `tcpdump` in namespace `ns` on `iface` with the capture `filter` (default `udp`);
 * resolves once it is listening.
 */
export async function startCapture(ns: string, iface: string, filter = 'udp'): Promise<NetCapture> {
  if (!hookInstalled) {
    hookInstalled = true;
    process.once('exit', killAllCaptures);
  }
  const dir = mkdtempSync(join(tmpdir(), 'qim-netcap-'));
  const file = join(dir, 'capture.pcap');
  // --immediate-mode and -U: hand over and write each packet at once (else the last ones may sit in
  // the kernel's ring when we stop); -s 0: whole packets; -n: no name lookups; -Z root: keep the
  // right to write the file in our folder.
  const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '--immediate-mode', '-U', '-s', '0', '-n', '-Z', 'root', '-i', iface, '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump in ${ns} did not start: ${stderr}`)), 10_000);
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump in ${ns} exited with ${String(code)}: ${stderr}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let result: Promise<CaptureResult> | undefined;
  return {
    stop(): Promise<CaptureResult> {
      result ??= (async () => {
        child.kill('SIGINT');
        await exited;
        running.delete(child);
        const pcap = readFileSync(file);
        rmSync(dir, { recursive: true, force: true });
        return { pcap, udp: parseUdp(pcap) };
      })();
      return result;
    },
  };
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;

/** The IPv4 UDP datagrams of a classic pcap file (Ethernet, raw IP, or Linux cooked v1/v2 links). */
export function parseUdp(pcap: Buffer): UdpDatagram[] {
  if (pcap.length < 24) return [];
  const magic = pcap.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) [le, nano] = [true, magic === 0xa1b23c4d];
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) [le, nano] = [false, magic === 0x4d3cb2a1];
  else throw new Error('not a pcap file');
  const u32 = (at: number): number => (le ? pcap.readUInt32LE(at) : pcap.readUInt32BE(at));
  const linkType = u32(20) & 0x0fffffff;
  const out: UdpDatagram[] = [];
  for (let at = 24; at + 16 <= pcap.length; ) {
    const sec = u32(at);
    const frac = u32(at + 4);
    const caplen = u32(at + 8);
    const start = at + 16;
    at = start + caplen;
    if (at > pcap.length) break;
    const frame = pcap.subarray(start, start + caplen);
    const ip = ipv4Of(frame, linkType);
    if (ip === null) continue;
    const d = udpOf(ip, sec + frac / (nano ? 1e9 : 1e6));
    if (d !== null) out.push(d);
  }
  return out;
}

function ipv4Of(frame: Buffer, linkType: number): Buffer | null {
  let proto: number;
  let offset: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      if (frame.length < 14) return null;
      proto = frame.readUInt16BE(12);
      offset = 14;
      if (proto === 0x8100 && frame.length >= 18) [proto, offset] = [frame.readUInt16BE(16), 18];
      break;
    case LINKTYPE_RAW:
      [proto, offset] = [0x0800, 0];
      break;
    case LINKTYPE_LINUX_SLL:
      if (frame.length < 16) return null;
      [proto, offset] = [frame.readUInt16BE(14), 16];
      break;
    case LINKTYPE_LINUX_SLL2:
      if (frame.length < 20) return null;
      [proto, offset] = [frame.readUInt16BE(0), 20];
      break;
    default:
      return null;
  }
  if (proto !== 0x0800) return null;
  return frame.subarray(offset);
}

function udpOf(ip: Buffer, time: number): UdpDatagram | null {
  if (ip.length < 20 || ip[0] === undefined || ip[0] >> 4 !== 4) return null;
  const ihl = (ip[0] & 0x0f) * 4;
  if (ip[9] !== 17) return null;
  // A fragment other than the first carries no UDP header.
  if ((ip.readUInt16BE(6) & 0x1fff) !== 0) return null;
  const totalLength = Math.min(ip.readUInt16BE(2), ip.length);
  if (totalLength < ihl + 8) return null;
  const addr = (at: number): string => `${ip[at]}.${ip[at + 1]}.${ip[at + 2]}.${ip[at + 3]}`;
  const udp = ip.subarray(ihl, totalLength);
  const udpLength = Math.min(udp.readUInt16BE(4), udp.length);
  return {
    time,
    src: `${addr(12)}:${udp.readUInt16BE(0)}`,
    dst: `${addr(16)}:${udp.readUInt16BE(2)}`,
    payload: Buffer.from(udp.subarray(8, Math.max(8, udpLength))),
  };
}
