/**
 * `qim chat` in a terminal: several conversations at once, as the seed's chat windows were, in one
 * screen. Every incoming message is shown with its sender and time, whichever conversation is
 * open; the prompt names the open conversation and the unread count of the others.
 */
import { createInterface, type Interface } from 'node:readline';
import type { ChatClient } from '../client/chat-client.js';
import { Conversations, type ChatLine } from '../client/conversations.js';
import { QimError } from '../errors.js';
import { formatEndpoint } from '../protocol/endpoint.js';
import { HELP_TEXT, parseCommand } from './commands.js';
import { bold, clock, cyan, dim, green, safe, yellow } from './display.js';

/** Runs the terminal UI over a client that is already online; resolves after `/quit` or Ctrl-D. */
export async function runTty(client: ChatClient, serverText: string): Promise<void> {
  const conversations = new Conversations();
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true, historySize: 200 });

  /** Prints above the prompt without disturbing what the user is typing. */
  const say = (text: string): void => {
    process.stdout.write('\r\x1b[K');
    process.stdout.write(`${text}\n`);
    refreshPrompt(rl, client, conversations);
    rl.prompt(true);
  };
  const show = (line: ChatLine): string => {
    const who = line.direction === 'in' ? cyan(safe(line.peer)) : green('me');
    return `${dim(clock(line.at))} ${who}: ${safe(line.text)}`;
  };

  client.on('joined', (c) => say(dim(`→ ${safe(c.name)} is online (${formatEndpoint(c.endpoint)})`)));
  client.on('left', ({ name }) => say(dim(`← ${safe(name)} left`)));
  client.on('warning', (w) => say(yellow(`⚠ ${safe(w.message)}`)));
  client.on('delivery', (d) => {
    if (d.state === 'failed') say(yellow(`✗ a message to ${safe(d.to)} was not delivered`));
    else if (d.state === 'delivered' && conversations.open === d.to) say(dim(`  ✓ delivered to ${safe(d.to)}`));
  });
  client.on('message', (m) => {
    const line: ChatLine = { direction: 'in', peer: m.from, text: m.text, at: m.receivedAt, sentAt: m.sentAt };
    conversations.add(line);
    if (conversations.open === m.from) {
      say(show(line));
    } else {
      const unread = conversations.unread(m.from);
      say(`${yellow('●')} ${show(line)}  ${dim(`(${unread} unread from ${safe(m.from)} · /open ${safe(m.from)})`)}`);
      process.stdout.write('\x07'); // the terminal's own notification: a bell
    }
  });

  const sendTo = (to: string, text: string): void => {
    try {
      client.send(to, text);
      const line: ChatLine = { direction: 'out', peer: to, text, at: new Date() };
      conversations.add(line);
      say(conversations.open === to ? show(line) : `${dim(`to ${safe(to)}:`)} ${show(line)}`);
    } catch (err) {
      say(yellow(err instanceof QimError ? err.message : String(err)));
    }
  };

  say(`${bold('qim')} — ${safe(client.name)} at ${formatEndpoint(client.endpoint)}, server ${serverText}. /help for commands.`);
  say(whoText(client));
  refreshPrompt(rl, client, conversations);
  rl.prompt();

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
          for (const line of conversations.history(cmd.name, 20)) say(show(line));
          break;
        }
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
          else for (const line of conversations.history(open, cmd.count)) say(show(line));
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
      refreshPrompt(rl, client, conversations);
      rl.prompt();
    });
  });
  process.stdout.write(dim('logging out…\n'));
  await client.logout();
}

function whoText(client: ChatClient): string {
  const names = client.contacts().map((c) => `${safe(c.name)}${c.protocol === 'classic' ? dim(' (classic, unencrypted)') : dim(` [${c.fingerprint ?? ''}]`)}`);
  return names.length === 0 ? dim('Nobody else is online.') : `Online (${names.length}): ${names.join(', ')}`;
}

function refreshPrompt(rl: Interface, client: ChatClient, conversations: Conversations): void {
  const open = conversations.open;
  const others = conversations
    .summaries()
    .filter((s) => s.unread > 0 && s.peer !== open)
    .map((s) => `${safe(s.peer)} ${s.unread}`);
  const unread = others.length > 0 ? yellow(` [${others.join(', ')}]`) : '';
  const target = open === null ? dim('(no chat open)') : cyan(safe(open));
  rl.setPrompt(`${safe(client.name)} → ${target}${unread} > `);
}
