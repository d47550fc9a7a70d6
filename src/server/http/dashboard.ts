/**
 * The server's HTTP face, served by the qim process itself with nothing fetched from elsewhere:
 *
 * - `/` a read-only dashboard (online users, counters, event log), live over Server-Sent Events;
 * - `/events` the live stream: a `snapshot`, then `presence`, `log` and `counters` events;
 * - `/metrics` the counters in the Prometheus text format;
 * - `/healthz` `ok` while the server runs.
 *
 * It only listens to the {@link QimServer}'s typed events and reads its counters and directory:
 * the server knows nothing of HTTP. Everything is bounded: connections, live clients, the log,
 * the users listed, the bytes waiting for a slow reader.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { QimError } from '../../errors.js';
import { formatEndpoint, type Endpoint } from '../../protocol/endpoint.js';
import { onActivity } from '../activity.js';
import { DropLogLimiter } from '../drop-log-limiter.js';
import type { ServerEvents } from '../events.js';
import type { QimServer } from '../server.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.js';
import { EventLog, type LogEntry } from './event-log.js';
import { METRICS_CONTENT_TYPE, onlineByProtocol, renderMetrics } from './metrics.js';
import { renderPage } from './page.js';
import { userView, type CountersView, type PresenceChange, type Snapshot, type UserView } from './view.js';

/** Options of {@link Dashboard}; every bound has a default (docs/LIMITS.md). */
export interface DashboardOptions {
  /** Address to listen on; default `127.0.0.1` (this machine only). */
  readonly host?: string;
  /** TCP port; default 0 (a free one: read {@link Dashboard.url}). */
  readonly port?: number;
  /** Pages receiving live updates at once; more get 503. Default 64. */
  readonly maxSseClients?: number;
  /** Entries kept in the event log. Default 200. */
  readonly logSize?: number;
  /** Users listed on the page and in a snapshot (the count is always exact). Default 1,000. */
  readonly maxListedUsers?: number;
  /** HTTP connections open at once. Default 128. */
  readonly maxConnections?: number;
  /** Time allowed to send the request headers. Default 10,000 ms. */
  readonly headersTimeoutMs?: number;
  /** Bytes waiting for one slow live client before it is cut off (it reconnects to a snapshot). Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Drop entries per reason per second in the event log; the rest are summed. Default 20. */
  readonly dropLogsPerSecond?: number;
}

type Resolved = Required<DashboardOptions>;

const DEFAULTS: Resolved = {
  host: '127.0.0.1',
  port: 0,
  maxSseClients: 64,
  logSize: 200,
  maxListedUsers: 1000,
  maxConnections: 128,
  headersTimeoutMs: 10_000,
  maxBufferedBytes: 1024 * 1024,
  dropLogsPerSecond: 20,
};

/** Live events are gathered this long and written to every page in one go. */
const FLUSH_MS = 50;
/** How often the counters are sent (when they changed). */
const COUNTERS_MS = 1000;
/** A comment line this often keeps idle streams (and any proxy between) open. */
const KEEPALIVE_MS = 15_000;
/** Idle time of a non-streaming connection. */
const IDLE_MS = 30_000;

/** Events that name a user whose entry may have changed. */
const PRESENCE_EVENTS = ['login', 'logout', 'status', 'broadcast'] as const satisfies readonly {
  [K in keyof ServerEvents]: ServerEvents[K][0] extends { name: string } ? K : never;
}[keyof ServerEvents][];

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** The dashboard, `/metrics` and `/healthz` of one {@link QimServer}. */
export class Dashboard {
  readonly options: Resolved;
  readonly #server: QimServer;
  readonly #http: Server;
  readonly #log: EventLog;
  readonly #clients = new Set<ServerResponse>();
  readonly #unsubscribe: () => void;
  readonly #drops: DropLogLimiter;
  readonly #routes: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
  #pending = '';
  #flushTimer: NodeJS.Timeout | null = null;
  #tick: NodeJS.Timeout | null = null;
  #lastCounters = '';
  #lastWrite = Date.now();
  #startedAt = Date.now();
  #state: 'new' | 'listening' | 'closed' = 'new';

