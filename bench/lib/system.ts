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
