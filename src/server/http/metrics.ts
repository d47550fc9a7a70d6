/**
 * `/metrics`: the server's counters in the Prometheus text exposition format (version 0.0.4),
 * written by hand: a dozen counters do not need a library. Names start with `qim_`, counters end
 * in `_total`, and no label ever carries a user name (one series per user would grow without end).
 */
import type { DropReason } from '../../protocol/result.js';
import type { ServerCounters } from '../counters.js';
import type { OnlineUser, UserProtocol } from '../directory.js';

/** The `Content-Type` of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Every drop reason, so each series exists (at 0) from the start and `rate()` sees the first drop. */
const DROP_REASONS = Object.keys({
  empty: true,
  oversized: true,
  'odd-length': true,
  'bad-encoding': true,
  'unknown-command': true,
  'missing-field': true,
  'bad-endpoint': true,
  'bad-port': true,
  'bad-length': true,
  'bad-list': true,
  unexpected: true,
  'spoofed-source': true,
  'unknown-sender': true,
  'not-logged-in': true,
  'bad-name': true,
  'name-taken': true,
  'server-full': true,
  'bad-cookie': true,
  'bad-signature': true,
  'bad-mac': true,
  'bad-key': true,
  'key-mismatch': true,
  stale: true,
  replayed: true,
  'rate-limited': true,
  busy: true,
  'relay-limit': true,
  'unknown-peer': true,
  'tcp-garbage': true,
  'tcp-too-many': true,
  'tcp-idle': true,
} satisfies Record<DropReason, true>) as DropReason[];

/** One exported counter per field of {@link ServerCounters} (the compiler checks none is missing). */
const COUNTERS: Record<Exclude<keyof ServerCounters, 'drops'>, { readonly name: string; readonly help: string }> = {
  logins: { name: 'qim_logins_total', help: 'Logins accepted (classic and qim).' },
  logouts: { name: 'qim_logouts_total', help: 'Logouts asked for by the user.' },
  expired: { name: 'qim_expired_total', help: 'qim users removed because their lease ran out.' },
  refused: { name: 'qim_refused_total', help: 'Logins refused.' },
  loginRepeats: { name: 'qim_login_repeats_total', help: 'qim LOGINs sent again and answered with the same WELCOME.' },
  presenceHolds: { name: 'qim_presence_holds_total', help: 'Login storms met by holding presence deltas until the list settled.' },
  listsSent: { name: 'qim_lists_sent_total', help: 'Online lists sent over TCP.' },
  catchUps: { name: 'qim_list_catch_ups_total', help: 'List requests answered with the presence batches since the version the client had.' },
  listBytes: { name: 'qim_list_sent_bytes_total', help: 'Bytes of the online lists sent over TCP.' },
  broadcasts: { name: 'qim_broadcasts_total', help: 'Join and leave announcements sent to the other users.' },
  tcpConnections: { name: 'qim_tcp_connections_total', help: 'TCP connections accepted on the list port.' },
  datagramsIn: { name: 'qim_datagrams_received_total', help: 'UDP datagrams received.' },
  bytesIn: { name: 'qim_received_bytes_total', help: 'UDP bytes received.' },
  datagramsOut: { name: 'qim_datagrams_sent_total', help: 'UDP datagrams sent.' },
  bytesOut: { name: 'qim_sent_bytes_total', help: 'UDP bytes sent.' },
  sendErrors: { name: 'qim_send_errors_total', help: 'UDP sends that failed.' },
  relayed: { name: 'qim_relayed_datagrams_total', help: 'Peer datagrams carried by the relay (end-to-end ciphertext).' },
  relayedBytes: { name: 'qim_relayed_bytes_total', help: 'Bytes of peer datagrams carried by the relay.' },
};

const PROTOCOLS: readonly UserProtocol[] = ['classic', 'qim'];

/** Online users per protocol. */
export function onlineByProtocol(users: Iterable<OnlineUser>): Record<UserProtocol, number> {
  const out: Record<UserProtocol, number> = { classic: 0, qim: 0 };
  for (const u of users) out[u.protocol]++;
  return out;
}

/** What `/metrics` reports. */
export interface MetricsInput {
  readonly counters: ServerCounters;
  readonly online: Readonly<Record<UserProtocol, number>>;
  /** Dashboard pages connected for live updates. */
  readonly dashboardClients: number;
  /** When the server started (ms since the epoch). */
  readonly startedAt: number;
}

/** The exposition text. */
export function renderMetrics(m: MetricsInput): string {
  const lines: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family('qim_online_users', 'gauge', 'Users online now, by protocol.');
  for (const p of PROTOCOLS) lines.push(`qim_online_users{protocol="${p}"} ${m.online[p]}`);
  for (const key of Object.keys(COUNTERS) as (keyof typeof COUNTERS)[]) {
    const { name, help } = COUNTERS[key];
    family(name, 'counter', help);
    lines.push(`${name} ${m.counters[key]}`);
  }
  family('qim_drops_total', 'counter', 'Inputs dropped (datagrams and TCP connections), by reason.');
  const reasons = new Set<string>(DROP_REASONS);
  for (const r of Object.keys(m.counters.drops)) reasons.add(r);
  for (const r of reasons) lines.push(`qim_drops_total{reason="${labelValue(r)}"} ${m.counters.drops[r as DropReason] ?? 0}`);
  family('qim_dashboard_clients', 'gauge', 'Dashboard pages receiving live updates.');
  lines.push(`qim_dashboard_clients ${m.dashboardClients}`);
  family('qim_start_time_seconds', 'gauge', 'When the server started, in seconds since the Unix epoch.');
  lines.push(`qim_start_time_seconds ${m.startedAt / 1000}`);
  return `${lines.join('\n')}\n`;
}

/** Escapes a label value as the exposition format requires. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
