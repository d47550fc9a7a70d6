/**
 * One page connection (a browser tab's WebSocket): parses and validates every message, acts on
 * it through the hub and the tab's login, and answers bad input with an `error` message. Nothing a
 * page sends can throw out of here.
 */
import { WebSocket, type RawData } from 'ws';
import { QimError } from '../errors.js';
import { parseHostPort } from '../protocol/endpoint.js';
import { WebRefusal, type WebHub } from './hub.js';
import type { NodeMessage, PageMessage, WebErrorCode } from './protocol.js';
import type { SessionPeer, WebSession } from './session.js';
import { parsePageMessage } from './validate.js';

/** Bytes queued toward one tab before it counts as stuck and is disconnected. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface ConnectionLog {
  warn(event: string, fields: Record<string, string | number | undefined>): void;
}

export class PageConnection implements SessionPeer {
  #session: WebSession | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly hub: WebHub,
    private readonly log: ConnectionLog,
    hello: NodeMessage,
  ) {
    ws.on('message', (data, isBinary) => void this.#receive(data, isBinary));
    ws.on('close', () => this.#leave());
    ws.on('error', (err) => log.warn('web-socket-error', { message: err.message }));
    this.send(hello);
  }

  send(message: NodeMessage): void {
    if (message.type === 'logged-out') this.#session = null;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn('web-socket-stuck', { buffered: this.ws.bufferedAmount });
      this.ws.close(1008, 'the page does not keep up');
      return;
    }
    this.ws.send(JSON.stringify(message));
  }

  async #receive(data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) return this.#fail('ERR_BAD_MESSAGE', 'binary frames are not understood; send JSON text');
    let json: unknown;
    try {
      json = JSON.parse(rawText(data));
    } catch {
      return this.#fail('ERR_BAD_JSON', 'not JSON');
    }
    const parsed = parsePageMessage(json);
    if (!parsed.ok) return this.#fail('ERR_BAD_MESSAGE', parsed.reason, parsed.ref);
    const m = parsed.message;
    try {
      await this.#act(m);
    } catch (err) {
      if (err instanceof QimError || err instanceof WebRefusal) return this.#fail(err.code, err.message, m.ref);
      this.log.warn('web-internal-error', { message: err instanceof Error ? err.message : String(err) });
      this.#fail('ERR_INTERNAL', 'internal error; see the qim web log', m.ref);
    }
  }

  async #act(m: PageMessage): Promise<void> {
    if (m.type === 'login') {
      const server = parseHostPort(m.server.trim());
      if (server === null) return this.#fail('ERR_BAD_MESSAGE', 'the server must be HOST:PORT, e.g. 127.0.0.1:8500', m.ref);
      const session = await this.hub.login(server, m.name);
      if (this.ws.readyState !== WebSocket.OPEN) {
        // The tab went away while logging in: the login waits out the grace period like any other.
        session.peers.add(this);
        this.hub.detach(session, this);
        return;
      }
      if (this.#session !== null && this.#session !== session) this.hub.detach(this.#session, this);
      this.#session = session;
      session.attach(this);
      return;
    }
    const s = this.#session;
    if (s === null) return this.#fail('ERR_NOT_LOGGED_IN', 'log in first', m.ref);
    switch (m.type) {
      case 'send':
        s.send(m.to, m.text);
        return;
      case 'typing':
        s.typing(m.to, m.typing);
        return;
      case 'history':
        this.send({ type: 'history', peer: m.peer, ...s.history(m.peer, m.before) });
        return;
      case 'read':
        s.read(m.peer);
        return;
      case 'status':
        s.setStatus(m.status);
        return;
      case 'trust':
        s.trust(m.name);
        return;
      case 'dismiss':
        s.dismiss(m.id);
        return;
      case 'logout':
        await s.logout('logout');
        return;
    }
  }

  #leave(): void {
    if (this.#session !== null) this.hub.detach(this.#session, this);
    this.#session = null;
  }

  #fail(code: WebErrorCode | QimError['code'], message: string, ref?: number): void {
    this.send({ type: 'error', code, message, ...(ref !== undefined ? { ref } : {}) });
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