  /** Subscribes to `server` at once (so its `started` is logged); call {@link listen} to serve. */
  constructor(server: QimServer, options: DashboardOptions = {}) {
    this.options = resolve(options);
    this.#server = server;
    this.#log = new EventLog(this.options.logSize);
    this.#drops = new DropLogLimiter(this.options.dropLogsPerSecond, (reason, count) =>
      this.#addLog('warn', 'drops-suppressed', { reason, count }),
    );
    const unsubscribe = onActivity(server, (a) => {
      if (a.dropReason !== undefined && !this.#drops.allow(a.dropReason)) return;
      this.#addLog(a.level, a.event, a.fields);
    });
    const onStarted = ({ udp, tcp }: { udp: Endpoint; tcp: Endpoint }): void => {
      this.#startedAt = Date.now();
      this.#addLog('info', 'started', { udp: formatEndpoint(udp), tcp: formatEndpoint(tcp) });
    };
    const onStopped = (): void => this.#addLog('info', 'stopped', {});
    // Each of these may change someone's entry (a broadcast also follows a qim user who logged in
    // again from elsewhere): the page gets the entry as the directory now has it.
    const refresh = ({ name }: { name: string }): void => this.#presence(name);
    // Untyped: PRESENCE_EVENTS is checked to hold only events that carry a name.
    const emitter: EventEmitter = server;
    // Presence goes first: the page shows who is online before it shows the log line saying so.
    for (const event of PRESENCE_EVENTS) emitter.prependListener(event, refresh);
    server.on('started', onStarted);
    server.on('stopped', onStopped);
    this.#unsubscribe = () => {
      unsubscribe();
      for (const event of PRESENCE_EVENTS) emitter.off(event, refresh);
      server.off('started', onStarted);
      server.off('stopped', onStopped);
    };

