/**
 * `qim server`: runs the index server and logs what it does, as the seed's server window showed
 * it, until SIGINT or SIGTERM; then prints the counters.
 */
import { formatEndpoint } from '../protocol/endpoint.js';
import { fingerprint } from '../crypto/keys.js';
import { QimServer } from '../server/server.js';
import { openServerData } from '../server/storage.js';
import { onActivity } from '../server/activity.js';
import { DropLogLimiter } from '../server/drop-log-limiter.js';
import { Dashboard } from '../server/http/dashboard.js';
import { Logger, type LogFormat } from './logger.js';
import { QimError } from '../errors.js';
import { RedisBackplane } from '../server/cluster/redis.js';
import { RedisOffline } from '../server/cluster/redis-offline.js';

/** A URL without its password, for the log. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Parsed flags of `qim server`. */
export interface ServerCommandOptions {
  readonly host: string;
  readonly port: number;
  readonly log: LogFormat;
  /** Folder for the accounts database and the server identity. */
  readonly data: string;
  /** Port of the dashboard, `/metrics` and `/healthz` (0: a free one); no HTTP when absent. */
  readonly http?: number;
  /** Address of the dashboard; default `127.0.0.1`. */
  readonly httpHost?: string;
  /** Redis URL: this instance shares its directory with the others on that Redis. */
  readonly redis?: string;
}

/** At most one Redis error line per this many ms (a Redis that is down errs on every retry). */
const REDIS_ERROR_LOG_MS = 5_000;

/** Drop log lines per reason per second before the rest are summarised. */
const DROP_LOGS_PER_SECOND = 20;

/** Runs the server until a signal; resolves when it has stopped. */
export async function runServer(opts: ServerCommandOptions): Promise<void> {
  const log = new Logger(opts.log, process.stdout);
  const { identity, accounts, offline } = await openServerData(opts.data);
  let lastRedisError = 0;
  const backplane =
    opts.redis === undefined
      ? undefined
      : new RedisBackplane({
          url: opts.redis,
          onError: (err) => {
            if (Date.now() - lastRedisError < REDIS_ERROR_LOG_MS) return;
            lastRedisError = Date.now();
            log.warn('redis-error', { message: err.message });
          },
        });
  // In a cluster, messages kept for offline users live in Redis too: any instance may deliver them.
  const shared =
    opts.redis === undefined
      ? null
      : await RedisOffline.open(opts.redis, 'qim:', (err) => log.warn('redis-error', { message: err.message })).catch((err: unknown) => {
          accounts.close();
          offline.close();
          throw new QimError('ERR_BAD_OPTION', `cannot join the cluster: ${err instanceof Error ? err.message : String(err)}`);
        });
  const server = new QimServer({
    host: opts.host,
    port: opts.port,
    identity,
    accounts,
    offline: shared ?? offline,
    ...(backplane !== undefined ? { backplane } : {}),
  });
  const limiter = new DropLogLimiter(DROP_LOGS_PER_SECOND, (reason, count) =>
    log.warn('drops-suppressed', { reason, count }),
  );

  const dashboard =
    opts.http === undefined ? null : new Dashboard(server, { port: opts.http, ...(opts.httpHost === undefined ? {} : { host: opts.httpHost }) });
  server.on('started', ({ udp, tcp }) =>
    log.info('started', {
      udp: formatEndpoint(udp),
      tcp: formatEndpoint(tcp),
      data: opts.data,
      key: fingerprint(identity.publicKey),
      http: dashboard?.url,
    }),
  );
  if (opts.redis !== undefined) {
    const redis = redactUrl(opts.redis);
    server.on('started', () => log.info('cluster', { instance: server.options.instance, redis }));
  }
  onActivity(server, (a) => {
    if (a.dropReason === undefined || limiter.allow(a.dropReason)) log[a.level](a.event, a.fields);
  });

  // Signal handlers go in before the server starts: a supervisor may signal as soon as it sees
  // the `started` line, and the server must still stop cleanly and print its counters.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      log.info('stopping', { signal });
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // The dashboard listens first, so `started` can name its address.
  try {
    await dashboard?.listen();
    await server.start();
  } catch (err) {
    await dashboard?.close();
    accounts.close();
    offline.close();
    shared?.close();
    throw err;
  }
  await stopped;
  await server.stop();
  await dashboard?.close();
  accounts.close();
  offline.close();
  shared?.close();
  for (const [reason, count] of limiter.stop()) log.warn('drops-suppressed', { reason, count });
  const { drops, ...totals } = server.counters;
  log.info('stopped', { ...totals, drops });
}
