/**
 * Compatibility with programs built exactly as the seed describes: the C# doubles in this folder
 * (SeedClient.cs, SeedServer.cs), compiled and run with Mono, against qim's server and client over
 * real sockets on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  QimClient,
  QimServer,
  formatEndpoint,
  type Contact,
  type IncomingMessage,
} from '../../src/index.js';
import { startSeedClient, startSeedServer, type LineProcess } from '../helpers/mono.js';

const WAIT_MS = 10_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Undo in reverse order: clients before the servers they talk to.
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      /* keep cleaning up the rest */
    }
  }
});

async function qimServer(): Promise<{ server: QimServer; port: number }> {
  const server = new QimServer({ host: '127.0.0.1', port: 0 });
  await server.start();
  cleanups.push(() => server.stop());
  return { server, port: server.endpoint.port };
}

async function seedServer(): Promise<{ port: number; proc: LineProcess }> {
  const { proc, udpPort } = await startSeedServer({ host: '127.0.0.1' });
  cleanups.push(() => proc.close());
  return { port: udpPort, proc };
}

interface Seed {
  proc: LineProcess;
  /** The receive endpoint the seed client printed, `127.0.0.1:port`. */
  endpoint: string;
}

/** Starts a seed client and waits for its `ready` line (not for its list). */
async function seedClient(name: string, serverPort: number, env?: NodeJS.ProcessEnv): Promise<Seed> {
  const proc = await startSeedClient({
    serverHost: '127.0.0.1',
    serverPort,
    name,
    ...(env === undefined ? {} : { env }),
  });
  cleanups.push(() => proc.close());
  const ready = await proc.waitFor((l) => l.startsWith('ready '), WAIT_MS);
  return { proc, endpoint: ready.slice('ready '.length) };
}

/** The entries of a seed `list ...` line, as `name,IP:port` strings, without the trailing `end`. */
function listEntries(line: string): string[] {
  expect(line.startsWith('list ')).toBe(true);
  const entries = line.slice('list '.length).split(';');
  expect(entries.at(-1)).toBe('end');
  return entries.slice(0, -1);
}

/** A seed `message <time>|<sender>|<text>` line, split. */
function parseMessage(line: string): { time: string; sender: string; text: string } {
  const m = /^message ([^|]*)\|([^|]*)\|(.*)$/s.exec(line);
  if (m === null) throw new Error(`not a message line: ${line}`);
  return { time: m[1] ?? '', sender: m[2] ?? '', text: m[3] ?? '' };
}

/** Records what a QimClient reports so a test can wait for any of it, before or after it happened. */
class Recorder {
  readonly joined: Contact[] = [];
  readonly left: string[] = [];
  readonly messages: IncomingMessage[] = [];
  #waiters: (() => void)[] = [];

  constructor(client: QimClient) {
    client.on('joined', (c) => this.#push(() => this.joined.push(c)));
    client.on('left', ({ name }) => this.#push(() => this.left.push(name)));
    client.on('message', (m) => this.#push(() => this.messages.push(m)));
  }

  /** Resolves with the first recorded item that `find` returns; rejects after `WAIT_MS`. */
  wait<T>(what: string, find: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = find();
        if (found === undefined) return false;
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
      }, WAIT_MS);
      const waiter = (): void => {
        if (check()) this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      if (!check()) this.#waiters.push(waiter);
    });
  }

  joinOf(name: string): Promise<Contact> {
    return this.wait(`joined ${name}`, () => this.joined.find((c) => c.name === name));
  }

  leaveOf(name: string): Promise<string> {
    return this.wait(`left ${name}`, () => this.left.find((n) => n === name));
  }

  messageFrom(from: string, text?: string): Promise<IncomingMessage> {
    return this.wait(`a message from ${from}`, () =>
      this.messages.find((m) => m.from === from && (text === undefined || m.text === text)),
    );
  }

