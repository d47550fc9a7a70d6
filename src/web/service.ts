/**
 * `qim web`'s HTTP side: serves the built page and its WebSocket (`/ws`) on a loopback address.
 *
 * Nobody but the local user may read or send their messages through it:
 * - it binds loopback only (127.0.0.0/8, ::1 or localhost);
 * - every request must name this service in `Host` (no DNS rebinding);
 * - a WebSocket upgrade is refused (403, no upgrade) unless `Origin` is this page's own origin and
 *   the `token` query parameter equals the per-run random token printed in the URL (compared in
 *   constant time);
 * - the page is served with a strict Content-Security-Policy, `nosniff`, no referrer, no framing.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { defaultProfilesRoot } from '../client/profile.js';
import { QimError } from '../errors.js';
import { PageConnection } from './connection.js';
import { WebHub } from './hub.js';
import type { NodeMessage } from './protocol.js';
import { loadStaticFiles, type StaticFile } from './static-files.js';

/** Default port of `qim web`. */
export const DEFAULT_WEB_PORT = 8600;

export interface WebLimits {
  /** Bytes in one WebSocket message from a page; a larger one closes that connection (1009). */
  readonly maxMessageBytes: number;
  /** WebSocket connections (tabs) open at once. */
  readonly maxConnections: number;
  /** Logins (server, name) held at once. */
  readonly maxLogins: number;
  /** How long a login outlives its last tab (a reload re-attaches within it), ms. */
  readonly graceMs: number;
}

export const DEFAULT_WEB_LIMITS: WebLimits = Object.freeze({
  maxMessageBytes: 128 * 1024,
  maxConnections: 64,
  maxLogins: 32,
  graceMs: 20_000,
});

export interface WebLog {
  info(event: string, fields: Record<string, string | number | undefined>): void;
  warn(event: string, fields: Record<string, string | number | undefined>): void;
}

export interface WebServiceOptions {
  /** Loopback address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port; 0 picks a free one (default 8600). */
  readonly port?: number;
  /** The server the login form proposes, `HOST:PORT`. */
  readonly defaultServer: string;
  /** Where profiles live (default `$XDG_DATA_HOME/qim`, shared with `qim chat`). */
  readonly profilesRoot?: string;
  /** The built page (default `dist/web/static`). */
  readonly staticDir?: string;
  /** Local address for every client's chat endpoint (default: the one that reaches the server). */
  readonly clientHost?: string;
  readonly limits?: Partial<WebLimits>;
  readonly log?: WebLog;
}

const SILENT: WebLog = { info: () => {}, warn: () => {} };

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

export class WebService {
  readonly token = randomBytes(32).toString('base64url');
  readonly limits: WebLimits;
  readonly hub: WebHub;
  readonly #options: WebServiceOptions;
  readonly #log: WebLog;
  readonly #files: Map<string, StaticFile>;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #port = 0;
  #hosts = new Set<string>();
  #origins = new Set<string>();
  #csp = '';

  constructor(options: WebServiceOptions) {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopbackHost(host)) throw new QimError('ERR_BAD_OPTION', `qim web binds loopback only (127.0.0.1, ::1 or localhost), not ${host}`);
    this.#options = options;
    this.#log = options.log ?? SILENT;
    this.limits = { ...DEFAULT_WEB_LIMITS, ...options.limits };
    this.#files = loadStaticFiles(options.staticDir);
    this.hub = new WebHub({
      profilesRoot: options.profilesRoot ?? defaultProfilesRoot(),
      graceMs: this.limits.graceMs,
      maxLogins: this.limits.maxLogins,
      ...(options.clientHost !== undefined ? { clientHost: options.clientHost } : {}),
      onLogin: (s) => this.#log.info('web-login', { name: s.name, server: s.serverText }),
      onLogout: (s) => this.#log.info('web-logout', { name: s.name, server: s.serverText }),
    });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxMessageBytes, perMessageDeflate: false });
    this.#http = createServer((req, res) => this.#serve(req, res));
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    this.#http.on('clientError', (_err, socket: Duplex) => socket.destroy());
  }

  /** Binds and listens. */
  async start(): Promise<void> {
    const host = this.#options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen({ host, port: this.#options.port ?? DEFAULT_WEB_PORT }, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    const address = this.#http.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : 0;
    const p = this.#port;
    const names = ['127.0.0.1', 'localhost', '[::1]', ...(isIP(host) === 4 ? [host] : [])];
    this.#hosts = new Set(names.map((n) => `${n}:${p}`));
    this.#origins = new Set(names.map((n) => `http://${n}:${p}`));
    const ws = names.map((n) => `ws://${n}:${p}`).join(' ');
    this.#csp = [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "font-src 'self'",
      `connect-src 'self' ${ws}`,
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  }

  /** The bound address and port. */
  get address(): { host: string; port: number } {
    const a = this.#http.address();
    if (a === null || typeof a !== 'object') throw new QimError('ERR_NOT_ONLINE', 'qim web is not listening');
    return { host: a.address, port: a.port };
  }

  /** The page's address with the token: what `qim web` prints. */
  get url(): string {
    const host = this.#options.host ?? '127.0.0.1';
    const shown = isIP(host) === 6 ? `[${host}]` : host;
    return `http://${shown}:${this.#port}/#token=${this.token}`;
  }

  /** Logs every login out and stops serving. */
  async close(): Promise<void> {
    await this.hub.close();
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Content-Security-Policy', this.#csp);
    if (!this.#hosts.has(req.headers.host ?? '')) return plain(res, 403, 'unexpected Host header\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed\n');
    }
    const path = (req.url ?? '/').split(/[?#]/, 1)[0] ?? '/';
    const file = this.#files.get(path);
    if (file === undefined) return plain(res, 404, 'not found\n');
    res.statusCode = 200;
    res.setHeader('Content-Type', file.type);
    res.setHeader('Content-Length', file.body.length);
    res.setHeader('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-store');
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const refusal = this.#refusal(req);
    if (refusal !== null) {
      const from = (socket as Socket).remoteAddress;
      this.#log.warn('web-socket-refused', { reason: refusal, origin: req.headers.origin, from });
      const body = `${refusal}\n`;
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    if (this.#wss.clients.size >= this.limits.maxConnections) {
      this.#log.warn('web-socket-refused', { reason: 'too many connections' });
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const hello: NodeMessage = { type: 'hello', defaultServer: this.#options.defaultServer };
      new PageConnection(ws, this.hub, this.#log, hello);
    });
  }

  /** Why an upgrade is refused, or null to accept it. */
  #refusal(req: IncomingMessage): string | null {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return 'not the WebSocket path';
    if (!this.#hosts.has(req.headers.host ?? '')) return 'unexpected Host header';
    if (!this.#origins.has(req.headers.origin ?? '')) return 'origin not allowed';
    const token = url.searchParams.get('token');
    if (token === null || !sameSecret(token, this.token)) return 'missing or wrong token';
    return null;
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}
