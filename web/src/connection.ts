/**
 * The page's WebSocket to its qim web process: JSON in, JSON out, reconnecting with a growing
 * delay when the connection drops (a restart of qim web, a sleeping laptop).
 */
import type { NodeMessage, PageMessage } from '../../src/web/protocol.js';

export type ConnectionState = 'connecting' | 'open' | 'down';

export interface ConnectionEvents {
  message(m: NodeMessage): void;
  state(s: ConnectionState, everOpened: boolean): void;
}

/** Reconnect delays, ms: 0.5 s doubling to 8 s. */
const FIRST_DELAY = 500;
const LAST_DELAY = 8000;

export class Connection {
  #ws: WebSocket | null = null;
  #delay = FIRST_DELAY;
  #everOpened = false;

  constructor(
    private readonly url: string,
    private readonly on: ConnectionEvents,
  ) {}

  connect(): void {
    this.on.state('connecting', this.#everOpened);
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#everOpened = true;
      this.#delay = FIRST_DELAY;
      this.on.state('open', true);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      let m: NodeMessage;
      try {
        m = JSON.parse(e.data) as NodeMessage;
      } catch {
        return;
      }
      this.on.message(m);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.on.state('down', this.#everOpened);
      setTimeout(() => this.connect(), this.#delay);
      this.#delay = Math.min(this.#delay * 2, LAST_DELAY);
    };
  }

  /** Sends if connected; false when the message could not go. */
  send(m: PageMessage): boolean {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(m));
    return true;
  }
}

/** The token from the address qim web printed: `#token=…` (or `?token=…`). */
export function tokenFromLocation(loc: Location): string | null {
  const fromHash = new URLSearchParams(loc.hash.replace(/^#/, '')).get('token');
  return fromHash ?? new URLSearchParams(loc.search).get('token');
}

/** The WebSocket address of this page's qim web process. */
export function socketUrl(loc: Location, token: string): string {
  return `ws://${loc.host}/ws?token=${encodeURIComponent(token)}`;
}