  #push(record: () => void): void {
    record();
    for (const w of [...this.#waiters]) w();
  }
}

function qimClient(name: string, serverPort: number): { client: QimClient; events: Recorder } {
  const client = new QimClient({ server: { host: '127.0.0.1', port: serverPort }, name, host: '127.0.0.1' });
  const events = new Recorder(client);
  cleanups.push(() => client.close());
  return { client, events };
}

describe('compatibility with the seed programs', () => {
  it('lets two seed clients log in to QimServer, see each other, chat peer to peer and see a logout', async () => {
    const { server, port } = await qimServer();

    const alice = await seedClient('alice', port);
    expect(listEntries(await alice.proc.waitFor((l) => l.startsWith('list '), WAIT_MS))).toEqual([
      `alice,${alice.endpoint}`,
    ]);

    const jianchi = await seedClient('剑痴', port);
    expect(listEntries(await jianchi.proc.waitFor((l) => l.startsWith('list '), WAIT_MS))).toEqual([
      `alice,${alice.endpoint}`,
      `剑痴,${jianchi.endpoint}`,
    ]);
    await alice.proc.waitFor((l) => l === `joined 剑痴 ${jianchi.endpoint}`, WAIT_MS);
    expect(server.users().map((u) => `${u.name},${formatEndpoint(u.endpoint)}`)).toEqual([
      `alice,${alice.endpoint}`,
      `剑痴,${jianchi.endpoint}`,
    ]);

    alice.proc.send('talk 剑痴 你好，剑痴');
    const toJianchi = parseMessage(await jianchi.proc.waitFor((l) => l.startsWith('message '), WAIT_MS));
    expect(toJianchi).toMatchObject({ sender: 'alice', text: '你好，剑痴' });
    expect(toJianchi.time).toMatch(/^\d{1,2}:\d{2}:\d{2}/);

    jianchi.proc.send('talk alice hello alice 😀');
    const toAlice = parseMessage(await alice.proc.waitFor((l) => l.startsWith('message '), WAIT_MS));
    expect(toAlice).toMatchObject({ sender: '剑痴', text: 'hello alice 😀' });

    jianchi.proc.send('logout');
    await jianchi.proc.waitFor((l) => l === 'bye', WAIT_MS);
    await alice.proc.waitFor((l) => l === 'left 剑痴', WAIT_MS);
    // The server removes the user before it tells the others, so this holds once alice knows.
    expect(server.directory.byName('剑痴')).toBeUndefined();
    expect(server.users().map((u) => u.name)).toEqual(['alice']);
  });

  it('lets a seed client and a qim client on QimServer see each other join and chat both ways', async () => {
    const { port } = await qimServer();

    const alice = await seedClient('alice', port);
    await alice.proc.waitFor((l) => l.startsWith('list '), WAIT_MS);

    // A qim client joins: the seed client sees it join, and the qim client finds it in its list.
    const { client: bob, events } = qimClient('bob', port);
    const list = await bob.login();
    expect(list.map((c) => `${c.name},${formatEndpoint(c.endpoint)}`)).toEqual([`alice,${alice.endpoint}`]);
    await alice.proc.waitFor((l) => l === `joined bob ${formatEndpoint(bob.endpoint)}`, WAIT_MS);

    // A seed client joins after the qim client: the qim client sees it join.
    const jianchi = await seedClient('剑痴', port);
    expect(listEntries(await jianchi.proc.waitFor((l) => l.startsWith('list '), WAIT_MS))).toEqual([
      `alice,${alice.endpoint}`,
      `bob,${formatEndpoint(bob.endpoint)}`,
      `剑痴,${jianchi.endpoint}`,
    ]);
    const joined = await events.joinOf('剑痴');
    expect(formatEndpoint(joined.endpoint)).toBe(jianchi.endpoint);

    // qim -> seed, Chinese and emoji.
    bob.send('剑痴', '你好 🐉 bob here');
    const toJianchi = parseMessage(await jianchi.proc.waitFor((l) => l.startsWith('message '), WAIT_MS));
    expect(toJianchi).toMatchObject({ sender: 'bob', text: '你好 🐉 bob here' });

    // seed -> qim, Chinese and emoji.
    jianchi.proc.send('talk bob 剑痴在此 👋');
    const fromJianchi = await events.messageFrom('剑痴');
    expect(fromJianchi.text).toBe('剑痴在此 👋');
    expect(fromJianchi.sentAt).toMatch(/^\d{1,2}:\d{2}:\d{2}/);

    // qim -> seed with commas: the seed shows the text only up to its first comma.
    bob.send('alice', 'a, b, c');
    const toAlice = parseMessage(await alice.proc.waitFor((l) => l.startsWith('message '), WAIT_MS));
    expect(toAlice).toMatchObject({ sender: 'bob', text: 'a' });

    // seed -> qim with commas: qim keeps everything after the third comma.
    alice.proc.send('talk bob x, y, z, 你好, 🎉');
    const fromAlice = await events.messageFrom('alice');
    expect(fromAlice.text).toBe('x, y, z, 你好, 🎉');

    await bob.logout();
    await alice.proc.waitFor((l) => l === 'left bob', WAIT_MS);
    await jianchi.proc.waitFor((l) => l === 'left bob', WAIT_MS);
  });

  it('lets a qim client log in to the seed server, get the list, see joins and chat with a seed client', async () => {
    const seed = await seedServer();

    const alice = await seedClient('alice', seed.port);
    await alice.proc.waitFor((l) => l.startsWith('list '), WAIT_MS);
    await seed.proc.waitFor((l) => l === `login alice ${alice.endpoint}`, WAIT_MS);

    const { client: bob, events } = qimClient('bob', seed.port);
    const list = await bob.login();
    expect(list.map((c) => `${c.name},${formatEndpoint(c.endpoint)}`)).toEqual([`alice,${alice.endpoint}`]);
    expect(bob.state).toBe('online');
    await seed.proc.waitFor((l) => l === `login bob ${formatEndpoint(bob.endpoint)}`, WAIT_MS);
    await alice.proc.waitFor((l) => l === `joined bob ${formatEndpoint(bob.endpoint)}`, WAIT_MS);

    const jianchi = await seedClient('剑痴', seed.port);
    await jianchi.proc.waitFor((l) => l.startsWith('list '), WAIT_MS);
    const joined = await events.joinOf('剑痴');
    expect(formatEndpoint(joined.endpoint)).toBe(jianchi.endpoint);
    expect(bob.contacts().map((c) => c.name)).toEqual(['alice', '剑痴']);

    bob.send('alice', 'hi alice, from qim 🚀');
    // The seed keeps only up to the first comma of the text.
    expect(parseMessage(await alice.proc.waitFor((l) => l.startsWith('message '), WAIT_MS))).toMatchObject({
      sender: 'bob',
      text: 'hi alice',
    });

    alice.proc.send('talk bob 你好 bob 🙂');
    expect((await events.messageFrom('alice')).text).toBe('你好 bob 🙂');

    bob.send('剑痴', '剑痴你好');
    expect(parseMessage(await jianchi.proc.waitFor((l) => l.startsWith('message '), WAIT_MS))).toMatchObject({
      sender: 'bob',
      text: '剑痴你好',
    });

    await bob.logout();
    expect(bob.state).toBe('closed');
    await seed.proc.waitFor((l) => l === 'logout bob', WAIT_MS);
    await alice.proc.waitFor((l) => l === 'left bob', WAIT_MS);
    await jianchi.proc.waitFor((l) => l === 'left bob', WAIT_MS);
  });

  it("takes a seed client's culture-dependent time (en-US, with AM/PM) as the sentAt text", async () => {
    const { port } = await qimServer();
    const { client: bob, events } = qimClient('bob', port);
    await bob.login();

    const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'en_US.UTF-8' };
    delete env.LC_ALL;
    delete env.LC_TIME;
    const alice = await seedClient('alice', port, env);
    await alice.proc.waitFor((l) => l.startsWith('list '), WAIT_MS);
    await events.joinOf('alice');

    alice.proc.send('talk bob good morning, bob: 早上好 ☀️');
    const m = await events.messageFrom('alice');
    // .NET en-US long time: `h:mm:ss tt`, e.g. `8:21:58 AM`.
    expect(m.sentAt).toMatch(/^(1[0-2]|[1-9]):[0-5]\d:[0-5]\d (AM|PM)$/);
    expect(m.text).toBe('good morning, bob: 早上好 ☀️');
  });

  it('refuses a second seed client that claims a name already online from another endpoint', async () => {
    const { server, port } = await qimServer();

    const first = await seedClient('alice', port);
    await first.proc.waitFor((l) => l.startsWith('list '), WAIT_MS);

    const second = await seedClient('alice', port);
    expect(second.endpoint).not.toBe(first.endpoint);
    // The seed client does not know `Refuse` and prints it as an ignored datagram.
    await second.proc.waitFor((l) => l === 'ignored Refuse,name taken', WAIT_MS);
    expect(second.proc.lines.filter((l) => l.startsWith('list '))).toEqual([]);

    // The first alice stays listed, at her own endpoint, and alone under that name.
    expect(server.users().map((u) => `${u.name},${formatEndpoint(u.endpoint)}`)).toEqual([`alice,${first.endpoint}`]);
    expect(server.counters.refused).toBe(1);

    // A newcomer's list shows the first alice only.
    const { client: bob } = qimClient('bob', port);
    const list = await bob.login();
    expect(list.map((c) => `${c.name},${formatEndpoint(c.endpoint)}`)).toEqual([`alice,${first.endpoint}`]);
    await first.proc.waitFor((l) => l === `joined bob ${formatEndpoint(bob.endpoint)}`, WAIT_MS);
    // Nobody was told about the impostor: the server's datagrams to the first alice arrive in order
    // on loopback, so a `joined alice` would have come before `joined bob`.
    expect(first.proc.lines.filter((l) => l.startsWith('joined '))).toEqual([`joined bob ${formatEndpoint(bob.endpoint)}`]);
    expect(second.proc.lines.filter((l) => l.startsWith('joined ') || l.startsWith('list '))).toEqual([]);
  });
});
