/**
 * A small internet on this machine, built from network namespaces, for tests that must cross real
 * NATs (needs root; see requireNetAdmin).
 *
 * ```
 *                    ┌──────────── <id>-inet: bridge br0 (the internet, 10.99.0.0/24) ────────────┐
 *                    │                        │                          │                          │
 *   <id>-server 10.99.0.1       <id>-pub1 10.99.0.2 …      <id>-nat1 wan 10.99.0.11        <id>-nat2 wan 10.99.0.12
 *   (qim server, relay)         (more public hosts)          lan 192.168.1.1/24 (bridge)   lan 192.168.2.1/24
 *                                                              │                               │
 *                                                      <id>-h1 192.168.1.2              <id>-h2 192.168.2.2
 * ```
 *
 * Every namespace is named `qn<pid>-<n>-<role>` (`<id>` above), so two runs never collide and a
 * later run can remove what a killed one left (sys.ts). Interfaces are made inside their
 * namespaces, so their names (eth0, wan, lan, br0, v-<role>) are short and never clash. IPv6 is
 * off everywhere: the test internet is IPv4, as the NATs it models.
 *
 * A NAT router forwards LAN to WAN, masquerades what leaves on `wan` to its WAN address, and lets
 * in only what conntrack knows as the answer to something sent out (established/related): an
 * unsolicited datagram is dropped and counted, silently, as home routers do. Mappings (table
 * `ip qim_nat`):
 *
 * - `endpoint-independent`: `masquerade to :20000-29999`. The first datagram from a private
 *   socket gets a random public port in that range; while any binding of that socket lives, the
 *   kernel reuses the same public address and port for every other destination (nf_nat's
 *   find_appropriate_src), which is what hole punching needs. Once every binding of the socket has
 *   expired (or was flushed), the next datagram gets a new random port, as a real NAT's would.
 *   (A socket bound to a port inside 20000-29999 keeps its own port instead.)
 * - `symmetric`: `masquerade to :20000-29999 random`. Every new destination gets a new random
 *   public port, so the port a peer learns from the server is useless to anyone else: punching
 *   fails, a relay is needed.
 *
 * Filtering is the kernel's conntrack in both kinds: address- and port-dependent (an answer must
 * come from the exact endpoint the datagram went to). Hairpinning (two hosts behind one NAT
 * reaching each other through its public address) is not supported.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { isEvent, killAllQim, portOf, startQim, type QimProcess, type StartOptions } from '../../helpers/cli.js';
import { startCapture, type NetCapture } from './pcap.js';
import { killProcessesIn, NS_PREFIX, nsRun, nsSysctl, removeLeftovers, requireNetAdmin, run, type RunOptions } from './sys.js';
import { startUdpAgent, type UdpAgent } from './udp.js';

/** The public network: every public host and every NAT's WAN side is on it. */
export const PUBLIC_NET = '10.99.0.0/24';
/** The server's public address. */
export const SERVER_ADDRESS = '10.99.0.1';
/** The range a NAT maps private ports into. */
export const NAT_PORTS = { min: 20000, max: 29999 } as const;

export type NatKind = 'endpoint-independent' | 'symmetric';

export interface NatSpec {
  readonly kind: NatKind;
  /** Hosts behind this NAT (default 1). */
  readonly hosts?: number;
  /**
   * Seconds an idle UDP binding lives in this NAT (conntrack's `nf_conntrack_udp_timeout` and
   * `_stream`); default the kernel's (30 s unanswered, 120 s once answered both ways).
   */
  readonly bindingTimeoutSeconds?: number;
}

export interface InternetSpec {
  /** One NAT router per entry, numbered from 1 (LAN 192.168.<n>.0/24, WAN 10.99.0.<10+n>). */
  readonly nats?: readonly NatSpec[];
  /** Public hosts besides the server (10.99.0.2, .3, …; at most 8): a relay of its own, a second echo server. */
  readonly publicHosts?: number;
}

/** Somewhere to run or capture: a namespace and its interface toward the network. */
export interface Place {
  /** Short name in the test internet: `inet`, `server`, `pub1`, `nat1`, `h1`. */
  readonly label: string;
  /** The namespace's name (for `ip netns exec`). */
  readonly ns: string;
  /** The interface toward the network: what a capture listens on by default. */
  readonly iface: string;
}

/** A machine of the test internet. */
export interface Machine extends Place {
  /** Its address on {@link iface} (a NAT router's is its public WAN address). */
  readonly address: string;
  /** Runs `cmd args...` in this machine's namespace; resolves with its stdout. */
  exec(cmd: string, args: readonly string[], options?: RunOptions): Promise<string>;
}

