/**
 * The login storm's convergence chart, as hand-written SVG: for each implementation, the fraction
 * of users whose list is complete over time since the storm began. Time runs on a logarithmic
 * axis, since implementations differ by orders of magnitude.
 */

/** One curve: completion times in ms (NaN: never complete) out of `total` users. */
export interface Curve {
  readonly label: string;
  readonly completeAt: ArrayLike<number>;
  readonly total: number;
}

const W = 720;
const H = 420;
const M = { left: 64, right: 24, top: 48, bottom: 56 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG document for `curves`, titled `title`; `endMs` is where the time axis ends (the deadline). */
export function convergenceSvg(title: string, curves: readonly Curve[], endMs: number): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const c of curves) {
    for (let i = 0; i < c.completeAt.length; i++) {
      const v = c.completeAt[i] as number;
      if (Number.isFinite(v)) {
        first = Math.min(first, v);
        last = Math.max(last, v);
      }
    }
  }
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1, Number.isFinite(first) ? first : 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(lo * 10, last, endMs))));
  const x = (ms: number): number => M.left + (Math.log10(Math.min(hi, Math.max(lo, ms)) / lo) / Math.log10(hi / lo)) * plotW;
  const y = (f: number): number => M.top + (1 - f) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`);
  // Grid and axes.
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    const gx = x(t).toFixed(1);
    out.push(`<line x1="${gx}" y1="${M.top}" x2="${gx}" y2="${M.top + plotH}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${gx}" y="${M.top + plotH + 18}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  for (let f = 0; f <= 1.0001; f += 0.25) {
    const gy = y(f).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${gy}" x2="${M.left + plotW}" y2="${gy}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${M.left - 8}" y="${gy}" text-anchor="end" dominant-baseline="middle">${Math.round(f * 100)}%</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">time since the storm began (log scale)</text>`);
  out.push(`<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">users with a complete list</text>`);
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const times = Array.from({ length: c.completeAt.length }, (_, k) => c.completeAt[k] as number)
      .filter((v) => Number.isFinite(v))
      .sort((a, b) => a - b);
    const points: string[] = [`${x(lo).toFixed(1)},${y(0).toFixed(1)}`];
    times.forEach((t, k) => {
      points.push(`${x(t).toFixed(1)},${y(k / c.total).toFixed(1)}`, `${x(t).toFixed(1)},${y((k + 1) / c.total).toFixed(1)}`);
    });
    const reached = times.length / c.total;
    points.push(`${x(hi).toFixed(1)},${y(reached).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${simplify(points).join(' ')}"/>`);
    const ly = M.top + 16 + i * 18;
    out.push(`<line x1="${M.left + 12}" y1="${ly}" x2="${M.left + 36}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${M.left + 42}" y="${ly}" dominant-baseline="middle">${escapeXml(`${c.label} (${Math.round(reached * 1000) / 10}%)`)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function tickLabel(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

/** Drops points that repeat the one before (many users complete within the same pixel). */
function simplify(points: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of points) if (out.at(-1) !== p) out.push(p);
  return out;
}
