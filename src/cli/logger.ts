/**
 * A small structured logger for the CLI: one line per event, as text for people or JSON for
 * machines. Fields are flat key/value pairs.
 */
import type { Writable } from 'node:stream';

/** Output format of {@link Logger}. */
export type LogFormat = 'text' | 'json';

/** A value a log field may hold. */
export type LogValue = string | number | boolean | null | undefined | Record<string, unknown>;

/** Writes one line per event. */
export class Logger {
  readonly #format: LogFormat;
  readonly #out: Writable;
  readonly #now: () => Date;

  constructor(format: LogFormat, out: Writable, now: () => Date = () => new Date()) {
    this.#format = format;
    this.#out = out;
    this.#now = now;
  }

  info(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write('info', event, fields);
  }

  warn(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write('warn', event, fields);
  }

  error(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write('error', event, fields);
  }

  #write(level: string, event: string, fields: Record<string, LogValue>): void {
    const time = this.#now().toISOString();
    if (this.#format === 'json') {
      this.#out.write(`${JSON.stringify({ time, level, event, ...fields })}\n`);
      return;
    }
    let line = `${time} ${level.padEnd(5)} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      line += ` ${key}=${textValue(value)}`;
    }
    this.#out.write(`${line}\n`);
  }
}

function textValue(value: Exclude<LogValue, undefined>): string {
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  const s = String(value);
  // Quote anything a reader could misparse; JSON escaping also neutralises control characters.
  return /^[^\s"=\u0000-\u001f\u007f-\u009f]+$/u.test(s) ? s : JSON.stringify(s);
}
