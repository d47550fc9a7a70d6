/**
 * Test helper: a WebSocket to `qim web` as its page would open it (the page's Origin, the token
 * in the query), reading the JSON messages it sends so a test can wait for the one it expects.
 */
import WebSocket from 'ws';

/** A message from qim web: an object with a `type`. */
export type PageEvent = Record<string, unknown> & { type: string };

export class PageSocket {
  readonly messages: PageEvent[] = [];
  readonly #waiters: { match: (m: PageEvent) => boolean; resolve: (m: PageEvent) => void }[] = [];
  #taken = new Set<number>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data)) as PageEvent;
      const index = this.messages.push(m) - 1;
      const w = this.#waiters.find((x) => x.match(m));
      if (w === undefined) return;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      this.#taken.add(index);
      w.resolve(m);
    });
  }

  /** Opens `ws://HOST:PORT/ws?token=…` with `Origin: http://HOST:PORT` (the page's own). */
  static async open(pageUrl: string): Promise<PageSocket> {
    const u = new URL(pageUrl);
    const token = new URLSearchParams(u.hash.slice(1)).get('token') ?? '';
    const ws = new WebSocket(`ws://${u.host}/ws?token=${encodeURIComponent(token)}`, { origin: u.origin });
    // Listening before the socket opens: the first message may come in the same packet as the upgrade.
    const socket = new PageSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message not yet taken of `type` whose fields include `fields` (shallow). */
  next(type: string, fields: Record<string, unknown> = {}, timeoutMs = 5000): Promise<PageEvent> {
    const match = (m: PageEvent): boolean => m.type === type && Object.entries(fields).every(([k, v]) => m[k] === v);
    const i = this.messages.findIndex((m, index) => !this.#taken.has(index) && match(m));
    if (i >= 0) {
      this.#taken.add(i);
      return Promise.resolve(this.messages[i] as PageEvent);
    }
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.#waiters.push(waiter);
      setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at < 0) return;
        this.#waiters.splice(at, 1);
        reject(new Error(`no ${type} message ${JSON.stringify(fields)} within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
    });
  }

  /** Resolves with the close code once the socket is closed. */
  closed(): Promise<number> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
    return new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The HTTP status of a refused upgrade, or `open` if it was accepted. */
export function tryUpgrade(url: string, headers: Record<string, string>): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => {
      if (!String(err.message).startsWith('Unexpected server response')) reject(err);
    });
  });
}
