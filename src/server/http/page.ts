/**
 * The dashboard page, rendered on the server from a {@link Snapshot}: it is complete without
 * JavaScript (a snapshot as of the request); the script (`/dashboard.js`) then keeps the same
 * elements up to date from the live stream. Every piece of text is HTML-escaped: names are chosen
 * by anyone who can send a datagram.
 */
import { classicTime } from '../../protocol/classic/datagram.js';
import type { ServerCounters } from '../counters.js';
import type { LogEntry } from './event-log.js';
import type { Snapshot, UserView } from './view.js';

/** Labels of the counters, in display order; the keys are the `data-counter` the script updates. */
const COUNTER_LABELS: readonly (readonly [key: Exclude<keyof ServerCounters, 'drops'> | 'online-classic' | 'online-qim' | 'drops-total', label: string])[] = [
  ['online-classic', 'Online (classic)'],
  ['online-qim', 'Online (qim)'],
  ['logins', 'Logins'],
  ['logouts', 'Logouts'],
  ['expired', 'Expired leases'],
  ['refused', 'Refused logins'],
  ['listsSent', 'Lists sent'],
  ['catchUps', 'List catch-ups'],
  ['broadcasts', 'Broadcasts'],
  ['tcpConnections', 'TCP connections'],
  ['datagramsIn', 'Datagrams in'],
  ['bytesIn', 'Bytes in'],
  ['datagramsOut', 'Datagrams out'],
  ['bytesOut', 'Bytes out'],
  ['sendErrors', 'Send errors'],
  ['drops-total', 'Drops'],
];

/** `text` safe to place in HTML content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The whole page. */
export function renderPage(s: Snapshot, opts: { readonly maxListedUsers: number; readonly logSize: number; readonly now?: Date }): string {
  const c = s.counters.counters;
  const values: Record<(typeof COUNTER_LABELS)[number][0], number> = {
    ...c,
    'online-classic': s.counters.online.classic,
    'online-qim': s.counters.online.qim,
    'drops-total': Object.values(c.drops).reduce((a, b) => a + b, 0),
  };
  const counters = COUNTER_LABELS.map(
    ([key, label]) => `<div><dt>${label}</dt><dd data-counter="${key}">${values[key]}</dd></div>`,
  ).join('\n');
  const drops = Object.entries(c.drops)
    .map(([reason, n]) => `<div><dt>${escapeHtml(reason)}</dt><dd>${n}</dd></div>`)
    .join('\n');
  const truncated = s.users.length < s.online;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qim server</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
<h1>qim server</h1>
<p id="connection" role="status">As of ${classicTime(opts.now ?? new Date())}; live updates need JavaScript.</p>
</header>
<main>
<section id="online" aria-labelledby="online-heading">
<h2 id="online-heading">Online users: <span id="online-count">${s.online}</span></h2>
<p id="online-note"${truncated ? '' : ' hidden'}>Showing ${s.users.length} of ${s.online}.</p>
<ul id="users" aria-label="Online users" data-cap="${opts.maxListedUsers}">
${s.users.map(userItem).join('\n')}
</ul>
</section>
<section id="stats" aria-labelledby="counters-heading">
<h2 id="counters-heading">Counters</h2>
<dl id="counters">
${counters}
</dl>
<h3 id="drops-heading">Drops by reason</h3>
<dl id="drops" aria-labelledby="drops-heading">
${drops}
</dl>
</section>
<section id="activity" aria-labelledby="log-heading">
<h2 id="log-heading">Event log</h2>
<div role="log" aria-labelledby="log-heading">
<ol id="log-entries" data-cap="${opts.logSize}">
${[...s.log].reverse().map(logItem).join('\n')}
</ol>
</div>
</section>
</main>
</body>
</html>
`;
}

function timeTag(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${classicTime(new Date(iso))}</time>`;
}

function userItem(u: UserView): string {
  return (
    `<li data-name="${escapeHtml(u.name)}"><span class="name">${escapeHtml(u.name)}</span> ` +
    `<span class="protocol">${u.protocol}</span> <span class="status">${u.status}</span> ` +
    `<span class="endpoint">${escapeHtml(u.endpoint)}</span> ` +
    `<span class="since">since ${timeTag(u.since)}</span></li>`
  );
}

function logItem(e: LogEntry): string {
  const fields = Object.entries(e.fields)
    .map(([k, v]) => `<span class="field">${escapeHtml(k)}=<span class="value">${escapeHtml(String(v))}</span></span>`)
    .join(' ');
  return `<li class="${e.level}">${timeTag(e.time)} <span class="event">${escapeHtml(e.event)}</span> ${fields}</li>`;
}
