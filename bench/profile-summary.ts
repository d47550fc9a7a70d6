/**
 * Summarises a V8 CPU profile (`npm run bench -- --cpu-prof` leaves one per server process in
 * bench/results/): the functions with the most self time, and the heaviest by total time, with
 * their source location, so a hot spot can be named with its measured cost.
 *
 *   npx tsx bench/profile-summary.ts bench/results/CPU.*.cpuprofile [--top 25]
 *                                    [--from SECONDS] [--to SECONDS] [--slices MS]
 *
 * --from and --to keep a window of the profile (seconds from its first sample); --slices then also
 * prints, slice by slice, how long the thread worked and in what: a storm's phases (logins, the
 * lull before the settle, the lists) show as runs of slices.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' }, slices: { type: 'string' } },
});
const top = Number(values.top);
// A window of the profile (seconds from its start), and slices of it (ms): where a storm's phases are.
const fromUs = Number(values.from ?? 0) * 1e6;
const toUs = values.to === undefined ? Number.POSITIVE_INFINITY : Number(values.to) * 1e6;
const sliceUs = values.slices === undefined ? 0 : Number(values.slices) * 1000;
if (!(fromUs >= 0 && toUs > fromUs && sliceUs >= 0)) {
  process.stderr.write('profile-summary: --from and --to take seconds (from before to), --slices milliseconds\n');
  process.exit(2);
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode): string => {
    const url = n.callFrame.url.replace(/^.*?\/(src|bench|node_modules)\//, '$1/');
    return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
  };
  // Each sample's node and time within the window, by the offset from the profile's first sample.
  const self = new Map<number, number>();
  const slices = new Map<number, Map<string, number>>();
  let at = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    at += us;
    if (at < fromUs || at >= toUs) return;
    self.set(id, (self.get(id) ?? 0) + us);
    if (sliceUs > 0) {
      const slice = Math.floor((at - fromUs) / sliceUs);
      let m = slices.get(slice);
      if (m === undefined) slices.set(slice, (m = new Map()));
      const k = (byId.get(id) as ProfileNode).callFrame.functionName || '(anonymous)';
      m.set(k, (m.get(k) ?? 0) + us);
    }
  });
  const selfBy = new Map<string, number>();
  const totalBy = new Map<string, number>();
  let all = 0;
  for (const [id, us] of self) {
    all += us;
    const n = byId.get(id);
    if (n === undefined) continue;
    selfBy.set(key(n), (selfBy.get(key(n)) ?? 0) + us);
    // Total time: each distinct function on the stack once.
    const seen = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const k = key(byId.get(up) as ProfileNode);
      if (seen.has(k)) continue;
      seen.add(k);
      totalBy.set(k, (totalBy.get(k) ?? 0) + us);
    }
  }
  const show = (title: string, m: Map<string, number>): void => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / all).toFixed(1).padStart(5)}%  ${k}\n`);
    }
  };
  const window = values.from !== undefined || values.to !== undefined ? ` from ${fromUs / 1e6} s to ${Number.isFinite(toUs) ? `${toUs / 1e6} s` : 'the end'}` : '';
  process.stdout.write(`${file}: ${(all / 1000).toFixed(0)} ms sampled${window}\n`);
  show('self time:', selfBy);
  show('total time:', totalBy);
  if (sliceUs > 0) {
    // Per slice: how much of it the thread worked (not idle), and the functions it worked in most.
    process.stdout.write(`busy per ${sliceUs / 1000} ms slice (the five heaviest functions by self time):\n`);
    for (const [slice, m] of [...slices].sort((a, b) => a[0] - b[0])) {
      const idle = m.get('(idle)') ?? 0;
      const sampled = [...m.values()].reduce((a, b) => a + b, 0);
      const heavy = [...m].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 5);
      const start = (fromUs + slice * sliceUs) / 1e6;
      process.stdout.write(`${start.toFixed(2).padStart(8)} s ${((sampled - idle) / 1000).toFixed(0).padStart(5)} ms busy  ${heavy.map(([k, us]) => `${k} ${(us / 1000).toFixed(0)}`).join(', ')}\n`);
    }
  }
}
