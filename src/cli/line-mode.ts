/**
 * `qim chat` when standard input is not a terminal: one command per input line (`/msg NAME TEXT`,
 * `/who`, `/quit`), one JSON event per output line. The format is documented in the README
 * ("Line mode") and is stable: scripts and tests depend on it.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChatClient } from '../client/chat-client.js';
import { QimError } from '../errors.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import { parseCommand } from './commands.js';

/** One line of output; `event` says which. */
export type LineEvent =
  | { event: 'list'; users: { name: string; endpoint: string; protocol: string; fingerprint?: string }[] }
  | { event: 'joined'; name: string; endpoint: string; protocol: string; fingerprint?: string }
  | { event: 'left'; name: string }
  | { event: 'message'; from: string; text: string; sentAt: string; receivedAt: string; encrypted: boolean }
  | { event: 'sent'; to: string; text: string; id?: number }
  | { event: 'delivery'; to: string; id: number; state: string }
  | { event: 'warning'; code: string; peer?: string; message: string }
  | { event: 'error'; code: string; message: string }
  | { event: 'closed' };

/** Runs line mode over a client that is already online; resolves after `/quit` or end of input. */
export async function runLineMode(client: ChatClient, input: Readable, output: Writable): Promise<void> {
  const emit = (e: LineEvent): void => {
    output.write(`${JSON.stringify(e)}\n`);
  };
  const list = (): void =>
    emit({
      event: 'list',
      users: client.contacts().map((c) => ({ name: c.name, endpoint: formatEndpoint(c.endpoint), protocol: c.protocol, ...fp(c.fingerprint) })),
    });
  client.on('joined', (c) =>
    emit({ event: 'joined', name: c.name, endpoint: formatEndpoint(c.endpoint), protocol: c.protocol, ...fp(c.fingerprint) }),
  );
  client.on('delivery', (d) => {
    if (d.state !== 'sent') emit({ event: 'delivery', to: d.to, id: d.id, state: d.state });
  });
  client.on('warning', (w) => emit({ event: 'warning', code: w.code, ...(w.peer !== undefined ? { peer: w.peer } : {}), message: w.message }));
  client.on('left', ({ name }) => emit({ event: 'left', name }));
  client.on('message', (m) =>
    emit({ event: 'message', from: m.from, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt.toISOString(), encrypted: m.encrypted ?? false }),
  );
  list();

  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of rl) {
      const cmd = parseCommand(line, client.contacts().map((c) => c.name));
      switch (cmd.kind) {
        case 'empty':
          break;
        case 'msg':
          try {
            const id = client.send(cmd.to, cmd.text);
            emit({ event: 'sent', to: cmd.to, text: cmd.text, ...(typeof id === 'number' && id > 0 ? { id } : {}) });
          } catch (err) {
            emit(errorEvent(err));
          }
          break;
        case 'who':
          list();
          break;
        case 'quit':
          return;
        case 'invalid':
          emit({ event: 'error', code: 'ERR_BAD_COMMAND', message: cmd.message });
          break;
        default:
          emit({ event: 'error', code: 'ERR_BAD_COMMAND', message: 'line mode understands /msg NAME TEXT, /who and /quit' });
      }
    }
  } finally {
    rl.close();
    await client.logout();
    emit({ event: 'closed' });
  }
}

function fp(fingerprint: string | undefined): { fingerprint?: string } {
  return fingerprint === undefined ? {} : { fingerprint };
}

/** The line-mode form of an error. */
export function errorEvent(err: unknown): LineEvent {
  if (err instanceof QimError) return { event: 'error', code: err.code, message: err.message };
  return { event: 'error', code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
