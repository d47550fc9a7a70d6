/**
 * The chat commands typed by a person or a script, parsed into a small union. Shared by the
 * terminal UI and the line mode so both understand exactly the same input.
 */
import type { Status } from '../protocol/v2/messages.js';

/** One parsed input line. */
export type ChatCommand =
  | { readonly kind: 'msg'; readonly to: string; readonly text: string }
  | { readonly kind: 'open'; readonly name: string }
  | { readonly kind: 'close' }
  | { readonly kind: 'who' }
  | { readonly kind: 'unread' }
  | { readonly kind: 'history'; readonly count: number }
  | { readonly kind: 'status'; readonly status: Status }
  | { readonly kind: 'trust'; readonly name: string }
  | { readonly kind: 'typing'; readonly to: string; readonly on: boolean }
  | { readonly kind: 'help' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'empty' }
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * Parses one line. Names may contain spaces, so a name is either quoted (`"Li Lei"`) or, when
 * unquoted, the longest of `knownNames` that starts the argument; failing both, its first word.
 */
export function parseCommand(line: string, knownNames: Iterable<string> = []): ChatCommand {
  const trimmed = line.replace(/[\r\n]+$/, '');
  if (trimmed.trim() === '') return { kind: 'empty' };
  if (!trimmed.startsWith('/')) return { kind: 'text', text: trimmed };
  const space = trimmed.indexOf(' ');
  const verb = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const rest = space < 0 ? '' : trimmed.slice(space + 1).trimStart();
  switch (verb) {
    case '/msg':
    case '/m': {
      const split = splitName(rest, knownNames);
      if (split === null || split.rest === '') return { kind: 'invalid', message: 'usage: /msg NAME TEXT' };
      return { kind: 'msg', to: split.name, text: split.rest };
    }
    case '/open':
    case '/o': {
      const split = splitName(rest, knownNames);
      if (split === null) return { kind: 'invalid', message: 'usage: /open NAME' };
      return { kind: 'open', name: rest.startsWith('"') ? split.name : rest.trimEnd() };
    }
    case '/close':
      return { kind: 'close' };
    case '/who':
    case '/w':
      return { kind: 'who' };
    case '/unread':
    case '/u':
      return { kind: 'unread' };
    case '/history':
    case '/h': {
      const n = rest === '' ? 20 : Number(rest);
      if (!Number.isInteger(n) || n <= 0) return { kind: 'invalid', message: 'usage: /history [COUNT]' };
      return { kind: 'history', count: n };
    }
    case '/status':
    case '/s': {
      const status = rest.trim().toLowerCase();
      if (!isStatus(status)) return { kind: 'invalid', message: 'usage: /status online|away|busy|invisible' };
      return { kind: 'status', status };
    }
    case '/trust': {
      const split = splitName(rest, knownNames);
      if (split === null) return { kind: 'invalid', message: 'usage: /trust NAME' };
      return { kind: 'trust', name: rest.startsWith('"') ? split.name : rest.trimEnd() };
    }
    case '/typing': {
      const split = splitName(rest, knownNames);
      const on = split?.rest.trim().toLowerCase();
      if (split === null || (on !== 'on' && on !== 'off')) return { kind: 'invalid', message: 'usage: /typing NAME on|off' };
      return { kind: 'typing', to: split.name, on: on === 'on' };
    }
    case '/help':
    case '/?':
      return { kind: 'help' };
    case '/quit':
    case '/q':
      return { kind: 'quit' };
    default:
      return { kind: 'invalid', message: `unknown command ${verb} (try /help)` };
  }
}

function splitName(arg: string, knownNames: Iterable<string>): { name: string; rest: string } | null {
  if (arg === '') return null;
  if (arg.startsWith('"')) {
    const close = arg.indexOf('"', 1);
    if (close <= 1) return null;
    return { name: arg.slice(1, close), rest: arg.slice(close + 1).trimStart() };
  }
  let best = '';
  for (const name of knownNames) {
    if (name.length > best.length && (arg === name || arg.startsWith(`${name} `))) best = name;
  }
  if (best !== '') return { name: best, rest: arg.slice(best.length + 1) };
  const space = arg.indexOf(' ');
  return space < 0 ? { name: arg, rest: '' } : { name: arg.slice(0, space), rest: arg.slice(space + 1) };
}

const STATUSES: readonly string[] = ['online', 'away', 'busy', 'invisible'];

function isStatus(s: string): s is Status {
  return STATUSES.includes(s);
}

/** The help text shown by `/help` in the terminal UI. */
export const HELP_TEXT = [
  'Type a line to send it to the open conversation.',
  '  /open NAME   (/o)  open the conversation with NAME (switches; unread count resets)',
  '  /msg NAME TEXT (/m) send TEXT to NAME without switching',
  '  /close             close the open conversation',
  '  /who        (/w)   who is online',
  '  /unread     (/u)   conversations with unread messages',
  '  /history [N] (/h)  the last N lines of the open conversation',
  '  /status S   (/s)   set your status: online, away, busy or invisible (listed to nobody)',
  '  /trust NAME        accept NAME\'s new key, after checking its fingerprint with them',
  '  /quit       (/q)   log out and leave',
  'Names with spaces: /open "Li Lei" or just /open Li Lei.',
].join('\n');
