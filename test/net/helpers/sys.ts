/**
 * Network-test plumbing: running system commands (`ip`, `nft`, `conntrack`, `sysctl`, `tcpdump`),
 * in a namespace or not; checking that this process may build namespaces; and removing the
 * namespaces that earlier runs left behind. Names of our namespaces start with `qn<pid>-`, the pid
 * of the test process that made them, so a sweep removes only those whose process is gone and
 * never another run's that is still going.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Prefix of every namespace the network tests make: `qn<pid>-<n>-<role>`. */
export const NS_PREFIX = 'qn';
const OWNED = /^qn(\d+)-\d+-/;

export interface RunOptions {
  /** Written to the command's standard input. */
  readonly input?: string;
  /** Exit codes that count as success besides 0. */
  readonly okCodes?: readonly number[];
}

/** Runs `cmd args...`; resolves with its stdout; rejects with the command, its exit code and stderr. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdin.on('error', () => {});
    child.once('error', (e) => reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0 || (code !== null && options.okCodes?.includes(code) === true)) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${String(code)}: ${err.trim() || out.trim()}`));
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `cmd args...` inside network namespace `ns` (`ip netns exec`). */
export function nsRun(ns: string, cmd: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], options);
}

/** Sets sysctl keys inside `ns` (`sysctl -qw key=value ...`). */
export async function nsSysctl(ns: string, values: Readonly<Record<string, string | number>>): Promise<void> {
  await nsRun(ns, 'sysctl', ['-qw', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
}

function hasCommand(cmd: string, args: readonly string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined;
}

let checked: string | null | undefined;

/**
 * Throws, saying why, unless this process can build the test internet: root, `ip` (iproute2),
 * `nft` (nftables), `conntrack`, `sysctl` (procps) and `tcpdump`, and a namespace can really be added.
 */
export function requireNetAdmin(): void {
  if (checked === undefined) checked = whyNot();
  if (checked !== null) throw new Error(checked);
}

function whyNot(): string | null {
  if (process.platform !== 'linux') return 'the network tests (npm run test:net) need Linux network namespaces';
  if (process.getuid?.() !== 0) {
    return 'the network tests (npm run test:net) need root: they build NATs from network namespaces (ip netns) and nftables (nft). Run them as root, or run `npm test` for everything else';
  }
  const missing: string[] = [];
  if (!hasCommand('ip', ['-V'])) missing.push('iproute2 (ip)');
  if (!hasCommand('nft', ['--version'])) missing.push('nftables (nft)');
  if (!hasCommand('conntrack', ['--version'])) missing.push('conntrack');
  if (!hasCommand('sysctl', ['--version'])) missing.push('procps (sysctl)');
  if (!hasCommand('tcpdump', ['--version'])) missing.push('tcpdump');
  if (missing.length > 0) {
    const pkgs = missing.map((m) => m.split(' ')[0]).join(' ');
    return `the network tests (npm run test:net) need ${missing.join(', ')}: apt-get install ${pkgs} (.ci/run installs them)`;
  }
  const probe = `${NS_PREFIX}${process.pid}-0-probe`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return `the network tests cannot add a network namespace (ip netns add): ${added.stderr.trim()}`;
  const nft = spawnSync('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  if (nft.status !== 0) return `nftables does not work in a network namespace here: ${nft.stderr.trim()}`;
  return null;
}

/** Every network namespace on the machine (`ip netns list`). */
export function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

function isLiveNode(pid: number): boolean {
  if (pid === process.pid) return true;
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return false;
  try {
    return readFileSync(cmdline, 'utf8').includes('node');
  } catch {
    return false;
  }
}

/**
 * Deletes the namespaces of earlier test runs whose process is gone (a killed worker skips its
 * exit hook). Returns the names removed.
 */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = OWNED.exec(ns);
    if (m?.[1] === undefined || isLiveNode(Number(m[1]))) continue;
    killProcessesIn(ns);
    if (spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }).status === 0) removed.push(ns);
  }
  return removed;
}

/** SIGKILLs every process still running inside `ns` (a namespace outlives its file while one does). */
export function killProcessesIn(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return;
  for (const pid of r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
