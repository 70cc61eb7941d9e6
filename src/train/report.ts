/**
 * `report.html` for a training run: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)
 * with line charts of the loss (raw and smoothed), learning rate, gradient norm and held-out nDCG@10 / MRR@10,
 * then a summary table and the evaluation table. Non-finite values (a skipped NaN step) break the line and
 * are marked along the top of their chart rather than dropped silently.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';

/** Values may be non-finite, or null (what JSON makes of NaN): such a point is not drawn but marked. */
export interface StepLog {
  step: number;
  loss: number | null;
  lr: number | null;
  grad_norm: number | null;
}

export interface EvalLog {
  step: number;
  ndcg10: number | null;
  mrr10: number | null;
}

export interface ReportData {
  title: string;
  steps: readonly StepLog[];
  evals: readonly EvalLog[];
  /** Rows of the summary table, in order (model, loss, hyperparameters, timings…). */
  summary?: Readonly<Record<string, string | number>>;
}

/** Writes `<dir>/report.html` atomically (a temp file, then rename); creates `dir`. Returns the path. */
export async function writeReport(dir: string, data: ReportData): Promise<string> {
  const html = renderReport(data);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'report.html');
  const tmp = join(dir, `.report.html.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, html);
  try {
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw cause;
  }
  return path;
}

/** The report page as a string (what `writeReport` writes). */
export function renderReport(data: ReportData): string {
  validate(data);
  const { steps, evals } = data;
  const x = (r: { step: number }) => r.step;
  const loss = steps.map((r) => ({ x: x(r), y: num(r.loss) }));
  const charts = [
    chart('Training loss', [
      { name: 'loss', points: loss, cls: 'raw' },
      { name: `smoothed (EMA ${smoothingWeight(loss.length).toFixed(2)})`, points: smooth(loss), cls: 's1' },
    ]),
    chart('Learning rate', [{ name: 'lr', points: steps.map((r) => ({ x: x(r), y: num(r.lr) })), cls: 's1' }]),
    chart('Gradient norm (before clipping)', [{ name: 'grad norm', points: steps.map((r) => ({ x: x(r), y: num(r.grad_norm) })), cls: 's1' }]),
    chart('Held-out evaluation', [
      { name: 'nDCG@10', points: evals.map((r) => ({ x: x(r), y: num(r.ndcg10) })), cls: 's1', dots: true },
      { name: 'MRR@10', points: evals.map((r) => ({ x: x(r), y: num(r.mrr10) })), cls: 's2', dots: true },
    ]),
  ];
  const rows: [string, string][] = Object.entries(data.summary ?? {}).map(([k, v]) => [k, typeof v === 'number' ? formatNumber(v) : v]);
  rows.push(['optimizer steps logged', String(steps.length)]);
  const finite = loss.filter((p) => Number.isFinite(p.y));
  if (finite.length > 0) rows.push(['final loss', `${formatNumber(finite[finite.length - 1].y)} (step ${finite[finite.length - 1].x})`]);
  if (finite.length < loss.length) rows.push(['non-finite losses', String(loss.length - finite.length)]);
  let best: { step: number; ndcg10: number } | undefined;
  for (const r of evals) if (Number.isFinite(num(r.ndcg10)) && (best === undefined || num(r.ndcg10) > best.ndcg10)) best = { step: r.step, ndcg10: num(r.ndcg10) };
  if (best) rows.push(['best nDCG@10', `${best.ndcg10.toFixed(4)} (step ${best.step})`]);

  const evalTable = evals.length === 0
    ? '<p class="empty">No evaluations were run.</p>'
    : `<table><thead><tr><th>step</th><th>nDCG@10</th><th>MRR@10</th></tr></thead><tbody>${evals
        .map((r) => `<tr><td>${r.step}</td><td>${fixed4(r.ndcg10)}</td><td>${fixed4(r.mrr10)}</td></tr>`)
        .join('')}</tbody></table>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>${esc(data.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin: 18px 0 4px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
svg { background: #fff; border: 1px solid #ddd; }
svg text { font-size: 11px; fill: #444; }
.grid { stroke: #eee; } .axis { stroke: #888; }
polyline { fill: none; stroke-width: 1.5; }
.raw { stroke: #9ecae1; stroke-width: 1; } .s1 { stroke: #08519c; } .s2 { stroke: #d94801; }
circle.s1 { fill: #08519c; } circle.s2 { fill: #d94801; }
circle { stroke: none; } .nonfinite { stroke: #c00; stroke-width: 2; } text.warn { fill: #c00; }
table { border-collapse: collapse; margin-top: 4px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
.empty { color: #888; }
</style>
</head>
<body>
<h1>${esc(data.title)}</h1>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Summary</h2>
<table><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>
<h2>Evaluations</h2>
${evalTable}
</body>
</html>
`;
}

function validate(data: ReportData): void {
  const bad = (why: string) => new InputError(`report: ${why}`, { code: 'BAD_REPORT' });
  if (typeof data?.title !== 'string') throw bad('title must be a string');
  for (const [name, rows, fields] of [
    ['steps', data.steps, ['loss', 'lr', 'grad_norm']],
    ['evals', data.evals, ['ndcg10', 'mrr10']],
  ] as const) {
    if (!Array.isArray(rows)) throw bad(`${name} must be an array`);
    rows.forEach((r: Record<string, unknown>, i) => {
      if (typeof r?.step !== 'number' || !Number.isFinite(r.step)) throw bad(`${name}[${i}].step must be a finite number`);
      // Values may be NaN/Infinity/null (a skipped step is worth showing) but not anything else.
      for (const f of fields) if (typeof r[f] !== 'number' && r[f] !== null) throw bad(`${name}[${i}].${f} must be a number or null`);
    });
  }
  for (const [k, v] of Object.entries(data.summary ?? {})) {
    if (typeof v !== 'string' && typeof v !== 'number') throw bad(`summary '${k}' must be a string or a number`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Charts

interface Point {
  x: number;
  y: number;
}

interface Series {
  name: string;
  points: Point[];
  cls: string;
  dots?: boolean;
}

const W = 560;
const H = 240;
const M = { left: 64, right: 14, top: 22, bottom: 38 };
/** Points per polyline at most: longer series are decimated (per-bucket min and max, which keeps spikes). */
export const MAX_POLYLINE_POINTS = 2000;

function chart(title: string, series: Series[]): string {
  const finite = series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.y)));
  const all = series.flatMap((s) => s.points);
  const head = `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`;
  const titleText = `<text x="${M.left}" y="14" font-weight="bold">${esc(title)}</text>`;
  if (finite.length === 0) {
    const why = all.length === 0 ? 'no data logged' : 'no finite values';
    return `${head}${titleText}<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">${why}</text></svg></figure>`;
  }
  const xs = ticks(Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x)), true);
  const ys = ticks(Math.min(...finite.map((p) => p.y)), Math.max(...finite.map((p) => p.y)));
  const px = (v: number) => M.left + ((v - xs.lo) / (xs.hi - xs.lo)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((v - ys.lo) / (ys.hi - ys.lo)) * (H - M.top - M.bottom);
  const x0 = M.left, x1 = W - M.right, y0 = H - M.bottom, y1 = M.top;
  const parts: string[] = [head, titleText];
  for (const t of ys.values) {
    const y = r1(py(t));
    parts.push(`<line class="grid" x1="${x0}" y1="${y}" x2="${x1}" y2="${y}"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${formatTick(t, ys.step)}</text>`);
  }
  for (const t of xs.values) {
    const x = r1(px(t));
    parts.push(`<line class="axis" x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 4}"/>`);
    parts.push(`<text x="${x}" y="${y0 + 16}" text-anchor="middle">${formatTick(t, xs.step)}</text>`);
  }
  parts.push(`<line class="axis" x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}"/><line class="axis" x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}"/>`);
  parts.push(`<text x="${(x0 + x1) / 2}" y="${H - 4}" text-anchor="middle">step</text>`);

  for (const s of series) {
    for (const segment of segments(s.points)) {
      const pts = decimate(segment, MAX_POLYLINE_POINTS);
      parts.push(`<polyline class="${s.cls}" points="${pts.map((p) => `${r1(px(p.x))},${r1(py(p.y))}`).join(' ')}"/>`);
      if (s.dots) for (const p of pts) parts.push(`<circle class="${s.cls}" cx="${r1(px(p.x))}" cy="${r1(py(p.y))}" r="2.5"/>`);
    }
  }
  // One mark per step with a non-finite value in any series.
  const bad = [...new Set(all.filter((p) => !Number.isFinite(p.y)).map((p) => p.x))];
  for (const step of bad) parts.push(`<line class="nonfinite" x1="${r1(px(step))}" y1="${y1}" x2="${r1(px(step))}" y2="${y1 + 6}"/>`);
  const nonFinite = bad.length;
  if (nonFinite > 0) parts.push(`<text class="warn" x="${x1}" y="14" text-anchor="end">non-finite at ${nonFinite} step${nonFinite > 1 ? 's' : ''}: not drawn (red marks)</text>`);
  if (series.length > 1) {
    series.forEach((s, i) => {
      const lx = x0 + 10 + i * 170;
      parts.push(`<line class="${s.cls}" x1="${lx}" y1="${y1 + 10}" x2="${lx + 18}" y2="${y1 + 10}" stroke-width="2"/><text x="${lx + 22}" y="${y1 + 14}">${esc(s.name)}</text>`);
    });
  }
  parts.push('</svg></figure>');
  return parts.join('');
}

/** Runs of consecutive finite points: a non-finite value breaks the line instead of bridging it. */
function segments(points: Point[]): Point[][] {
  const out: Point[][] = [];
  let cur: Point[] = [];
  for (const p of points) {
    if (Number.isFinite(p.y)) cur.push(p);
    else if (cur.length > 0) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** At most `max` points: the series split into max/2 buckets, each keeping its minimum and maximum in order. */
function decimate(points: Point[], max: number): Point[] {
  if (points.length <= max) return points;
  const buckets = Math.floor(max / 2);
  const out: Point[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * points.length) / buckets);
    const to = Math.floor(((b + 1) * points.length) / buckets);
    let lo = from, hi = from;
    for (let i = from; i < to; i++) {
      if (points[i].y < points[lo].y) lo = i;
      if (points[i].y > points[hi].y) hi = i;
    }
    out.push(points[Math.min(lo, hi)]);
    if (lo !== hi) out.push(points[Math.max(lo, hi)]);
  }
  return out;
}

/** Weight of the loss EMA: an effective window of about 1/20 of the run (none for very short runs). */
function smoothingWeight(n: number): number {
  return Math.min(0.99, Math.max(0, 1 - 20 / Math.max(n, 1)));
}

/** TensorBoard-style debiased exponential moving average; non-finite values are skipped (kept as gaps). */
function smooth(points: Point[]): Point[] {
  const w = smoothingWeight(points.length);
  let acc = 0;
  let n = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return p;
    acc = acc * w + (1 - w) * p.y;
    n++;
    return { x: p.x, y: w === 0 ? p.y : acc / (1 - w ** n) };
  });
}

/** "Nice" axis ticks (1, 2, 5 × 10^k) covering [lo, hi]; a zero-width range is widened. `integer`: no
 *  fractional ticks (steps). */
function ticks(lo: number, hi: number, integer = false): { lo: number; hi: number; step: number; values: number[] } {
  if (hi - lo <= Math.abs(hi) * 1e-12) {
    const pad = lo === 0 || integer ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(integer ? 1 : 0, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!);
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const values: number[] = [];
  for (let i = 0; start + i * step <= end + step * 1e-9; i++) values.push(start + i * step);
  return { lo: start, hi: end, step, values };
}

function formatTick(v: number, step: number): string {
  if (Math.abs(v) < step * 1e-9) return '0';
  const abs = Math.abs(v);
  // Shortest exponent form of the tick with float noise (start + i·step) rounded away: 1e-5, 1.5e-5.
  if (abs >= 1e5 || abs < 1e-3) return Number(v.toPrecision(12)).toExponential().replace('e+', 'e');
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step))));
}

/** Up to 6 significant digits, as JavaScript prints them (2e-7, 0.00002, 12.3457). */
function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
}

const num = (v: number | null) => v ?? NaN;
const fixed4 = (v: number | null) => (v !== null && Number.isFinite(v) ? v.toFixed(4) : String(v));
const r1 = (v: number) => Math.round(v * 10) / 10;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
