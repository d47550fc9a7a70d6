/**
 * `npm run bench`: runs the benchmark scenarios (docs: README "Performance"), each with qim and a
 * baseline side by side, prints tables, and writes bench/results/latest.json and the login storm's
 * convergence charts (SVG) to bench/results/.
 *
 *   npm run bench -- [--scenario login-storm,churn,peer,list-fetch,cluster] [--quick]
 *                    [--n 1000,5000,20000] [--impl qim,qim-classic,naive] [--deadline SECONDS]
 *                    [--observers 1000] [--rates 10,20,50,...] [--online 10000] [--instances 1,2,3]
 *                    [--ramp LOGINS_PER_SECOND] [--steady SECONDS] [--losses 0,5,20] [--pings 6000] [--warmup 10000]
 *                    [--out DIR] [--cpu-prof]
 *
 * --quick runs every scenario small (a minute or two); --ramp logs the storm's users in at that
 * rate instead of all at once (the capacity run); --steady keeps everyone online that long after
 * the storm and reports who stayed and what it cost; --pings is the peer scenario's measured round
 * trips at 0% loss (2,000 at most through loss), after --warmup unmeasured ones for both qim and
 * raw UDP (200 at most through loss); --cpu-prof leaves a V8 profile of each server process in the
 * output folder (summarise it with bench/profile-summary.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, loadText } from './lib/system.js';
import { convergenceSvg } from './lib/svg.js';
import { runStorm, steadyTable, stormTable, STORM_IMPLS, type StormImpl, type StormRun } from './scenarios/login-storm.js';
import { churnTable, runChurn, type ChurnRun } from './scenarios/churn.js';
import { peerTable, runPeer } from './scenarios/peer.js';
import { fetchTable, FETCH_MODES, runListFetch } from './scenarios/list-fetch.js';
import { runCluster } from './scenarios/cluster.js';

const SCENARIOS = ['login-storm', 'churn', 'peer', 'list-fetch', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

function list(text: string | undefined): string[] | undefined {
  return text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function pick<T extends string>(values: readonly string[] | undefined, allowed: readonly T[], what: string): T[] {
  if (values === undefined) return [...allowed];
  for (const v of values) if (!allowed.includes(v as T)) throw new Error(`unknown ${what} ${v}; one of ${allowed.join(', ')}`);
  return values as T[];
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    n: { type: 'string' },
    impl: { type: 'string' },
    quick: { type: 'boolean', default: false },
    deadline: { type: 'string' },
    out: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    observers: { type: 'string' },
    rates: { type: 'string' },
    online: { type: 'string' },
    instances: { type: 'string' },
    ramp: { type: 'string' },
    steady: { type: 'string' },
    losses: { type: 'string' },
    pings: { type: 'string' },
    warmup: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(`${(await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]}*/\n`);
  process.exit(0);
}

const quick = values.quick;
const scenarios = pick(list(values.scenario), SCENARIOS, 'scenario');
const outDir = values.out ?? fileURLToPath(new URL('./results', import.meta.url));
mkdirSync(outDir, { recursive: true });
const started = new Date();
const report: Record<string, unknown> = { started: started.toISOString(), machine: machineInfo(), argv: process.argv.slice(2) };

function save(): void {
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, (_, v: unknown) => (ArrayBuffer.isView(v) ? undefined : v), 2)}\n`);
}

process.stdout.write(`qim benchmarks — ${machineInfo().cpus} CPUs (${machineInfo().cpuModel}), node ${process.version}, ${loadText()}\n\n`);

