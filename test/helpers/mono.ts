// Test helper: compiles and drives the C# seed doubles in test/compat (SeedClient.cs, SeedServer.cs)
// with Mono, to prove byte-for-byte compatibility with programs built as the seed describes.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const INSTALL_HINT =
  'install Debian packages mono-mcs mono-runtime libmono-system4.0-cil ' +
  '(apt-get install -y --no-install-recommends mono-mcs mono-runtime libmono-system4.0-cil)';

const CLIENT_SOURCE = fileURLToPath(new URL('../compat/SeedClient.cs', import.meta.url));
const SERVER_SOURCE = fileURLToPath(new URL('../compat/SeedServer.cs', import.meta.url));

function toolWorks(command: string): boolean {
  const result = spawnSync(command, ['--version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

/** True when both `mcs` and `mono` can be run. */
export function hasMono(): boolean {
  return toolWorks('mcs') && toolWorks('mono');
}

function compile(source: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mcs', ['-nologo', '-optimize+', `-out:${out}`, source], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', (err) => reject(new Error(`cannot run mcs (${err.message}); ${INSTALL_HINT}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`mcs failed to compile ${source} (exit ${String(code)}):\n${output}`));
    });
  });
}

let compiled: Promise<{ client: string; server: string }> | undefined;

/** Compiles SeedClient.cs and SeedServer.cs once per process; resolves with the two .exe paths. */
export function compileSeedPrograms(): Promise<{ client: string; server: string }> {
  if (compiled === undefined) {
    const attempt = (async () => {
      if (!toolWorks('mcs') || !toolWorks('mono')) {
        throw new Error(`Mono is required for the classic compatibility tests: ${INSTALL_HINT}`);
      }
      const dir = mkdtempSync(join(tmpdir(), 'qim-seed-'));
      const client = join(dir, 'SeedClient.exe');
      const server = join(dir, 'SeedServer.exe');
      await Promise.all([compile(CLIENT_SOURCE, client), compile(SERVER_SOURCE, server)]);
      return { client, server };
    })();
    compiled = attempt;
    // Do not cache a failure: a later call may try again.
    attempt.catch(() => {
      if (compiled === attempt) compiled = undefined;
    });
  }
  return compiled;
}

interface Waiter {
  predicate: (line: string) => boolean;
  resolve: (line: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const live = new Set<LineProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave mono processes behind if a test forgets close().
  process.once('exit', () => {
    for (const p of live) p.kill();
  });
}

export interface LineProcessOptions {
  env?: NodeJS.ProcessEnv;
}

/** A spawned program whose stdout is read line by line (UTF-8). */
export class LineProcess {
  /** Every stdout line seen so far, in order. */
  readonly lines: string[] = [];
  stderr = '';
  readonly child: ChildProcessWithoutNullStreams;
  private readonly consumed: boolean[] = [];
  private readonly waiters: Waiter[] = [];
  private partial = '';
  private exitInfo: string | undefined;
  private readonly exited: Promise<void>;

  constructor(command: string, args: readonly string[], options: LineProcessOptions = {}) {
    this.child = spawn(command, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    live.add(this);
    installExitHook();
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onData(chunk));
    this.child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    this.child.stdin.on('error', () => {
      /* the process may have exited; writes are best effort */
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.exitInfo = `failed to start ${command}: ${err.message}`;
        this.onExit();
        resolve();
      });
      this.child.on('close', (code, signal) => {
        if (this.partial !== '') this.pushLine(this.partial);
        this.partial = '';
        this.exitInfo ??= `exited with code ${String(code)}${signal ? ` (signal ${signal})` : ''}`;
        this.onExit();
        resolve();
      });
    });
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /**
   * Resolves with the first line not yet consumed (including lines already received) that matches,
   * and marks it consumed. Rejects on timeout or when the process exits first.
   */
  waitFor(predicate: (line: string) => boolean, timeoutMs = 10000): Promise<string> {
    for (let i = 0; i < this.lines.length; i++) {
      const line = this.lines[i];
      if (line !== undefined && !this.consumed[i] && predicate(line)) {
        this.consumed[i] = true;
        return Promise.resolve(line);
      }
    }
    if (this.exitInfo !== undefined) {
      return Promise.reject(this.failure(`process ${this.exitInfo} before a matching line`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.removeWaiter(waiter);
          reject(this.failure(`timed out after ${timeoutMs} ms waiting for a matching line`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Writes one line to the program's stdin. */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`, 'utf8');
  }

  /** Sends a signal without waiting (used by the exit hook). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitInfo === undefined) this.child.kill(signal);
  }

  /** Kills the program (if still running) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.exitInfo === undefined) {
      this.child.stdin.end();
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
    live.delete(this);
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl).replace(/\r$/, '');
      this.partial = this.partial.slice(nl + 1);
      this.pushLine(line);
    }
  }

  private pushLine(line: string): void {
    const index = this.lines.length;
    this.lines.push(line);
    this.consumed.push(false);
    for (const waiter of this.waiters) {
      if (waiter.predicate(line)) {
        this.consumed[index] = true;
        this.removeWaiter(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(line);
        return;
      }
    }
  }

  private onExit(): void {
    live.delete(this);
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure(`process ${this.exitInfo ?? 'exited'} before a matching line`));
    }
  }

  private removeWaiter(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private failure(reason: string): Error {
    const seen = this.lines.length > 0 ? this.lines.map((l) => `  ${l}`).join('\n') : '  (none)';
    return new Error(
      `${this.child.spawnfile} ${this.child.spawnargs.slice(1).join(' ')}: ${reason}\n` +
        `lines seen:\n${seen}\nstderr:\n${this.stderr === '' ? '  (empty)' : this.stderr}`,
    );
  }
}

export interface SeedClientOptions {
  serverHost: string;
  serverPort: number;
  name: string;
  /** Address to bind the receive socket on; default 127.0.0.1. */
  localIp?: string;
  /** Port for the receive socket; default 0 (ephemeral, as the seed). */
  localPort?: number;
  /** Environment for mono; LANG/LC_ALL decide the `talk` time format. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts the seed client double. It logs in at once; wait for `ready <endpoint>` and then for
 * `list ...`. Events: `joined <name> <ep>`, `left <name>`, `message <time>|<sender>|<text>`,
 * `ignored <text>`, `error <message>`, `bye`. Commands: `talk <name> <text>`, `logout`.
 */
export async function startSeedClient(opts: SeedClientOptions): Promise<LineProcess> {
  const { client } = await compileSeedPrograms();
  const args = [client, opts.serverHost, String(opts.serverPort), opts.name, opts.localIp ?? '127.0.0.1'];
  if (opts.localPort !== undefined) args.push(String(opts.localPort));
  return new LineProcess('mono', args, opts.env === undefined ? {} : { env: opts.env });
}

export interface SeedServerOptions {
  /** Address for both the UDP socket and the TCP list listener; default 127.0.0.1. */
  host?: string;
  /** UDP port; default 0 (any free port). */
  udpPort?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts the seed server double and waits until it listens. Events: `login <name> <ep>`,
 * `logout <name>`, `ignored <text>`, `error <message>`.
 */
export async function startSeedServer(
  opts: SeedServerOptions = {},
): Promise<{ proc: LineProcess; udpPort: number; tcpPort: number }> {
  const { server } = await compileSeedPrograms();
  const proc = new LineProcess(
    'mono',
    [server, opts.host ?? '127.0.0.1', String(opts.udpPort ?? 0)],
    opts.env === undefined ? {} : { env: opts.env },
  );
  try {
    const line = await proc.waitFor((l) => l.startsWith('listening '), 15000);
    const [, udp, tcp] = line.split(' ');
    return { proc, udpPort: Number(udp), tcpPort: Number(tcp) };
  } catch (err) {
    await proc.close();
    throw err;
  }
}
