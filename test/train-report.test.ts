/**
 * report.html: self-contained and well-formed, one chart per series group with the right polylines and points
 * (inside the plot), values in the tables, NaN/null and empty logs handled, atomic writes, input errors.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { MAX_POLYLINE_POINTS, renderReport, writeReport, type ReportData } from '../src/train/report.js';

const tmp = mkdtempSync(join(tmpdir(), 'gpurank-report-'));

/** Every tag closes in order (the page is written as XML-clean HTML); returns the element names seen. */
function checkWellFormed(html: string): string[] {
  const body = html.replace(/^<!DOCTYPE html>\s*/, '');
  const stack: string[] = [];
  const names: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>|<|>/g)) {
    if (m[0] === '<' || m[0] === '>') throw new Error(`stray '${m[0]}' at ${m.index}: ${body.slice(m.index! - 40, m.index! + 40)}`);
    const [, close, name, , self] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      names.push(name);
      if (!self) stack.push(name);
    }
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' ')}`);
  return names;
}

interface Svg {
  label: string;
  polylines: { cls: string; points: [number, number][] }[];
  circles: number;
  nonfinite: number;
  text: string[];
}

function svgs(html: string): Svg[] {
  return [...html.matchAll(/<svg [^>]*aria-label="([^"]*)"[^>]*>([\s\S]*?)<\/svg>/g)].map(([, label, inner]) => ({
    label,
    polylines: [...inner.matchAll(/<polyline class="(\w+)" points="([^"]*)"\/>/g)].map(([, cls, pts]) => ({
      cls,
      points: pts.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    })),
    circles: (inner.match(/<circle /g) ?? []).length,
    nonfinite: (inner.match(/class="nonfinite"/g) ?? []).length,
    text: [...inner.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]),
  }));
}

function sample(steps = 50): ReportData {
  return {
    title: 'listnet on <cranfield> & "friends"',
    steps: Array.from({ length: steps }, (_, i) => ({ step: i + 1, loss: 2 * Math.exp(-i / 10) + 0.1 * Math.sin(i), lr: 2e-5 * Math.min(1, (i + 1) / 5), grad_norm: 1 + i / 10 })),
    evals: [10, 20, 30, 40, 50].slice(0, Math.ceil(steps / 10)).map((step, i) => ({ step, ndcg10: 0.3 + 0.01 * i, mrr10: 0.5 + 0.02 * i })),
    summary: { model: 'all-MiniLM-L6-v2', 'learning rate': 2e-5, 'batch queries': 8, seconds: 12.345678 },
  };
}

describe('renderReport', () => {
  it('is self-contained and well-formed, with four charts', () => {
    const html = renderReport(sample());
    const names = checkWellFormed(html);
    expect(names.filter((n) => n === 'svg').length).toBe(4);
    expect(names).not.toContain('script');
    expect(names).not.toContain('img');
    expect(names).not.toContain('link');
    // The only URL is the SVG namespace (never fetched).
    expect([...html.matchAll(/https?:\/\/[^"\s]*/g)].map((m) => m[0]).every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
    expect(html).toContain('<title>listnet on &#60;cranfield&#62; &#38; &#34;friends&#34;</title>');
  });

  it('draws each series with every point inside the plot, and axes with ticks', () => {
    const charts = svgs(renderReport(sample()));
    expect(charts.map((c) => c.label)).toEqual(['Training loss', 'Learning rate', 'Gradient norm (before clipping)', 'Held-out evaluation']);
    const [loss, lr, grad, evals] = charts;
    expect(loss.polylines.map((p) => [p.cls, p.points.length])).toEqual([['raw', 50], ['s1', 50]]);
    expect(lr.polylines.map((p) => p.points.length)).toEqual([50]);
    expect(grad.polylines.map((p) => p.points.length)).toEqual([50]);
    expect(evals.polylines.map((p) => [p.cls, p.points.length])).toEqual([['s1', 5], ['s2', 5]]);
    expect(evals.circles).toBe(10);
    for (const c of charts) {
      for (const p of c.polylines) {
        for (const [x, y] of p.points) {
          expect(x).toBeGreaterThanOrEqual(64);
          expect(x).toBeLessThanOrEqual(560 - 14);
          expect(y).toBeGreaterThanOrEqual(22);
          expect(y).toBeLessThanOrEqual(240 - 38);
        }
        // x increases with the step.
        expect(p.points.every((q, i) => i === 0 || q[0] > p.points[i - 1][0])).toBe(true);
      }
    }
    // Gradient norm rises linearly: the line rises (SVG y falls), evenly.
    const g = grad.polylines[0].points;
    expect(g[0][1]).toBeGreaterThan(g[49][1]);
    // The smoothed loss is smoother than the raw one.
    const roughness = (pts: [number, number][]) => pts.slice(2).reduce((s, p, i) => s + Math.abs(p[1] - 2 * pts[i + 1][1] + pts[i][1]), 0);
    expect(roughness(loss.polylines[1].points)).toBeLessThan(roughness(loss.polylines[0].points) / 2);
    // Tick labels: steps 0..50 on x; lr in exponent form; evaluation values with decimals.
    expect(grad.text).toEqual(expect.arrayContaining(['0', '10', '50', 'step']));
    expect(lr.text).toEqual(expect.arrayContaining(['0', '1e-5', '2e-5']));
    expect(evals.text).toEqual(expect.arrayContaining(['nDCG@10', 'MRR@10', '0.6']));
  });

  it('puts the values in the summary and evaluation tables', () => {
    const html = renderReport(sample());
    expect(html).toContain('<tr><th>model</th><td>all-MiniLM-L6-v2</td></tr>');
    expect(html).toContain('<tr><th>learning rate</th><td>0.00002</td></tr>');
    expect(html).toContain('<tr><th>seconds</th><td>12.3457</td></tr>');
    expect(html).toContain('<tr><th>optimizer steps logged</th><td>50</td></tr>');
    expect(html).toContain(`<tr><th>final loss</th><td>${Number((2 * Math.exp(-4.9) + 0.1 * Math.sin(49)).toPrecision(6))} (step 50)</td></tr>`);
    expect(html).toContain('<tr><th>best nDCG@10</th><td>0.3400 (step 50)</td></tr>');
    expect(html).toContain('<tr><td>30</td><td>0.3200</td><td>0.5400</td></tr>');
  });

  it('breaks lines at NaN and null values and marks them', () => {
    const data = sample(20);
    const steps = [...data.steps];
    const evals = [...data.evals];
    steps[4] = { ...steps[4], loss: NaN, grad_norm: null };
    steps[12] = { ...steps[12], loss: null };
    evals[1] = { ...evals[1], mrr10: Infinity };
    const html = renderReport({ ...data, steps, evals });
    checkWellFormed(html);
    const [loss, lr, grad, evalChart] = svgs(html);
    expect(loss.polylines.map((p) => p.points.length)).toEqual([4, 7, 7, 4, 7, 7]);
    expect(loss.nonfinite).toBe(2); // steps 5 and 13, once each (raw and smoothed share them)
    expect(loss.text).toContain('non-finite at 2 steps: not drawn (red marks)');
    expect(lr.polylines.map((p) => p.points.length)).toEqual([20]);
    expect(lr.nonfinite).toBe(0);
    expect(grad.polylines.map((p) => p.points.length)).toEqual([4, 15]);
    expect(grad.text).toContain('non-finite at 1 step: not drawn (red marks)');
    expect(evalChart.polylines.map((p) => p.points.length)).toEqual([2, 1]);
    expect(evalChart.nonfinite).toBe(1);
    for (const c of [loss, grad, evalChart]) for (const p of c.polylines) for (const xy of p.points) expect(xy.every(Number.isFinite)).toBe(true);
    expect(html).toContain('<tr><th>non-finite losses</th><td>2</td></tr>');
    expect(html).toContain('<tr><td>20</td><td>0.3100</td><td>Infinity</td></tr>');
  });

  it('handles empty logs, all-NaN series, one step and constant values', () => {
    const empty = renderReport({ title: 'nothing yet', steps: [], evals: [] });
    checkWellFormed(empty);
    const charts = svgs(empty);
    expect(charts.length).toBe(4);
    for (const c of charts) {
      expect(c.polylines.length).toBe(0);
      expect(c.text).toContain('no data logged');
    }
    expect(empty).toContain('No evaluations were run.');
    expect(empty).toContain('<tr><th>optimizer steps logged</th><td>0</td></tr>');

    const one = svgs(renderReport({ title: 't', steps: [{ step: 1, loss: NaN, lr: 1e-4, grad_norm: 0 }], evals: [] }));
    expect(one[0].text).toContain('no finite values');
    expect(one[1].polylines[0].points.length).toBe(1);
    // A constant series gets a widened range: its point sits mid-plot.
    const [x, y] = one[1].polylines[0].points[0];
    expect([x, y].every(Number.isFinite)).toBe(true);
    expect(y).toBeGreaterThan(22);
    expect(y).toBeLessThan(240 - 38);
  });

  it('decimates very long series, keeping spikes', () => {
    const steps = Array.from({ length: 20_000 }, (_, i) => ({ step: i + 1, loss: i === 12_345 ? 100 : 1 + (i % 7) / 100, lr: 1e-5, grad_norm: 1 }));
    const html = renderReport({ title: 'long', steps, evals: [] });
    const [loss] = svgs(html);
    expect(loss.polylines[0].points.length).toBeLessThanOrEqual(MAX_POLYLINE_POINTS);
    expect(Math.min(...loss.polylines[0].points.map((p) => p[1]))).toBe(22); // the spike reaches the top of the plot
    expect(html.length).toBeLessThan(400_000);
  });

  it('rejects malformed input', () => {
    const bad: [unknown, RegExp][] = [
      [{ steps: [], evals: [] }, /title must be a string/],
      [{ title: 't', steps: {}, evals: [] }, /steps must be an array/],
      [{ title: 't', steps: [], evals: null }, /evals must be an array/],
      [{ title: 't', steps: [{ step: NaN, loss: 1, lr: 1, grad_norm: 1 }], evals: [] }, /steps\[0\]\.step must be a finite number/],
      [{ title: 't', steps: [null], evals: [] }, /steps\[0\]\.step/],
      [{ title: 't', steps: [{ step: 1, loss: '1', lr: 1, grad_norm: 1 }], evals: [] }, /steps\[0\]\.loss must be a number or null/],
      [{ title: 't', steps: [], evals: [{ step: 1, ndcg10: 0.5 }] }, /evals\[0\]\.mrr10 must be a number or null/],
      [{ title: 't', steps: [], evals: [], summary: { a: [1] } }, /summary 'a' must be a string or a number/],
    ];
    for (const [data, message] of bad) {
      const run = () => renderReport(data as ReportData);
      expect(run).toThrow(InputError);
      expect(run).toThrow(message);
    }
  });
});

describe('writeReport', () => {
  it('writes report.html atomically, creating the folder, replacing an old report', async () => {
    const dir = join(tmp, 'run1', 'nested');
    const path = await writeReport(dir, sample(10));
    expect(path).toBe(join(dir, 'report.html'));
    expect(readFileSync(path, 'utf8')).toBe(renderReport(sample(10)));
    await writeReport(dir, sample(30));
    expect(readFileSync(path, 'utf8')).toBe(renderReport(sample(30)));
    expect(readdirSync(dir)).toEqual(['report.html']);
  });

  it('leaves no temp file when the rename fails, and validates before writing', async () => {
    const dir = join(tmp, 'run2');
    mkdirSync(join(dir, 'report.html'), { recursive: true }); // a folder where the file should go
    await expect(writeReport(dir, sample(5))).rejects.toThrow(/EISDIR|EEXIST|ENOTEMPTY|directory/i);
    expect(readdirSync(dir)).toEqual(['report.html']);
    const fresh = join(tmp, 'run3');
    await expect(writeReport(fresh, { title: 1 } as unknown as ReportData)).rejects.toThrow(InputError);
    expect(() => readdirSync(fresh)).toThrow(/ENOENT/);
  });
});
