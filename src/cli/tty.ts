/**
 * `qim chat` in a terminal: several conversations at once, as the seed's chat windows were, in one
 * screen. Every incoming message is shown with its sender and time, whichever conversation is
 * open; the prompt names the open conversation and the unread count of the others.
 */
import { createInterface, type Interface } from 'node:readline';
import type { ChatClient, EarlyEvents, UiContact, UiMessage } from '../client/chat-client.js';
import { Conversations, type ChatLine } from '../client/conversations.js';
import type { HistoryRecorder } from '../client/history.js';
import { QimError } from '../errors.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import { HELP_TEXT, parseCommand } from './commands.js';
import { bold, clock, cyan, dim, green, safe, yellow } from './display.js';

const PATH_TEXT = {
  direct: 'direct',
  punched: 'direct through a NAT (hole punched)',
  relayed: 'through the server\'s relay (still end-to-end encrypted)',
} as const;

/** How often, at most, to tell a peer we are still typing. */
const TYPING_REFRESH_MS = 3000;

/**
 * Runs the terminal UI over a client that is already online; resolves after `/quit` or Ctrl-D.
 * With a history recorder, messages are kept in the profile and `/open` shows earlier ones.
 */
export async function runTty(client: ChatClient, serverText: string, history?: HistoryRecorder, early: EarlyEvents = { warnings: [], messages: [] }): Promise<void> {
  const conversations = new Conversations();
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true, historySize: 200 });
  /** Who is typing to us now. */
  const typing = new Set<string>();
  const prompt = (): void => refreshPrompt(rl, client, conversations, typing);

  /** Prints above the prompt without disturbing what the user is typing. */
  const say = (text: string): void => {
    process.stdout.write('\r\x1b[K');
    process.stdout.write(`${text}\n`);
    prompt();
    rl.prompt(true);
  };
  const show = (line: ChatLine): string => {
    const who = line.direction === 'in' ? cyan(safe(line.peer)) : green('me');
    return `${dim(clock(line.at))} ${who}: ${safe(line.text)}`;
  };

  client.on('joined', (c) => say(dim(`→ ${safe(c.name)} is online (${formatEndpoint(c.endpoint)})`)));
  client.on('left', ({ name }) => {
    typing.delete(name);
    say(dim(`← ${safe(name)} left`));
  });
  client.on('status', ({ name, status }) => say(dim(`· ${safe(name)} is ${status}`)));
  client.on('path', ({ name, path }) => say(dim(`· to ${safe(name)}: ${PATH_TEXT[path]}`)));
  client.on('typing', ({ from, typing: on }) => {
    if (on) typing.add(from);
    else typing.delete(from);
    prompt();
    rl.prompt(true);
  });
  client.on('warning', (w) => say(yellow(`⚠ ${safe(w.message)}`)));
  client.on('delivery', (d) => {
    if (d.state === 'failed') say(yellow(`✗ a message to ${safe(d.to)} was not delivered`));
    else if (d.state === 'stored') say(dim(`  ✉ ${safe(d.to)} is offline: kept for them (sealed) until they log in`));
    else if (d.state === 'delivered' && conversations.open === d.to) say(dim(`  ✓ delivered to ${safe(d.to)}`));
  });
  const message = (m: UiMessage): void => {
    typing.delete(m.from);
    const line: ChatLine = { direction: 'in', peer: m.from, text: m.text, at: m.receivedAt, sentAt: m.sentAt };
    conversations.add(line);
    if (conversations.open === m.from) {
      say(show(line));
    } else {
      const unread = conversations.unread(m.from);
      say(`${yellow('●')} ${show(line)}  ${dim(`(${unread} unread from ${safe(m.from)} · /open ${safe(m.from)})`)}`);
      process.stdout.write('\x07'); // the terminal's own notification: a bell
    }
  };
  client.on('message', message);

  // Tell the open conversation's peer we are typing: on the first key of a line, then at most every
  // few seconds; and that we stopped when the line is sent or cleared.
  let typingTo: string | null = null;
  let typingSent = 0;
  const stopTyping = (): void => {
    if (typingTo !== null) client.typing?.(typingTo, false);
    typingTo = null;
  };
  process.stdin.on('keypress', () => {
    setImmediate(() => {
      const open = conversations.open;
      const composing = open !== null && rl.line !== '' && !rl.line.startsWith('/');
      if (!composing) return stopTyping();
      if (typingTo !== open) stopTyping();
      if (typingTo !== open || Date.now() - typingSent > TYPING_REFRESH_MS) {
        client.typing?.(open, true);
        typingTo = open;
        typingSent = Date.now();
      }
    });
  });

  const sendTo = (to: string, text: string): void => {
    try {
      stopTyping();
      if (history !== undefined) history.send(to, text);
      else client.send(to, text);
      const line: ChatLine = { direction: 'out', peer: to, text, at: new Date() };
      conversations.add(line);
      say(conversations.open === to ? show(line) : `${dim(`to ${safe(to)}:`)} ${show(line)}`);
    } catch (err) {
      say(yellow(err instanceof QimError ? err.message : String(err)));
    }
  };

  say(`${bold('qim')} — ${safe(client.name)} at ${formatEndpoint(client.endpoint)}, server ${serverText}. /help for commands.`);
  say(whoText(client));
  for (const w of early.warnings) say(yellow(`⚠ ${safe(w.message)}`));
  for (const m of early.messages) message(m);
  prompt();
  rl.prompt();

  /** The last `n` lines with `peer`: from the profile's history when there is one. */
  function recent(peer: string, n: number): readonly ChatLine[] {
    if (history === undefined) return conversations.history(peer, n);
    return history.history(peer, n).map((e) => ({
      direction: e.direction,
      peer: e.peer,
      text: e.direction === 'out' && e.state === 'failed' ? `${e.text}  ✗ not delivered` : e.text,
      at: new Date(e.at),
    }));
  }

  await new Promise<void>((resolve) => {
    rl.on('close', resolve);
    rl.on('SIGINT', () => rl.close());
    rl.on('line', (input) => {
      const cmd = parseCommand(input, client.contacts().map((c) => c.name));
      // The line the user typed stays on screen as typed; clear it so only the formatted line shows.
      if (cmd.kind === 'text') process.stdout.write('\x1b[1A\r\x1b[K');
      switch (cmd.kind) {
        case 'empty':
          break;
        case 'text': {
          const open = conversations.open;
          if (open === null) say(yellow('No conversation is open: /open NAME first, or /msg NAME TEXT.'));
          else sendTo(open, cmd.text);
          break;
        }
        case 'msg':
          sendTo(cmd.to, cmd.text);
          break;
        case 'open': {
          conversations.openWith(cmd.name);
          const online = client.contact(cmd.name) !== undefined;
          say(bold(`── ${safe(cmd.name)}${online ? '' : ' (not online)'} ──`));
          for (const line of recent(cmd.name, 20)) say(show(line));
          break;
        }
        case 'status':
        case 'trust':
          try {
            if (cmd.kind === 'status') {
              if (client.setStatus === undefined) throw new QimError('ERR_BAD_OPTION', 'the classic protocol has no statuses');
              client.setStatus(cmd.status);
              say(dim(`you are ${cmd.status}${cmd.status === 'invisible' ? ' (listed to nobody)' : ''}`));
            } else {
              if (client.trust === undefined) throw new QimError('ERR_BAD_OPTION', 'the classic protocol has no keys');
              client.trust(cmd.name);
              say(dim(`${safe(cmd.name)}'s key is now trusted: [${client.contact(cmd.name)?.fingerprint ?? ''}]`));
            }
          } catch (err) {
            say(yellow(err instanceof Error ? err.message : String(err)));
          }
          break;
        case 'typing':
          client.typing?.(cmd.to, cmd.on);
          break;
        case 'close':
          conversations.close();
          say(dim('conversation closed'));
          break;
        case 'who':
          say(whoText(client));
          break;
        case 'unread': {
          const rows = conversations.summaries().filter((s) => s.unread > 0);
          say(rows.length === 0 ? dim('no unread messages') : rows.map((s) => `${safe(s.peer)}: ${s.unread}`).join('  '));
          break;
        }
        case 'history': {
          const open = conversations.open;
          if (open === null) say(yellow('No conversation is open.'));
          else for (const line of recent(open, cmd.count)) say(show(line));
          break;
        }
        case 'help':
          say(HELP_TEXT);
          break;
        case 'invalid':
          say(yellow(cmd.message));
          break;
        case 'quit':
          rl.close();
          return;
      }
      prompt();
      rl.prompt();
    });
  });
  process.stdout.write(dim('logging out…\n'));
  await client.logout();
}

