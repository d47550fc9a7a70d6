/**
 * Test helper: plain HTTP requests (node:http, so any method and any Host header can be sent) and
 * a Server-Sent Events reader that lets a test wait for the event it expects.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/** A complete response. */
export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Sends one request (`GET` unless told) and resolves with the whole response. */
export function fetchText(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One received Server-Sent Event. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** A live `text/event-stream` response, read event by event. */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly response: IncomingMessage;
  #taken = 0;
  #buffer = '';
  #wake: (() => void) | null = null;
  #ended = false;

  private constructor(response: IncomingMessage) {
    this.response = response;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.#onData(chunk));
    const end = (): void => {
      this.#ended = true;
      this.#wake?.();
    };
    response.on('end', end);
    response.on('close', end);
    response.on('error', end);
  }

  /** Opens the stream; resolves once the response headers are in (whatever the status). */
  static open(url: string): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => resolve(new SseReader(res)));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Resolves with the first event after those already taken whose name is `event` and whose
   * parsed JSON data passes `match`; the events before it are taken too. Rejects on timeout.
   */
  async next<T = unknown>(event: string, match: (data: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#taken < this.events.length) {
        const e = this.events[this.#taken++] as SseEvent;
        if (e.event !== event) continue;
        const data = JSON.parse(e.data) as T;
        if (match(data)) return data;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#ended) {
        throw new Error(`no matching '${event}' event (${this.#ended ? 'stream ended' : `${timeoutMs} ms`}); got ${JSON.stringify(this.events)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.response.destroy();
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) this.events.push({ event, data: data.join('\n') });
    }
    this.#wake?.();
  }
}