    this.#routes = new Map([
      ['/', (_req, res) => this.#send(res, 200, 'text/html; charset=utf-8', renderPage(this.snapshot(), this.options))],
      ['/dashboard.js', (_req, res) => this.#send(res, 200, 'text/javascript; charset=utf-8', DASHBOARD_JS)],
      ['/dashboard.css', (_req, res) => this.#send(res, 200, 'text/css; charset=utf-8', DASHBOARD_CSS)],
      // Browsers ask for an icon whatever the page says; an empty answer keeps their consoles quiet.
      ['/favicon.ico', (_req, res) => void res.writeHead(204, SECURITY_HEADERS).end()],
      ['/events', (req, res) => this.#stream(req, res)],
      ['/metrics', (_req, res) => this.#send(res, 200, METRICS_CONTENT_TYPE, this.#metrics())],
      [
        '/healthz',
        (_req, res) => {
          const state = this.#server.state;
          this.#send(res, state === 'running' ? 200 : 503, 'text/plain; charset=utf-8', state === 'running' ? 'ok\n' : `${state}\n`);
        },
      ],
    ]);
    this.#http = createServer(
      { headersTimeout: this.options.headersTimeoutMs, requestTimeout: 2 * this.options.headersTimeoutMs, maxHeaderSize: 16 * 1024 },
      (req, res) => this.#handle(req, res),
    );
    this.#http.maxConnections = this.options.maxConnections;
    this.#http.maxHeadersCount = 64;
    this.#http.keepAliveTimeout = 5000;
    this.#http.setTimeout(IDLE_MS);
  }

  /** Starts listening; rejects if the address cannot be bound (e.g. `EADDRINUSE`). */
  async listen(): Promise<void> {
    if (this.#state !== 'new') throw new QimError('ERR_CLOSED', 'the dashboard was already started');
    this.#state = 'listening';
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.#state = 'closed';
        this.#unsubscribe();
        this.#drops.stop();
        reject(err);
      };
      this.#http.once('error', fail);
      this.#http.listen({ host: this.options.host, port: this.options.port }, () => {
        this.#http.off('error', fail);
        resolve();
      });
    });
    this.#tick = setInterval(() => this.#onTick(), COUNTERS_MS);
    this.#tick.unref();
  }

  /** The bound address and port. Throws before {@link listen}. */
  get endpoint(): Endpoint {
    const a = this.#http.address();
    if (a === null || typeof a === 'string') throw new QimError('ERR_NOT_ONLINE', 'the dashboard is not listening');
    return { address: a.address, port: a.port };
  }

  /** `http://ADDRESS:PORT/`, the dashboard's address. */
  get url(): string {
    return `http://${formatEndpoint(this.endpoint)}/`;
  }

  /** Pages receiving live updates now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** What a page sees when it opens. */
  snapshot(): Snapshot {
    const users: UserView[] = [];
    for (const u of this.#server.directory.users()) {
      if (users.length >= this.options.maxListedUsers) break;
      users.push(userView(u));
    }
    return { users, online: this.#server.directory.size, log: this.#log.entries(), counters: this.#countersView() };
  }

  /** Ends every live stream, closes every connection and stops listening. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasListening = this.#state === 'listening';
    this.#state = 'closed';
    this.#unsubscribe();
    this.#drops.stop();
    if (this.#tick !== null) clearInterval(this.#tick);
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flush();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
    if (!wasListening) return;
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeAllConnections();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      // No route reads a body: discard any, so it cannot hold the connection up.
      req.resume();
      const path = pathOf(req.url);
      if (path === null) return this.#send(res, 400, 'text/plain; charset=utf-8', 'bad request\n');
      const route = this.#routes.get(path);
      if (route === undefined) return this.#send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return this.#send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      }
      if (!this.#hostAllowed(req.headers.host)) {
        return this.#send(res, 403, 'text/plain; charset=utf-8', 'this dashboard answers to its address only\n');
      }
      route(req, res);
    } catch {
      // A bug here must not take the qim server down with it.
      if (!res.headersSent) this.#send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  }

  /**
   * On a loopback address, only requests naming a loopback address or `localhost` are served: a
   * web page elsewhere cannot point a name of its own at 127.0.0.1 (DNS rebinding) and read the
   * dashboard. On any other address the operator chose to expose it, under whatever name.
   */
  #hostAllowed(host: string | undefined): boolean {
    if (host === undefined || !isLoopback(this.options.host)) return true;
    const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
    return name === 'localhost' || name.endsWith('.localhost') || isLoopback(name);
  }

  #send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      ...headers,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  #stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.#clients.size >= this.options.maxSseClients) {
      return this.#send(res, 503, 'text/plain; charset=utf-8', 'too many live dashboard clients\n', { 'retry-after': '10' });
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' });
    if (req.method === 'HEAD') return void res.end();
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    // Events already queued happened before this snapshot: they go to the pages open before it.
    this.#flush();
    res.write(`retry: 2000\n\n${frame('snapshot', this.snapshot())}`);
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
  }

  #presence(name: string): void {
    const user = this.#server.directory.byName(name);
    const online = this.#server.directory.size;
    const change: PresenceChange =
      user === undefined ? { op: 'remove', name, online } : { op: 'upsert', user: userView(user), online };
    this.#broadcast('presence', change);
  }

  #addLog(level: LogEntry['level'], event: string, fields: LogEntry['fields']): void {
    this.#broadcast('log', this.#log.add(level, event, fields));
  }

  #countersView(): CountersView {
    return { counters: this.#server.counters, online: onlineByProtocol(this.#server.directory.users()) };
  }

  #metrics(): string {
    const view = this.#countersView();
    return renderMetrics({ ...view, dashboardClients: this.#clients.size, startedAt: this.#startedAt });
  }

  #onTick(): void {
    if (this.#clients.size === 0) return;
    const counters = JSON.stringify(this.#countersView());
    if (counters !== this.#lastCounters) {
      this.#lastCounters = counters;
      this.#queue(`event: counters\ndata: ${counters}\n\n`);
    } else if (Date.now() - this.#lastWrite >= KEEPALIVE_MS) {
      this.#queue(': keep-alive\n\n');
    }
  }

  #broadcast(event: string, data: unknown): void {
    if (this.#clients.size > 0) this.#queue(frame(event, data));
  }

  #queue(text: string): void {
    this.#pending += text;
    // A burst (a login storm) is written at once rather than held: memory stays bounded.
    if (this.#pending.length >= this.options.maxBufferedBytes) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS).unref();
  }

  #flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const text = this.#pending;
    this.#pending = '';
    if (text === '') return;
    this.#lastWrite = Date.now();
    for (const res of this.#clients) {
      // A page that does not read falls behind; cut it off (it reconnects to a fresh snapshot)
      // rather than buffer without end.
      if (res.writableLength > this.options.maxBufferedBytes) {
        this.#clients.delete(res);
        res.destroy();
      } else {
        res.write(text);
      }
    }
  }
}

function resolve(o: DashboardOptions): Resolved {
  const r: Resolved = { ...DEFAULTS, ...o };
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) {
    throw new QimError('ERR_BAD_OPTION', `dashboard port must be 0 to 65535, got ${r.port}`);
  }
  for (const key of ['maxSseClients', 'logSize', 'maxListedUsers', 'maxConnections', 'headersTimeoutMs', 'maxBufferedBytes', 'dropLogsPerSecond'] as const) {
    const value = r[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new QimError('ERR_BAD_OPTION', `dashboard option ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return r;
}

/** One Server-Sent Event; JSON never holds a raw line break, so `data` is one line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The path of a request target (query dropped), or null when the target is not a path. */
function pathOf(target: string | undefined): string | null {
  if (target === undefined || !target.startsWith('/')) return null;
  return target.replace(/[?#].*$/s, '');
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || host.toLowerCase().startsWith('::ffff:127.');
  return false;
}
