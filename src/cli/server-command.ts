/**
 * `qim server`: runs the index server and logs what it does, as the seed's server window showed
 * it, until SIGINT or SIGTERM; then prints the counters.
 */
import { formatEndpoint } from '../protocol/endpoint.js';
import { fingerprint } from '../crypto/keys.js';
import { QimServer } from '../server/server.js';
import { openServerData } from '../server/storage.js';
import { DropLogLimiter, Logger, type LogFormat } from './logger.js';

/** Parsed flags of `qim server`. */
export interface ServerCommandOptions {
  readonly host: string;
  readonly port: number;
  readonly log: LogFormat;
  /** Folder for the accounts database and the server identity. */
  readonly data: string;
}

/** Drop log lines per reason per second before the rest are summarised. */
const DROP_LOGS_PER_SECOND = 20;

/** Runs the server until a signal; resolves when it has stopped. */
export async function runServer(opts: ServerCommandOptions): Promise<void> {
  const log = new Logger(opts.log, process.stdout);
  const { identity, accounts } = await openServerData(opts.data);
  const server = new QimServer({ host: opts.host, port: opts.port, identity, accounts });
  const limiter = new DropLogLimiter(DROP_LOGS_PER_SECOND, (reason, count) =>
    log.warn('drops-suppressed', { reason, count }),
  );

  server.on('started', ({ udp, tcp }) =>
    log.info('started', { udp: formatEndpoint(udp), tcp: formatEndpoint(tcp), data: opts.data, key: fingerprint(identity.publicKey) }),
  );
  server.on('login', ({ name, endpoint, protocol }) =>
    log.info('login', { name, endpoint: formatEndpoint(endpoint), protocol, online: server.directory.size }),
  );
  server.on('logout', ({ name, endpoint, reason }) =>
    log.info('logout', { name, endpoint: formatEndpoint(endpoint), reason, online: server.directory.size }),
  );
  server.on('refused', ({ name, endpoint, reason, message }) =>
    log.warn('refused', { name, endpoint: formatEndpoint(endpoint), reason, message }),
  );
  server.on('list-sent', ({ to, users, bytes }) => log.info('list-sent', { to: formatEndpoint(to), users, bytes }));
  server.on('broadcast', ({ kind, name, recipients }) => log.info('broadcast', { kind, name, recipients }));
  server.on('drop', ({ reason, from, bytes, transport }) => {
    if (limiter.allow(reason)) log.warn('drop', { reason, from: formatEndpoint(from), bytes, transport });
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
  await server.start();
  await stopped;
  await server.stop();
  accounts.close();
  for (const [reason, count] of limiter.stop()) log.warn('drops-suppressed', { reason, count });
  const { drops, ...totals } = server.counters;
  log.info('stopped', { ...totals, drops });
}
