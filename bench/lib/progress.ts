/**
 * Progress bars for long runs: cli-progress on a terminal; in CI and logs (no TTY) one plain line
 * every few seconds instead, so logs stay readable.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, label?: string): void;
  stop(): void;
}

/** A progress bar from 0 to `total` titled `title`. */
export function progress(title: string, total: number): Progress {
  if (process.stderr.isTTY === true && process.env.CI === undefined) {
    const bar = new cliProgress.SingleBar(
      { format: `${title.padEnd(34)} [{bar}] {percentage}% | {value}/{total} | {label}`, hideCursor: true, stream: process.stderr, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: '' });
    return {
      update: (value, label = '') => bar.update(value, { label }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let lastValue = -1;
  return {
    update(value, label = '') {
      const now = Date.now();
      if (now - last < 5000 || value === lastValue) return;
      last = now;
      lastValue = value;
      process.stderr.write(`  ${title}: ${value}/${total}${label ? ` (${label})` : ''}\n`);
    },
    stop() {},
  };
}