function whoText(client: ChatClient): string {
  const names = client.contacts().map(contactText);
  const me = client.status !== undefined && client.status !== 'online' ? dim(` You are ${client.status}.`) : '';
  return (names.length === 0 ? dim('Nobody else is online.') : `Online (${names.length}): ${names.join(', ')}`) + me;
}

function contactText(c: UiContact): string {
  const status = c.status !== undefined && c.status !== 'online' ? ` (${c.status})` : '';
  if (c.protocol === 'classic') return `${safe(c.name)}${dim(' (classic, unencrypted)')}`;
  const path = c.path !== undefined ? ` · ${c.path}` : '';
  const key = c.keyChanged === true ? yellow(` [key changed: ${c.fingerprint ?? ''} · /trust]`) : dim(` [${c.fingerprint ?? ''}${path}]`);
  return `${safe(c.name)}${status}${key}`;
}

function refreshPrompt(rl: Interface, client: ChatClient, conversations: Conversations, typing: ReadonlySet<string>): void {
  const open = conversations.open;
  const others = conversations
    .summaries()
    .filter((s) => s.unread > 0 && s.peer !== open)
    .map((s) => `${safe(s.peer)} ${s.unread}`);
  const unread = others.length > 0 ? yellow(` [${others.join(', ')}]`) : '';
  const target = open === null ? dim('(no chat open)') : cyan(safe(open)) + (typing.has(open) ? dim(' (typing…)') : '');
  rl.setPrompt(`${safe(client.name)} → ${target}${unread} > `);
}
