/**
 * Test helper: runs the `qim` CLI from source (`node --import tsx src/cli/main.ts ...`) as a child
 * process with piped stdio, reads its stdout line by line, and lets a test wait for the line or
 * JSON event it expects. Every process started here is killed by {@link killAllQim} (call it in
 * `afterEach`), and as a last resort when the test process exits. With `netns`, the process runs in
 * that network namespace (`ip netns exec`, which execs in place: the child's pid is node's), as the
 * network tests do (test/net); {@link startNodeScript} runs another script of the repository the same way.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI runs with it as its working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A parsed JSON object from one stdout line. */
export type JsonObject = Record<string, unknown>;

/** How a process ended. */
export interface QimExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running `qim` child process. */
export interface QimProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every complete stdout line so far, in order. */
  readonly lines: readonly string[];
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** Resolves once the process has exited and its output is fully read. Never rejects. */
  readonly exited: Promise<QimExit>;
  /** True once {@link exited} has resolved. */
  readonly hasExited: boolean;
  /**
   * Resolves with the first stdout line not yet taken by an earlier wait (lines already received
   * included) that matches, and marks it taken. Rejects on timeout or if the process exits first.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Like {@link waitForLine}, for lines that parse as a JSON object matching `predicate`. */
  waitForJson(predicate: (value: JsonObject) => boolean, timeoutMs?: number): Promise<JsonObject>;
  /** Writes one line to stdin. */
  send(line: string): void;
  /** Closes stdin (end of input). */
  end(): void;
  /** Sends a signal if the process is still running. */
  kill(signal?: NodeJS.Signals): void;
}

/** A predicate for {@link QimProcess.waitForJson}: `event` is `name` and every field in `fields` is equal. */
export function isEvent(name: string, fields: JsonObject = {}): (value: JsonObject) => boolean {
  return (value) => value.event === name && Object.entries(fields).every(([k, v]) => value[k] === v);
}

const DEFAULT_TIMEOUT_MS = 10_000;

interface Waiter {
  readonly match: (line: string) => boolean;
  readonly resolve: (line: string) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const live = new Set<QimProcessImpl>();
let exitHookInstalled = false;

class QimProcessImpl implements QimProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  stderr = '';
  hasExited = false;
  readonly exited: Promise<QimExit>;
  readonly #taken: boolean[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #args: readonly string[];
  readonly #label: string;
  #partial = '';
  #exitText = '';