/** A host on the public network (no NAT in front of it). */
export type PublicHost = Machine;

/** One live NAT binding, from the router's conntrack table. */
export interface NatBinding {
  /** The host's own `ADDRESS:PORT`. */
  readonly private: string;
  /** The far end `ADDRESS:PORT`. */
  readonly remote: string;
  /** The `ADDRESS:PORT` the far end sees (the mapping). */
  readonly public: string;
  /** Whether anything came back yet. */
  readonly replied: boolean;
  /** Seconds until it expires unless used. */
  readonly expiresIn: number;
}

export interface NatRouter extends Machine {
  /** 1-based: LAN 192.168.<index>.0/24. */
  readonly index: number;
  readonly kind: NatKind;
  /** The LAN side's address (the hosts' gateway), e.g. `192.168.1.1`. */
  readonly gateway: string;
  /** The hosts behind it now (a host moved by changeAddress leaves one list for the other). */
  readonly hosts: readonly Host[];
  /** The NAT's live UDP bindings (mapped connections only). */
  bindings(): Promise<NatBinding[]>;
  /**
   * Forgets bindings, as a NAT does when they time out: every UDP binding, or only `host`'s. The
   * host's next datagram out makes a new mapping (a new public port); until then nothing comes in.
   */
  expireBindings(host?: Host): Promise<void>;
  /** How many unsolicited datagrams from the internet it dropped so far. */
  droppedInbound(): Promise<number>;
  /** Changes the mapping behaviour from now on (existing bindings are kept). */
  setKind(kind: NatKind): Promise<void>;
}

export interface Host extends Machine {
  /** 1-based, across the whole internet. */
  readonly index: number;
  /** The NAT it sits behind now. */
  readonly nat: NatRouter;
  /**
   * A new network, as when a laptop joins another Wi-Fi: a new address on the same NAT's LAN, or
   * (with `nat`) on another NAT's LAN. Sockets bound to the old address stop working; sockets
   * bound to 0.0.0.0 keep working with a new NAT mapping. Resolves with the new address.
   */
  changeAddress(options?: { nat?: NatRouter }): Promise<string>;
  /** Takes the host's link down (nothing in or out) or back up (the default route restored). */
  setLink(up: boolean): Promise<void>;
}

/** A running `qim server` in the test internet. */
export interface ServerProcess {
  readonly process: QimProcess;
  readonly port: number;
  /** `ADDRESS:PORT`, for `qim chat --server`. */
  readonly endpoint: string;
}

export interface Internet {
  /** The prefix of every namespace of this internet (`qn<pid>-<n>`). */
  readonly id: string;
  /** The internet itself: a switch (bridge br0) with no address; a capture there sees everything that crosses. */
  readonly inet: Place;
  readonly server: PublicHost;
  readonly publicHosts: readonly PublicHost[];
  readonly nats: readonly NatRouter[];
  /** Every host behind a NAT, by index (hosts[0] is h1). */
  readonly hosts: readonly Host[];
  /** Starts `qim ARGS...` in `where` (piped stdio: `qim chat` runs in line mode). */
  spawnQim(where: Place, args: readonly string[], options?: Omit<StartOptions, 'netns'>): QimProcess;
  /**
   * Starts `qim server --port 0 --log json ARGS...` on {@link server} (or `where`) and waits for its
   * `started` line; `--port` or `--log` in ARGS replace those defaults (a restart on the same port:
   * `startServer(['--port', String(first.port), '--data', dir])`). Later {@link startChat} calls log
   * in to the last one started.
   */
  startServer(args?: readonly string[], where?: Machine): Promise<ServerProcess>;
  /** Starts `qim chat --server <last server> --name NAME ARGS...` in `where` (line mode, JSON events); `--server` in ARGS replaces the default. */
  startChat(where: Place, name: string, args?: readonly string[]): QimProcess;
  /** A plain UDP agent in `where` (udp.ts). */
  udpAgent(where: Place): Promise<UdpAgent>;
  /** Captures in `where` on its interface (or `iface`) with a tcpdump filter (default `udp`). */
  capture(where: Place, options?: { iface?: string; filter?: string }): Promise<NetCapture>;
  /** Kills every process in its namespaces and deletes them. Idempotent. */
  destroy(): Promise<void>;
}

