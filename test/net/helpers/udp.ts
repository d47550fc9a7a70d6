/**
 * Plain UDP sockets inside a namespace, for tests that need no qim: echo servers that say what
 * address they see (STUN-like), raw probes, unsolicited datagrams. Each agent is one process
 * (udp-agent.ts) in a namespace; it may hold several sockets.
 */
import { isEvent, startNodeScript, type JsonObject, type QimProcess } from '../../helpers/cli.js';

/** A datagram an agent socket received. */
export interface AgentMessage {
  /** `ADDRESS:PORT` the datagram came from, as this socket saw it. */
  readonly from: string;
  readonly data: string;
}

/** One UDP socket of an agent. */
export interface AgentSocket {
  readonly name: string;
  /** The local port it is bound to. */
  readonly port: number;
  /** Every datagram received so far, in order. */
  readonly received: readonly AgentMessage[];
  /** Sends `data` to `to` (`ADDRESS:PORT`), `count` times `intervalMs` apart; resolves once sent. */
  send(to: string, data: string, options?: { count?: number; intervalMs?: number }): Promise<void>;
  /** Resolves with the first datagram received (earlier ones included) that matches and was not taken by an earlier wait. */
  waitForMessage(match?: (m: AgentMessage) => boolean, timeoutMs?: number): Promise<AgentMessage>;
  /**
   * Sends `probe` to an echo socket at `to` until it answers (every `intervalMs`), and returns the
   * `ADDRESS:PORT` it saw this socket at: the public endpoint behind a NAT.
   */
  observedBy(to: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** A UDP agent process in a namespace. */
export interface UdpAgent {
  readonly ns: string;
  readonly process: QimProcess;
  /** Binds a socket (`port` 0, the default, picks one). An echo socket answers every datagram with `seen ADDRESS:PORT`. */
  bind(options?: { port?: number; host?: string; echo?: boolean }): Promise<AgentSocket>;
  /** Ends the agent (closes its sockets). */
  stop(): Promise<void>;
}

/** Starts a UDP agent in namespace `ns`; resolves once it is ready. Killed by `killAllQim` too. */
export async function startUdpAgent(ns: string): Promise<UdpAgent> {
  const p = startNodeScript('test/net/helpers/udp-agent.ts', [], { netns: ns }, `udp-agent@${ns}`);
  await p.waitForJson(isEvent('ready'), 15_000);
  let next = 0;
  return {
    ns,
    process: p,
    async bind(options = {}): Promise<AgentSocket> {
      const name = `s${++next}`;
      p.send(JSON.stringify({ op: 'bind', sock: name, host: options.host ?? '0.0.0.0', port: options.port ?? 0, echo: options.echo ?? false }));
      const bound = await p.waitForJson((v) => v.sock === name && (v.event === 'bound' || v.event === 'error'));
      if (bound.event === 'error') throw new Error(`bind in ${ns}: ${String(bound.message)}`);
      return new Sock(p, name, Number(bound.port));
    },
    async stop(): Promise<void> {
      p.end();
      await p.exited;
    },
  };
}

class Sock implements AgentSocket {
  readonly #p: QimProcess;
  constructor(
    p: QimProcess,
    readonly name: string,
    readonly port: number,
  ) {
    this.#p = p;
  }

  get received(): readonly AgentMessage[] {
    const out: AgentMessage[] = [];
    for (const line of this.#p.lines) {
      const v = parse(line);
      if (v !== null && v.event === 'message' && v.sock === this.name) out.push({ from: String(v.from), data: String(v.data) });
    }
    return out;
  }

  async send(to: string, data: string, options: { count?: number; intervalMs?: number } = {}): Promise<void> {
    const count = options.count ?? 1;
    this.#p.send(JSON.stringify({ op: 'send', sock: this.name, to, data, count, intervalMs: options.intervalMs ?? 0 }));
    const r = await this.#p.waitForJson(
      (v) => v.sock === this.name && ((v.event === 'sent' && v.to === to && v.count === count) || v.event === 'error'),
      15_000 + count * (options.intervalMs ?? 0),
    );
    if (r.event === 'error') throw new Error(`send from ${this.name} to ${to}: ${String(r.message)}`);
  }

  async waitForMessage(match: (m: AgentMessage) => boolean = () => true, timeoutMs = 5000): Promise<AgentMessage> {
    const v = await this.#p.waitForJson(
      (o) => o.event === 'message' && o.sock === this.name && match({ from: String(o.from), data: String(o.data) }),
      timeoutMs,
    );
    return { from: String(v.from), data: String(v.data) };
  }

  async observedBy(to: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.send(to, 'probe');
      try {
        const m = await this.waitForMessage((x) => x.from === to && x.data.startsWith('seen '), 250);
        return m.data.slice('seen '.length);
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`no echo from ${to} within ${timeoutMs} ms`, { cause: err });
      }
    }
  }

  async close(): Promise<void> {
    this.#p.send(JSON.stringify({ op: 'close', sock: this.name }));
    await this.#p.waitForJson(isEvent('closed', { sock: this.name }));
  }
}

function parse(line: string): JsonObject | null {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as JsonObject;
  } catch {
    return null;
  }
}
