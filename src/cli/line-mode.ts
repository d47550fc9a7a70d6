/**
 * `qim chat` when standard input is not a terminal: one command per input line (`/msg NAME TEXT`,
 * `/who`, `/status S`, `/typing NAME on|off`, `/trust NAME`, `/quit`), one JSON event per output line. The format is documented in the README
 * ("Line mode") and is stable: scripts and tests depend on it.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChatClient, EarlyEvents, UiContact, UiMessage, UiWarning } from '../client/chat-client.js';
import type { HistoryRecorder } from '../client/history.js';
import { QimError } from '../errors.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import { parseCommand } from './commands.js';

/** One line of output; `event` says which. */
type LineContact = { name: string; endpoint: string; protocol: string; status?: string; fingerprint?: string; keyChanged?: true; path?: string };

export type LineEvent =
  | { event: 'list'; users: LineContact[] }
  | ({ event: 'joined' } & LineContact)
  | { event: 'left'; name: string }
  | { event: 'status'; name: string; status: string }
  | { event: 'typing'; from: string; typing: boolean }
  | { event: 'path'; name: string; path: string }
  | { event: 'message'; from: string; text: string; sentAt: string; receivedAt: string; encrypted: boolean }
  | { event: 'sent'; to: string; text: string; id?: number }
  | { event: 'delivery'; to: string; id: number; state: string }
  | { event: 'warning'; code: string; peer?: string; message: string }
  | { event: 'error'; code: string; message: string }
  | { event: 'closed' };

/**
 * Runs line mode over a client that is already online; resolves after `/quit` or end of input.
 * With a history recorder, what is sent and received is kept in the profile.
 */
export async function runLineMode(
  client: ChatClient,
  input: Readable,
  output: Writable,
  history?: HistoryRecorder,
  early: EarlyEvents = { warnings: [], messages: [] },
): Promise<void> {
  const emit = (e: LineEvent): void => {
    output.write(`${JSON.stringify(e)}\n`);
  };
  const list = (): void => emit({ event: 'list', users: client.contacts().map(lineContact) });
  client.on('joined', (c) => emit({ event: 'joined', ...lineContact(c) }));
  client.on('status', ({ name, status }) => emit({ event: 'status', name, status }));
  client.on('typing', ({ from, typing }) => emit({ event: 'typing', from, typing }));
  client.on('path', ({ name, path }) => emit({ event: 'path', name, path }));
  client.on('delivery', (d) => {
    if (d.state !== 'sent') emit({ event: 'delivery', to: d.to, id: d.id, state: d.state });
  });
  const warn = (w: UiWarning): void => emit({ event: 'warning', code: w.code, ...(w.peer !== undefined ? { peer: w.peer } : {}), message: w.message });
  client.on('warning', warn);
  client.on('left', ({ name }) => emit({ event: 'left', name }));
  const message = (m: UiMessage): void =>
    emit({ event: 'message', from: m.from, text: m.text, sentAt: m.sentAt, receivedAt: m.receivedAt.toISOString(), encrypted: m.encrypted ?? false });
  client.on('message', message);
  list();
  for (const w of early.warnings) warn(w);
  for (const m of early.messages) message(m);

  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of rl) {
      const cmd = parseCommand(line, client.contacts().map((c) => c.name));
      switch (cmd.kind) {
        case 'empty':
          break;
        case 'msg':
          try {
            const id = history !== undefined ? history.send(cmd.to, cmd.text).id : client.send(cmd.to, cmd.text);
            emit({ event: 'sent', to: cmd.to, text: cmd.text, ...(typeof id === 'number' && id > 0 ? { id } : {}) });
          } catch (err) {
            emit(errorEvent(err));
          }
          break;
        case 'who':
          list();
          break;
        case 'status':
        case 'typing':
        case 'trust':
          try {
            if (cmd.kind === 'status') need(client.setStatus?.bind(client), 'statuses')(cmd.status);
            else if (cmd.kind === 'typing') need(client.typing?.bind(client), 'typing indicators')(cmd.to, cmd.on);
            else {
              need(client.trust?.bind(client), 'pinned keys')(cmd.name);
              list();
            }
          } catch (err) {
            emit(errorEvent(err));
          }
          break;
        case 'quit':
          return;
        case 'invalid':
          emit({ event: 'error', code: 'ERR_BAD_COMMAND', message: cmd.message });
          break;
        default:
          emit({ event: 'error', code: 'ERR_BAD_COMMAND', message: 'line mode understands /msg, /who, /status, /typing, /trust and /quit' });
      }
    }
  } finally {
    rl.close();
    await client.logout();
    emit({ event: 'closed' });
  }
}

function lineContact(c: UiContact): LineContact {
  return {
    name: c.name,
    endpoint: formatEndpoint(c.endpoint),
    protocol: c.protocol,
    ...(c.status !== undefined ? { status: c.status } : {}),
    ...(c.fingerprint !== undefined ? { fingerprint: c.fingerprint } : {}),
    ...(c.keyChanged === true ? { keyChanged: true as const } : {}),
    ...(c.path !== undefined ? { path: c.path } : {}),
  };
}

/** A method only the qim protocol offers, bound, or an error saying classic lacks it. */
function need<A extends unknown[]>(fn: ((...args: A) => void) | undefined, what: string): (...args: A) => void {
  if (fn === undefined) throw new QimError('ERR_BAD_OPTION', `the classic protocol has no ${what}`);
  return fn;
}

/** The line-mode form of an error. */
export function errorEvent(err: unknown): LineEvent {
  if (err instanceof QimError) return { event: 'error', code: err.code, message: err.message };
  return { event: 'error', code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
