#!/usr/bin/env node
/**
 * The `qim` command: `qim server` and `qim chat`, thin shells over the library.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseHostPort, parsePort } from '../protocol/endpoint.js';
import { DEFAULT_PORT } from '../server/options.js';
import { defaultServerDataDir } from '../server/storage.js';
import { runChat } from './chat-command.js';
import { runServer } from './server-command.js';
import { runStart, runWeb } from './web-command.js';
import { DEFAULT_WEB_PORT } from '../web/service.js';

function portArg(allowZero: boolean) {
  return (value: string): number => {
    if (allowZero && value === '0') return 0;
    const port = parsePort(value);
    if (port === null) throw new InvalidArgumentError(`expected a port number from ${allowZero ? 0 : 1} to 65535`);
    return port;
  };
}

function hostPortArg(value: string): { host: string; port: number } {
  const hp = parseHostPort(value);
  if (hp === null) throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:8500');
  return hp;
}

function redisArg(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as redis://127.0.0.1:6379');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new InvalidArgumentError('expected a redis:// or rediss:// URL');
  return value;
}

function hostArg(value: string): string {
  if (value.trim() === '' || /\s/.test(value)) throw new InvalidArgumentError('expected an address or host name');
  return value;
}

/** Builds the command tree. */
function buildProgram(): Command {
  const program = new Command('qim')
    .description('A QQ-style instant messenger: an index server for presence, chat straight between peers.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  program
    .command('server')
    .description('run the index server (UDP and TCP on one port)')
    .option('--host <address>', 'address to listen on (default: every interface)', hostArg, '::')
    .option('--port <port>', 'UDP and TCP port; 0 picks a free one', portArg(true), DEFAULT_PORT)
    .addOption(new Option('--log <format>', 'log format').choices(['text', 'json']).default('text'))
    .option('--data <dir>', 'folder for accounts (SQLite) and the server key', defaultServerDataDir())
    .option('--http <port>', 'serve the dashboard, /metrics and /healthz on this TCP port; 0 picks a free one', portArg(true))
    .option('--http-host <address>', 'address of the dashboard (default: 127.0.0.1, this machine only)', hostArg)
    .option('--redis <url>', 'share one directory with other instances through Redis, e.g. redis://127.0.0.1:6379', redisArg)
    .action(async (o: { host: string; port: number; log: 'text' | 'json'; data: string; http?: number; httpHost?: string; redis?: string }, cmd: Command) => {
      if (o.httpHost !== undefined && o.http === undefined) cmd.error("error: option '--http-host <address>' needs --http <port>");
      await runServer(o);
    });

  program
    .command('chat')
    .description('chat in the terminal (line mode with JSON events when stdin is not a terminal)')
    .requiredOption('--server <host:port>', 'the index server', hostPortArg)
    .requiredOption('--name <name>', 'your user name')
    .option('--host <address>', 'address of your chat endpoint (default: the one that reaches the server)', hostArg)
    .option('--port <port>', 'port of your chat endpoint (default: any free port)', portArg(true))
    .addOption(new Option('--protocol <protocol>', 'qim (encrypted, reliable) or classic (the seed protocol)').choices(['qim', 'classic']).default('qim'))
    .option('--relay-only', 'send everything through the server\'s relay: peers never learn your address (qim protocol)')
    .action(async (o: { server: { host: string; port: number }; name: string; host?: string; port?: number; protocol: 'qim' | 'classic'; relayOnly?: boolean }) => {
      process.exitCode = await runChat(o);
    });

  program
    .command('web')
    .description('run the web client: the page and its WebSocket on this machine only; prints the address to open')
    .addOption(
      new Option('--server <host:port>', 'the index server the login form proposes')
        .argParser(hostPortArg)
        .default({ host: '127.0.0.1', port: DEFAULT_PORT }, `127.0.0.1:${DEFAULT_PORT}`),
    )
    .option('--host <address>', 'loopback address of the page (127.0.0.1, ::1 or localhost)', hostArg, '127.0.0.1')
    .option('--port <port>', 'port of the page; 0 picks a free one', portArg(true), DEFAULT_WEB_PORT)
    .action(async (o: { server: { host: string; port: number }; host: string; port: number }) => {
      process.exitCode = await runWeb(o);
    });

  program
    .command('start')
    .description('the quick start: an index server on its defaults and the web client pointed at it')
    .option('--port <port>', 'UDP and TCP port of the server; 0 picks a free one', portArg(true), DEFAULT_PORT)
    .option('--host <address>', 'address the server listens on (:: is every interface)', hostArg, '::')
    .option('--data <dir>', "folder for the server's accounts (SQLite) and key", defaultServerDataDir())
    .option('--web-port <port>', 'port of the web page; 0 picks a free one', portArg(true), DEFAULT_WEB_PORT)
    .option('--web-host <address>', 'loopback address of the web page', hostArg, '127.0.0.1')
    .action(async (o: { port: number; host: string; data: string; webPort: number; webHost: string }) => {
      process.exitCode = await runStart(o);
    });

  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`qim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
