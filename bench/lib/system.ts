/** What the machine was doing around a measurement: load average, CPUs, kernel UDP drop counters. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  /** Load averages over 1, 5 and 15 minutes. */
  readonly load: readonly [number, number, number];
}

export function machineInfo(): MachineInfo {
  const [a = 0, b = 0, c = 0] = loadavg();
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, load: [a, b, c] };
}

/** `load 1.23 / 0.98 / 0.70` */
export function loadText(): string {
  return `load ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' / ')}`;
}

/**
 * CPU time the whole machine has spent busy (every core, user and kernel, interrupts included;
 * not idle nor waiting for I/O) since boot, in ms, from Linux /proc/stat. NaN elsewhere.
 */
export function machineBusyMs(): number {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // user nice system idle iowait irq softirq steal ...; USER_HZ is 100 on Linux.
    return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) * 10;
  } catch {
    return Number.NaN;
  }
}

/**
 * Times the kernel found a listening TCP socket's accept queue full since boot (Linux
 * /proc/net/netstat, TcpExt ListenOverflows: a connection's handshake or first bytes dropped until
 * the process accepts); NaN elsewhere.
 */
export function tcpListenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt: '));
    const names = (lines[0] ?? '').split(/\s+/);
    const values = (lines[1] ?? '').split(/\s+/).map(Number);
    const i = names.indexOf('ListenOverflows');
    return i < 0 ? Number.NaN : (values[i] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** The kernel's UDP counters (Linux /proc/net/snmp): datagrams dropped for want of buffer space. */
export interface UdpKernelCounters {
  readonly rcvbufErrors: number;
  readonly sndbufErrors: number;
  readonly inErrors: number;
}

export function udpKernelCounters(): UdpKernelCounters {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
    const names = (lines[0] ?? '').split(/\s+/);
    const values = (lines[1] ?? '').split(/\s+/).map(Number);
    const get = (n: string): number => values[names.indexOf(n)] ?? 0;
    return { rcvbufErrors: get('RcvbufErrors'), sndbufErrors: get('SndbufErrors'), inErrors: get('InErrors') };
  } catch {
    return { rcvbufErrors: 0, sndbufErrors: 0, inErrors: 0 };
  }
}

/** Counter growth between two readings. */
export function udpDelta(before: UdpKernelCounters, after: UdpKernelCounters): UdpKernelCounters {
  return {
    rcvbufErrors: after.rcvbufErrors - before.rcvbufErrors,
    sndbufErrors: after.sndbufErrors - before.sndbufErrors,
    inErrors: after.inErrors - before.inErrors,
  };
}