  constructor(script: string, args: readonly string[], env: NodeJS.ProcessEnv, netns: string | undefined, label: string) {
    this.#args = args;
    this.#label = label;
    const argv = ['--import', 'tsx', script, ...args];
    this.child =
      netns === undefined
        ? spawn(process.execPath, argv, { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
        : spawn('ip', ['netns', 'exec', netns, process.execPath, ...argv], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.#onData(chunk));
    this.child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    // Writing to a process that has exited is not a test failure by itself; the waits report it.
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      const finish = (exit: QimExit, text: string): void => {
        if (this.hasExited) return;
        if (this.#partial !== '') this.#push(this.#partial);
        this.#partial = '';
        this.hasExited = true;
        this.#exitText = text;
        live.delete(this);
        for (const w of this.#waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(this.#failure(`process ${text} before a matching line`));
        }
        resolve(exit);
      };
      this.child.on('error', (err) => finish({ code: null, signal: null }, `failed to start (${err.message})`));
      this.child.on('close', (code, signal) =>
        finish({ code, signal }, `exited with code ${String(code)}${signal === null ? '' : ` (${signal})`}`),
      );
    });
  }

  waitForLine(pattern: RegExp, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.#waitFor((line) => pattern.test(line), `a line matching ${String(pattern)}`, timeoutMs);
  }

  async waitForJson(predicate: (value: JsonObject) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<JsonObject> {
    const line = await this.#waitFor(
      (l) => {
        const value = parseObject(l);
        return value !== null && predicate(value);
      },
      'a matching JSON line',
      timeoutMs,
    );
    return parseObject(line) as JsonObject;
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`, 'utf8');
  }

  end(): void {
    this.child.stdin.end();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.hasExited) this.child.kill(signal);
  }

  #waitFor(match: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
    for (let i = 0; i < this.lines.length; i++) {
      const line = this.lines[i];
      if (line !== undefined && this.#taken[i] !== true && match(line)) {
        this.#taken[i] = true;
        return Promise.resolve(line);
      }
    }
    if (this.hasExited) return Promise.reject(this.#failure(`process ${this.#exitText} before ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(this.#failure(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  #onData(chunk: string): void {
    this.#partial += chunk;
    let nl: number;
    while ((nl = this.#partial.indexOf('\n')) >= 0) {
      const line = this.#partial.slice(0, nl).replace(/\r$/, '');
      this.#partial = this.#partial.slice(nl + 1);
      this.#push(line);
    }
  }

  #push(line: string): void {
    const index = this.lines.length;
    this.lines.push(line);
    this.#taken.push(false);
    const waiter = this.#waiters.find((w) => w.match(line));
    if (waiter === undefined) return;
    this.#taken[index] = true;
    this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
    clearTimeout(waiter.timer);
    waiter.resolve(line);
  }

  #failure(reason: string): Error {
    const out = this.lines.length === 0 ? '  (none)' : this.lines.map((l) => `  ${l}`).join('\n');
    const err = this.stderr === '' ? '  (empty)' : this.stderr;
    return new Error(`${this.#label} ${this.#args.join(' ')}: ${reason}\nstdout:\n${out}\nstderr:\n${err}`);
  }
}

function parseObject(line: string): JsonObject | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : null;
  } catch {
    return null;
  }
}

/** Options of {@link startQim} and {@link startNodeScript}. */
export interface StartOptions {
  /** The child's whole environment (default: this process's, with `NO_COLOR=1`); `XDG_DATA_HOME` is added unless given. */
  env?: NodeJS.ProcessEnv;
  /** A network namespace (`ip netns` name) to run in; needs root. */
  netns?: string;
}

/** Starts `qim ARGS...` from source with piped stdio (so `qim chat` runs in line mode). */
export function startQim(args: readonly string[], options: StartOptions = {}): QimProcess {
  return startNodeScript('src/cli/main.ts', args, options, 'qim');
}

/**
 * Starts `node --import tsx SCRIPT ARGS...` (SCRIPT relative to the repository root) like
 * {@link startQim}: piped stdio, line waits, killed by {@link killAllQim}. `label` names it in errors.
 */
export function startNodeScript(script: string, args: readonly string[], options: StartOptions = {}, label = script): QimProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of live) p.child.kill('SIGKILL');
    });
  }
  // Every spawned qim keeps its files (server accounts and key) in a folder of its own.
  const data = mkdtempSync(join(tmpdir(), 'qim-cli-'));
  const p = new QimProcessImpl(script, args, { XDG_DATA_HOME: data, ...(options.env ?? { ...process.env, NO_COLOR: '1' }) }, options.netns, label);
  void p.exited.then(() => rmSync(data, { recursive: true, force: true }));
  live.add(p);
  return p;
}

/** Kills every `qim` process still running (SIGKILL) and waits until each has exited. */
export async function killAllQim(): Promise<void> {
  const running = [...live];
  for (const p of running) p.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
}

/** The port of a `HOST:PORT` text such as the `udp` field of the server's `started` log line. */
export function portOf(hostPort: unknown): number {
  if (typeof hostPort !== 'string') throw new Error(`expected HOST:PORT, got ${JSON.stringify(hostPort)}`);
  const m = /:(\d+)$/.exec(hostPort);
  if (m?.[1] === undefined) throw new Error(`expected HOST:PORT, got ${hostPort}`);
  return Number(m[1]);
}
