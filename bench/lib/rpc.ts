/**
 * Child processes for the benchmarks: each one is a TypeScript file run through tsx with an IPC
 * channel. The parent sends commands and awaits their answers; a child may also send events
 * (progress) at any time. Structured-clone serialization, so typed arrays cross as they are.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly arg: unknown;
}
type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };
interface ChildEvent {
  readonly event: string;
  readonly data: unknown;
}

/** What a child file exports to its parent: one async function per command. */
export type Handlers = Record<string, (arg: never) => unknown>;

/** Options of {@link spawnChild}. */
export interface SpawnOptions {
  /** Extra node flags, e.g. `--expose-gc`. */
  readonly nodeFlags?: readonly string[];
  /** Called for each event the child sends. */
  readonly onEvent?: (event: string, data: unknown) => void;
}

/** A running child: `call` a command, `kill` it. */
export class Child {
  #next = 1;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #exited: string | null = null;

  constructor(
    readonly proc: ChildProcess,
    readonly name: string,
    onEvent: (event: string, data: unknown) => void,
  ) {
    proc.on('message', (m: Reply | ChildEvent) => {
      if ('event' in m) return onEvent(m.event, m.data);
      const w = this.#waiting.get(m.id);
      if (w === undefined) return;
      this.#waiting.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`${name}: ${m.error}`));
    });
    proc.on('exit', (code, signal) => {
      this.#exited = `${name} exited (${signal ?? code})`;
      for (const w of this.#waiting.values()) w.reject(new Error(this.#exited));
      this.#waiting.clear();
    });
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** Runs `cmd` in the child and resolves with its answer. */
  call<T>(cmd: string, arg: unknown = null): Promise<T> {
    if (this.#exited !== null) return Promise.reject(new Error(this.#exited));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, cmd, arg } satisfies Request);
    });
  }

  /** Ends the child (SIGKILL after a grace period) and waits for it. */
  async kill(): Promise<void> {
    if (this.#exited !== null) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

/** Starts `file` (relative to bench/) as a child process speaking the command protocol. */
export async function spawnChild(file: string, name: string, options: SpawnOptions = {}): Promise<Child> {
  const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
  const proc = fork(path, [], {
    execArgv: [...(options.nodeFlags ?? []), '--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const child = new Child(proc, name, options.onEvent ?? (() => {}));
  await child.call('ping');
  return child;
}

/** In a child: answers the parent's commands with `handlers` (plus `ping` and `exit`). */
export function serve(handlers: Handlers): void {
  const all: Handlers = { ping: () => 'pong', exit: () => setImmediate(() => process.exit(0)), ...handlers };
  process.on('message', (m: Request) => {
    const handler = all[m.cmd] as ((arg: unknown) => unknown) | undefined;
    void (async () => {
      try {
        if (handler === undefined) throw new Error(`unknown command ${m.cmd}`);
        const value = await handler(m.arg);
        process.send?.({ id: m.id, ok: true, value } satisfies Reply);
      } catch (err) {
        process.send?.({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Reply);
      }
    })();
  });
  // The parent going away ends the child: a benchmark never leaves processes behind.
  process.on('disconnect', () => process.exit(0));
  // Exit normally on SIGTERM, so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}

/** In a child: sends an event to the parent. */
export function emit(event: string, data: unknown): void {
  process.send?.({ event, data } satisfies ChildEvent);
}