const live = new Map<string, () => void>();
let sequence = 0;
let swept = false;
let exitHookInstalled = false;

/**
 * Builds a test internet: the switch, the server, `publicHosts` more public hosts, and one NAT
 * router per `nats` entry with its hosts behind it. Throws at once, saying why, without root.
 */
export async function buildInternet(spec: InternetSpec = {}): Promise<Internet> {
  requireNetAdmin();
  if (!swept) {
    swept = true;
    removeLeftovers();
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort when a test process exits without afterAll: kill what runs inside and delete.
    process.once('exit', () => {
      for (const destroySync of live.values()) destroySync();
    });
  }
  const publicCount = spec.publicHosts ?? 0;
  if (publicCount > 8) throw new Error('at most 8 public hosts besides the server');
  const natSpecs = spec.nats ?? [];
  if (natSpecs.length > 89) throw new Error('at most 89 NATs');
  const id = `${NS_PREFIX}${process.pid}-${++sequence}`;
  const created: string[] = [];
  const destroySync = (): void => {
    for (const ns of created) killProcessesIn(ns);
    for (const ns of created) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  live.set(id, destroySync);
  try {
    return await build(id, created, publicCount, natSpecs, destroySync);
  } catch (err) {
    destroySync();
    live.delete(id);
    throw err;
  }
}

/** Destroys every internet this process built and has not destroyed yet. */
export async function destroyAllInternets(): Promise<void> {
  for (const [id, destroySync] of [...live]) {
    destroySync();
    live.delete(id);
  }
}

/**
 * For a test file: builds the internet in `beforeAll`, ends every qim process after each test, and
 * destroys the internet in `afterAll`; the returned function gives it to the tests.
 */
export function useInternet(spec: InternetSpec = {}): () => Internet {
  let net: Internet | undefined;
  beforeAll(async () => {
    net = await buildInternet(spec);
  });
  // Every qim process a test started in it ends with the test.
  afterEach(async () => {
    await killAllQim();
  });
  afterAll(async () => {
    await net?.destroy();
  });
  return () => {
    if (net === undefined) throw new Error('the test internet is not built (did beforeAll fail?)');
    return net;
  };
}

async function build(id: string, created: string[], publicCount: number, natSpecs: readonly NatSpec[], destroySync: () => void): Promise<Internet> {
  const addNs = async (role: string, forward = false): Promise<string> => {
    const ns = `${id}-${role}`;
    await run('ip', ['netns', 'add', ns]);
    created.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await nsSysctl(ns, {
      'net.ipv6.conf.all.disable_ipv6': 1,
      'net.ipv6.conf.default.disable_ipv6': 1,
      'net.ipv4.ip_forward': forward ? 1 : 0,
    });
    return ns;
  };
  const ipIn = (ns: string, ...args: string[]): Promise<string> => run('ip', ['-n', ns, ...args]);
  const exec = (ns: string) => (cmd: string, args: readonly string[], options?: RunOptions) => nsRun(ns, cmd, args, options);

  const inetNs = await addNs('inet');
  await ipIn(inetNs, 'link', 'add', 'br0', 'type', 'bridge');
  await ipIn(inetNs, 'link', 'set', 'br0', 'up');
  /** Plugs `ns` into the internet's switch as `ifname` with `address`/24. */
  const plug = async (role: string, ns: string, ifname: string, address: string): Promise<void> => {
    await ipIn(inetNs, 'link', 'add', `v-${role}`, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns);
    await ipIn(inetNs, 'link', 'set', `v-${role}`, 'master', 'br0', 'up');
    await ipIn(ns, 'addr', 'add', `${address}/24`, 'dev', ifname);
    await ipIn(ns, 'link', 'set', ifname, 'up');
  };
  const publicHost = async (role: string, address: string): Promise<PublicHost> => {
    const ns = await addNs(role);
    await plug(role, ns, 'eth0', address);
    return { label: role, ns, iface: 'eth0', address, exec: exec(ns) };
  };

  const server = await publicHost('server', SERVER_ADDRESS);
  const publicHosts: PublicHost[] = [];
  for (let i = 1; i <= publicCount; i++) publicHosts.push(await publicHost(`pub${i}`, `10.99.0.${1 + i}`));

  const nats: NatImpl[] = [];
  const hosts: HostImpl[] = [];
  for (const [i, natSpec] of natSpecs.entries()) {
    const index = i + 1;
    const label = `nat${index}`;
    const ns = await addNs(label, true);
    await plug(label, ns, 'wan', `10.99.0.${10 + index}`);
    await ipIn(ns, 'link', 'add', 'lan', 'type', 'bridge');
    await ipIn(ns, 'addr', 'add', `192.168.${index}.1/24`, 'dev', 'lan');
    await ipIn(ns, 'link', 'set', 'lan', 'up');
    const nat = new NatImpl(label, ns, `10.99.0.${10 + index}`, index, natSpec.kind);
    await nat.setKind(natSpec.kind);
    if (natSpec.bindingTimeoutSeconds !== undefined) {
      await nsSysctl(ns, {
        'net.netfilter.nf_conntrack_udp_timeout': natSpec.bindingTimeoutSeconds,
        'net.netfilter.nf_conntrack_udp_timeout_stream': natSpec.bindingTimeoutSeconds,
      });
    }
    nats.push(nat);
    for (let j = 0; j < (natSpec.hosts ?? 1); j++) {
      const hostIndex = hosts.length + 1;
      const hostLabel = `h${hostIndex}`;
      const hostNs = await addNs(hostLabel);
      const host = new HostImpl(hostLabel, hostNs, hostIndex, nat);
      await host.attach(nat);
      hosts.push(host);
    }
  }

  const spawned = new Set<QimProcess>();
  let lastServer: string | undefined;
  let destroyed = false;
  const net: Internet = {
    id,
    inet: { label: 'inet', ns: inetNs, iface: 'br0' },
    server,
    publicHosts,
    nats,
    hosts,
    spawnQim(where, args, options = {}) {
      if (destroyed) throw new Error('this test internet was destroyed');
      const p = startQim(args, { ...options, netns: where.ns });
      spawned.add(p);
      void p.exited.then(() => spawned.delete(p));
      return p;
    },
    async startServer(args = [], where = server) {
      const defaults = [...(args.includes('--port') ? [] : ['--port', '0']), ...(args.includes('--log') ? [] : ['--log', 'json'])];
      const process = net.spawnQim(where, ['server', ...defaults, ...args]);
      const started = await process.waitForJson(isEvent('started'), 20_000);
      const port = portOf(started.udp);
      lastServer = `${where.address}:${port}`;
      return { process, port, endpoint: lastServer };
    },
    startChat(where, name, args = []) {
      if (args.includes('--server')) return net.spawnQim(where, ['chat', '--name', name, ...args]);
      if (lastServer === undefined) throw new Error('start a server first (startServer), or pass --server');
      return net.spawnQim(where, ['chat', '--server', lastServer, '--name', name, ...args]);
    },
    async udpAgent(where) {
      const agent = await startUdpAgent(where.ns);
      spawned.add(agent.process);
      return agent;
    },
    capture(where, options = {}) {
      return startCapture(where.ns, options.iface ?? where.iface, options.filter ?? 'udp');
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      const running = [...spawned];
      for (const p of running) p.kill('SIGKILL');
      await Promise.all(running.map((p) => p.exited));
      destroySync();
      live.delete(id);
    },
  };
  return net;
}

function nftRuleset(kind: NatKind): string {
  const mode = kind === 'symmetric' ? ' random' : '';
  return `
table ip qim_nat {
  counter unsolicited {}
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" meta l4proto { tcp, udp } masquerade to :${NAT_PORTS.min}-${NAT_PORTS.max}${mode}
    oifname "wan" masquerade${mode}
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    iifname "wan" counter name "unsolicited" drop
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" counter name "unsolicited" drop
  }
}
`;
}

class NatImpl implements NatRouter {
  readonly iface = 'wan';
  readonly hosts: HostImpl[] = [];
  readonly gateway: string;
  #kind: NatKind;
  #nextOctet = 2;
  #tableExists = false;

  constructor(
    readonly label: string,
    readonly ns: string,
    readonly address: string,
    readonly index: number,
    kind: NatKind,
  ) {
    this.gateway = `192.168.${index}.1`;
    this.#kind = kind;
  }

  get kind(): NatKind {
    return this.#kind;
  }

  exec(cmd: string, args: readonly string[], options?: RunOptions): Promise<string> {
    return nsRun(this.ns, cmd, args, options);
  }

  /** A fresh LAN address for a host joining this NAT. */
  allocate(): string {
    if (this.#nextOctet > 254) throw new Error(`no address left on ${this.label}'s LAN`);
    return `192.168.${this.index}.${this.#nextOctet++}`;
  }

  async setKind(kind: NatKind): Promise<void> {
    // One nft transaction: the old table goes and the new one comes at once.
    const input = `${this.#tableExists ? 'delete table ip qim_nat\n' : ''}${nftRuleset(kind)}`;
    await this.exec('nft', ['-f', '-'], { input });
    this.#tableExists = true;
    this.#kind = kind;
  }

  async bindings(): Promise<NatBinding[]> {
    const out = await this.exec('conntrack', ['-L', '-p', 'udp']);
    const result: NatBinding[] = [];
    for (const line of out.split('\n')) {
      const timeout = /^udp\s+\d+\s+(\d+)\s/.exec(line)?.[1];
      const kv = [...line.matchAll(/(src|dst|sport|dport)=(\S+)/g)].map((m) => m[2] ?? '');
      if (timeout === undefined || kv.length < 8) continue;
      const [src, dst, sport, dport, , rdst, , rdport] = kv;
      // Only mapped connections: from our LAN, answered to our WAN address.
      if (src === undefined || !src.startsWith(`192.168.${this.index}.`) || rdst !== this.address) continue;
      result.push({
        private: `${src}:${sport}`,
        remote: `${dst}:${dport}`,
        public: `${rdst}:${rdport}`,
        replied: !line.includes('[UNREPLIED]'),
        expiresIn: Number(timeout),
      });
    }
    return result;
  }

  async expireBindings(host?: Host): Promise<void> {
    // conntrack exits 1 when there was nothing to delete.
    if (host === undefined) await this.exec('conntrack', ['-D', '-p', 'udp'], { okCodes: [1] });
    else await this.exec('conntrack', ['-D', '-p', 'udp', '-s', host.address], { okCodes: [1] });
  }

  async droppedInbound(): Promise<number> {
    const out = await this.exec('nft', ['list', 'counter', 'ip', 'qim_nat', 'unsolicited']);
    return Number(/packets (\d+)/.exec(out)?.[1] ?? Number.NaN);
  }
}

class HostImpl implements Host {
  readonly iface = 'eth0';
  #nat: NatImpl;
  #address = '';
  #link = 0;

  constructor(
    readonly label: string,
    readonly ns: string,
    readonly index: number,
    nat: NatImpl,
  ) {
    this.#nat = nat;
  }

  get nat(): NatRouter {
    return this.#nat;
  }

  get address(): string {
    return this.#address;
  }

  exec(cmd: string, args: readonly string[], options?: RunOptions): Promise<string> {
    return nsRun(this.ns, cmd, args, options);
  }

  /** Connects this host to `nat`'s LAN with a new veth and a fresh address, default route via it. */
  async attach(nat: NatImpl): Promise<void> {
    const address = nat.allocate();
    // A new name on every attach: the old veth may still be going away in the router.
    const peer = `v-${this.label}-${++this.#link}`.slice(0, 15);
    await run('ip', ['-n', nat.ns, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns]);
    await run('ip', ['-n', nat.ns, 'link', 'set', peer, 'master', 'lan', 'up']);
    await run('ip', ['-n', this.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', this.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', this.ns, 'route', 'replace', 'default', 'via', nat.gateway]);
    this.#nat = nat;
    this.#address = address;
    if (!nat.hosts.includes(this)) nat.hosts.push(this);
  }

  async changeAddress(options: { nat?: NatRouter } = {}): Promise<string> {
    const target = options.nat ?? this.#nat;
    if (!(target instanceof NatImpl)) throw new Error('changeAddress: not a NAT of this internet');
    if (target === this.#nat) {
      const address = target.allocate();
      await run('ip', ['-n', this.ns, 'addr', 'flush', 'dev', 'eth0']);
      await run('ip', ['-n', this.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', this.ns, 'route', 'replace', 'default', 'via', target.gateway]);
      this.#address = address;
      return address;
    }
    const old = this.#nat;
    await run('ip', ['-n', this.ns, 'link', 'del', 'eth0']);
    old.hosts.splice(old.hosts.indexOf(this), 1);
    await this.attach(target);
    return this.#address;
  }

  async setLink(up: boolean): Promise<void> {
    await run('ip', ['-n', this.ns, 'link', 'set', 'eth0', up ? 'up' : 'down']);
    if (up) await run('ip', ['-n', this.ns, 'route', 'replace', 'default', 'via', this.#nat.gateway]);
  }
}

const tempDirs: string[] = [];

/** A temporary folder removed when the process exits (e.g. `--data` of a server that restarts). */
export function tempDir(prefix = 'qim-net-'): string {
  if (tempDirs.length === 0) process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
