/**
 * `qim web`: runs the local web client (the page and its WebSocket on loopback) and prints the
 * address to open, token included. `qim start`: the quick start, an index server on its embedded
 * defaults plus the web client pointed at it, in one process.
 */
import { fingerprint } from '../crypto/keys.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import { onActivity } from '../server/activity.js';
import { DropLogLimiter } from '../server/drop-log-limiter.js';
import { QimServer } from '../server/server.js';
import { openServerData } from '../server/storage.js';
import { WebService } from '../web/service.js';
import { Logger } from './logger.js';

/** Parsed flags of `qim web`. */
export interface WebCommandOptions {
  /** The server the login form proposes. */
  readonly server: { host: string; port: number };
  /** Loopback address of the page. */
  readonly host: string;
  /** Port of the page; 0 picks a free one. */
  readonly port: number;
}

/** Parsed flags of `qim start`. */
export interface StartCommandOptions {
  /** The index server's address and port (UDP and TCP). */
  readonly host: string;
  readonly port: number;
  readonly data: string;
  /** The web client's loopback address and port. */
  readonly webHost: string;
  readonly webPort: number;
}

/** Drop log lines per reason per second before the rest are summarised (as `qim server`). */
const DROP_LOGS_PER_SECOND = 20;

/** Runs `qim web` until SIGINT or SIGTERM; resolves with the exit code. */
export async function runWeb(opts: WebCommandOptions): Promise<number> {
  const log = new Logger('text', process.stdout);
  const signal = nextSignal();
  const web = await startWeb(opts.host, opts.port, `${opts.server.host}:${opts.server.port}`, log, '--port');
  if (web === null) return 1;
  log.info('stopping', { signal: await signal });
  await web.close();
  return 0;
}

/** Runs `qim start` (server + web client) until SIGINT or SIGTERM; resolves with the exit code. */
export async function runStart(opts: StartCommandOptions): Promise<number> {
  const log = new Logger('text', process.stdout);
  const signal = nextSignal();
  const { identity, accounts, offline } = await openServerData(opts.data);
  const server = new QimServer({ host: opts.host, port: opts.port, identity, accounts, offline });
  const limiter = new DropLogLimiter(DROP_LOGS_PER_SECOND, (reason, count) => log.warn('drops-suppressed', { reason, count }));
  onActivity(server, (a) => {
    if (a.dropReason === undefined || limiter.allow(a.dropReason)) log[a.level](a.event, a.fields);
  });
  server.on('started', ({ udp, tcp }) =>
    log.info('started', { udp: formatEndpoint(udp), tcp: formatEndpoint(tcp), data: opts.data, key: fingerprint(identity.publicKey) }),
  );
  try {
    await server.start();
  } catch (err) {
    accounts.close();
    offline.close();
    throw err;
  }
  // The web client reaches the server over loopback unless the server listens on one address only.
  const wildcard = opts.host === '::' || opts.host === '0.0.0.0';
  const web = await startWeb(opts.webHost, opts.webPort, `${wildcard ? '127.0.0.1' : opts.host}:${server.endpoint.port}`, log, '--web-port');
  if (web !== null) log.info('stopping', { signal: await signal });
  await web?.close();
  await server.stop();
  accounts.close();
  offline.close();
  for (const [reason, count] of limiter.stop()) log.warn('drops-suppressed', { reason, count });
  const { drops, ...totals } = server.counters;
  log.info('stopped', { ...totals, drops });
  return web === null ? 1 : 0;
}

/** Starts the web service and prints its address; null (after saying why) when it cannot. */
async function startWeb(host: string, port: number, defaultServer: string, log: Logger, portFlag: string): Promise<WebService | null> {
  try {
    const web = new WebService({ host, port, defaultServer, log });
    await web.start();
    process.stdout.write(`qim web: open ${web.url}\n`);
    return web;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'EADDRINUSE' ? `port ${port} is in use; choose another with ${portFlag} (0 picks a free one)` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`qim web: ${why}\n`);
    return null;
  }
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function nextSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
