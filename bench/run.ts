/**
 * `npm run bench`: runs the benchmark scenarios (docs: README "Performance"), each with qim and a
 * baseline side by side, prints tables, and writes bench/results/latest.json and the login storm's
 * convergence charts (SVG) to bench/results/.
 *
 *   npm run bench -- [--scenario login-storm,churn,peer,list-fetch,cluster] [--n 1000,5000,20000]
 *                    [--impl qim,qim-classic,naive] [--quick] [--deadline SECONDS] [--out DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, loadText } from './lib/system.js';
import { convergenceSvg } from './lib/svg.js';
import { runStorm, stormTable, STORM_IMPLS, type StormImpl, type StormRun } from './scenarios/login-storm.js';

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
    for (const n of ns) {
      const deadlineMs = values.deadline !== undefined ? Number(values.deadline) * 1000 : quick ? 30_000 : n <= 1000 ? 60_000 : 120_000;
      for (const impl of impls) {
        const run = await runStorm({ impl, n, deadlineMs, ...(values['cpu-prof'] ? { serverFlags: [`--cpu-prof`, `--cpu-prof-dir=${outDir}`] } : {}) });
        runs.push(run);
        report['login-storm'] = runs.map(({ completeAt: _c, ...rest }) => rest);
        save();
      }
      const curves = runs.filter((r) => r.n === n).map((r) => ({ label: r.impl, completeAt: r.completeAt, total: r.n }));
      writeFileSync(join(outDir, `login-storm-${n}.svg`), convergenceSvg(`Login storm: ${n.toLocaleString('en-US')} users at once`, curves, deadlineMs));
    }
    process.stdout.write(`Login storm (time until every user's list is complete; charts in ${outDir}/login-storm-N.svg)\n${stormTable(runs)}\n\n`);
  } else {
    process.stdout.write(`${scenario}: not implemented yet\n\n`);
  }
}
save();
process.stdout.write(`results: ${join(outDir, 'latest.json')}\n`);
