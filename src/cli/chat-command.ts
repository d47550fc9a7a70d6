/**
 * `qim chat`: logs in, then runs the terminal UI when standard input is a terminal, or the line
 * mode (one command in, one JSON event out per line) when it is not.
 */
import { QimClient } from '../client/client.js';
import { defaultProfilesRoot, Profile } from '../client/profile.js';
import { HistoryRecorder } from '../client/history.js';
import { QimChatClient } from '../client/qim-client.js';
import type { ChatClient, EarlyEvents, UiMessage, UiWarning } from '../client/chat-client.js';
import { QimError } from '../errors.js';
import { errorEvent, runLineMode } from './line-mode.js';
import { runTty } from './tty.js';

/** Parsed flags of `qim chat`. */
export interface ChatCommandOptions {
  readonly server: { host: string; port: number };
  readonly name: string;
  readonly host?: string;
  readonly port?: number;
  /** `qim` (default: encrypted, reliable) or `classic` (the seed's protocol). */
  readonly protocol: 'qim' | 'classic';
  /** Everything through the server's relay: peers never learn this client's address. */
  readonly relayOnly?: boolean;
}

/** Runs the chat client; resolves with the exit code. */
export async function runChat(opts: ChatCommandOptions): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  const endpointOpts = {
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  };
  const serverText = `${opts.server.host}:${opts.server.port}`;
  let client: ChatClient & { login(): Promise<unknown> };
  let afterLogin = (): void => {};
  let history: HistoryRecorder | undefined;
  const early: EarlyEvents = { warnings: [], messages: [] };
  const keepEarly = (w: UiWarning): void => void early.warnings.push(w);
  const keepEarlyMessage = (m: UiMessage): void => void early.messages.push(m);
  if (opts.protocol === 'classic') {
    client = new QimClient({ server: opts.server, name: opts.name, ...endpointOpts }) as unknown as ChatClient & { login(): Promise<unknown> };
  } else {
    let profile: Profile;
    try {
      profile = Profile.open(defaultProfilesRoot(), opts.name);
    } catch (err) {
      process.stderr.write(`qim: cannot open the profile: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    const serverKey = profile.serverKey(serverText);
    const { store } = profile;
    const peerPins = profile.peerPins(serverText);
    const qim = new QimChatClient({
      server: opts.server,
      name: opts.name,
      identity: profile.identity,
      peerPins,
      seenOffline: profile.seenOffline(serverText),
      ...endpointOpts,
      ...(serverKey ? { serverKey } : {}),
      ...(opts.relayOnly === true ? { directPaths: false } : {}),
    });
    history = new HistoryRecorder(qim, store, serverText);
    afterLogin = () => {
      if (serverKey === undefined && qim.serverKey !== null) profile.pinServer(serverText, qim.serverKey);
    };
    client = qim;
  }
  // Signals are handled from the start: one that arrives mid-login waits for the login to settle
  // and then logs out, so the server never keeps listing a departed user.
  let loggingIn: Promise<unknown> = Promise.resolve();
  const stop = (): void => {
    void loggingIn
      .catch(() => {})
      .then(() => client.logout())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop); // the terminal closed
  process.once('SIGINT', stop); // in the terminal UI, readline takes Ctrl-C itself once it runs
  try {
    if (interactive) process.stdout.write(`logging in to ${opts.server.host}:${opts.server.port} as ${opts.name}…\n`);
    // Warnings raised while logging in (a peer's key changed) reach the UI once it runs.
    client.on('warning', keepEarly);
    // So do messages left for us while we were away, which arrive with the login.
    client.on('message', keepEarlyMessage);
    loggingIn = client.login();
    await loggingIn;
    afterLogin();
  } catch (err) {
    if (interactive) process.stderr.write(`qim: ${err instanceof Error ? err.message : String(err)}\n`);
    else process.stdout.write(`${JSON.stringify(errorEvent(err))}\n`);
    return 1;
  }
  try {
    client.off?.('warning', keepEarly);
    client.off?.('message', keepEarlyMessage);
    if (interactive) await runTty(client, serverText, history, early);
    else await runLineMode(client, process.stdin, process.stdout, history, early);
  } catch (err) {
    process.stderr.write(`qim: ${err instanceof QimError ? err.message : String(err)}\n`);
    await client.logout();
    return 1;
  }
  return 0;
}