for (const scenario of scenarios as Scenario[]) {
  if (scenario === 'login-storm') {
    const ns = (list(values.n) ?? (quick ? ['1000'] : ['1000', '5000', '20000'])).map(Number);
    const impls = pick<StormImpl>(list(values.impl), STORM_IMPLS, 'implementation');
    const runs: StormRun[] = [];
    const steadyMs = Number(values.steady ?? 0) * 1000;
    if (!(steadyMs >= 0)) throw new Error('--steady takes a number of seconds');
    for (const n of ns) {
      const deadlineMs = values.deadline !== undefined ? Number(values.deadline) * 1000 : quick ? 30_000 : n <= 1000 ? 60_000 : 120_000;
      for (const impl of impls) {
        const ramp = values.ramp !== undefined ? { rampPerSecond: Number(values.ramp) } : {};
        const run = await runStorm({ impl, n, deadlineMs, ...ramp, ...(steadyMs > 0 ? { steadyMs } : {}), ...(values['cpu-prof'] ? { serverFlags: [`--cpu-prof`, `--cpu-prof-dir=${outDir}`] } : {}) });
        runs.push(run);
        report['login-storm'] = runs.map(({ completeAt: _c, ...rest }) => rest);
        save();
      }
      const curves = runs.filter((r) => r.n === n).map((r) => ({ label: r.impl, completeAt: r.completeAt, total: r.n }));
      writeFileSync(join(outDir, `login-storm-${n}.svg`), convergenceSvg(`Login storm: ${n.toLocaleString('en-US')} users at once`, curves, deadlineMs));
    }
    process.stdout.write(`Login storm (time until every user's list is complete; charts in ${outDir}/login-storm-N.svg)\n${stormTable(runs)}\n\n`);
    if (steadyMs > 0) process.stdout.write(`After the storm, everyone online for ${values.steady} s (heartbeats only)\n${steadyTable(runs)}\n\n`);
  } else if (scenario === 'churn') {
    const observers = Number(values.observers ?? (quick ? 200 : 1000));
    const rates = (list(values.rates) ?? (quick ? ['20', '100'] : ['10', '20', '50', '100', '200', '500', '1000', '2000'])).map(Number);
    const runs: ChurnRun[] = [];
    for (const impl of pick<StormImpl>(list(values.impl), STORM_IMPLS, 'implementation')) {
      runs.push(await runChurn({ impl, observers, rates, stepMs: quick ? 3000 : 5000, holdMs: 1000 }));
      report.churn = runs;
      save();
    }
    process.stdout.write(`Presence churn (time from a login until every online user has it)\n${churnTable(runs)}\n\n`);
  } else if (scenario === 'peer') {
    const losses = (list(values.losses) ?? ['0', '5', '20']).map((l) => Number(l) / 100);
    if (losses.some((l) => !(l >= 0 && l < 1))) throw new Error('--losses takes percentages from 0 to 99');
    const pings = Number(values.pings ?? (quick ? 300 : 6000));
    if (!Number.isInteger(pings) || pings < 100) throw new Error('--pings takes a whole number of round trips, 100 or more');
    const warmup = Number(values.warmup ?? (quick ? 100 : 10_000));
    if (!Number.isInteger(warmup) || warmup < 0) throw new Error('--warmup takes a whole number of round trips, 0 or more');
    const runs = await runPeer({ losses, pings, warmup, throughputMs: quick ? 2000 : 5000, window: 256 });
    report.peer = runs;
    save();
    process.stdout.write(`Peer messaging (round trip of one message and its echo; throughput with 256 unacknowledged)\n${peerTable(runs)}\n\n`);
  } else if (scenario === 'list-fetch') {
    const online = Number(values.online ?? 10_000);
    const runs = await runListFetch({ online, fetchers: 4, durationMs: quick ? 3000 : 10_000, modes: FETCH_MODES });
    report['list-fetch'] = runs;
    save();
    process.stdout.write(`List fetch (whole list, ${online.toLocaleString('en-US')} online, 4 fetchers at once)\n${fetchTable(runs)}\n\n`);
  } else {
    const n = Number(list(values.n)?.[0] ?? (quick ? 500 : 1000));
    const instances = (list(values.instances) ?? ['1', '2', '3']).map(Number);
    const deadlineMs = values.deadline !== undefined ? Number(values.deadline) * 1000 : 60_000;
    const runs = await runCluster({ n, instances, deadlineMs });
    report.cluster = runs.map(({ completeAt: _c, ...rest }) => rest);
    save();
    writeFileSync(join(outDir, `cluster-${n}.svg`), convergenceSvg(`Login storm over Redis: ${n.toLocaleString('en-US')} users`, runs.map((r) => ({ label: `${r.instances} instance${r.instances > 1 ? 's' : ''}`, completeAt: r.completeAt, total: r.n })), deadlineMs));
    process.stdout.write(`Cluster (login storm over instances sharing Redis)\n${stormTable(runs.map((r) => ({ ...r, impl: `qim ×${r.instances}` as StormImpl })))}\n\n`);
  }
}
save();
process.stdout.write(`results: ${join(outDir, 'latest.json')}\n`);
