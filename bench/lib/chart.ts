/**
 * The failover time distributions as a chart: one panel per advert interval, one row per scenario,
 * a strip of dots per tool (every trial), a bar at the median and a tick at p90. Rendered as SVG
 * (pure), converted to PNG by rsvg-convert (Debian librsvg2-bin) when it is installed.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { durationText as formatDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS, SCENARIO_TITLES, type TrialResult } from './scenarios.js';
import { summarize } from './stats.js';

const COLORS: Record<string, string> = { ipwarden: '#1f77b4', keepalived: '#e66100' };
const TOOLS = ['ipwarden', 'keepalived'] as const;

/** 1, 2, 5 × 10^k steps: the tick spacing for about `count` ticks up to max. */
export function niceStep(max: number, count = 5): number {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return step;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Deterministic jitter (no Math.random: the same data gives the same picture). */
function jitter(i: number): number {
  return (((i * 2654435761) >>> 0) % 1000) / 1000 - 0.5;
}

export function renderChart(trials: TrialResult[], intervalsMs: number[], title: string): string {
  const panelW = 560;
  const labelW = 310;
  const rowH = 64;
  const top = 70;
  const scenarios = FAILOVER_SCENARIOS.filter((s) => trials.some((t) => t.scenario === s));
  const height = top + scenarios.length * rowH + 70;
  const width = labelW + intervalsMs.length * (panelW + 30) + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  // legend
  TOOLS.forEach((tool, k) => {
    const x = 10 + k * 130;
    parts.push(`<circle cx="${x + 6}" cy="42" r="5" fill="${COLORS[tool]}"/><text x="${x + 16}" y="46">${tool}</text>`);
  });
  parts.push(`<text x="280" y="46" fill="#444">dot = one trial · bar = median · tick = p90 · time until the address is on the new master</text>`);
  scenarios.forEach((s, r) => {
    const y = top + r * rowH;
    parts.push(`<text x="10" y="${y + rowH / 2 + 4}">${esc(SCENARIO_TITLES[s])}</text>`);
    if (r > 0) parts.push(`<line x1="10" x2="${width - 10}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
  });
  intervalsMs.forEach((I, p) => {
    const x0 = labelW + p * (panelW + 30);
    const inPanel = trials.filter((t) => t.intervalMs === I && t.vipMs !== undefined);
    const max = Math.max(I, ...inPanel.map((t) => t.vipMs!));
    const step = niceStep(max);
    const axisMax = Math.ceil(max / step) * step;
    const X = (v: number) => x0 + (v / axisMax) * panelW;
    const yAxis = top + scenarios.length * rowH;
    parts.push(`<text x="${x0 + panelW / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">advert ${formatDuration(I)}, dead ratio 3</text>`);
    for (let v = 0; v <= axisMax + 1e-9; v += step) {
      parts.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${top}" y2="${yAxis}" stroke="#eee"/>`);
      parts.push(`<text x="${X(v)}" y="${yAxis + 16}" text-anchor="middle" fill="#444">${Math.round(v)}</text>`);
    }
    parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${yAxis}" y2="${yAxis}" stroke="#888"/>`);
    parts.push(`<text x="${x0 + panelW / 2}" y="${yAxis + 34}" text-anchor="middle" fill="#444">ms after the fault</text>`);
    scenarios.forEach((s, r) => {
      TOOLS.forEach((tool, k) => {
        const yc = top + r * rowH + 20 + k * 24;
        const pts = inPanel.filter((t) => t.scenario === s && t.tool === tool);
        pts.forEach((t, i) => {
          parts.push(`<circle cx="${X(t.vipMs!).toFixed(1)}" cy="${(yc + jitter(i + r * 97 + k * 31) * 12).toFixed(1)}" r="3" fill="${COLORS[tool]}" fill-opacity="0.45"/>`);
        });
        const st = summarize(pts.map((t) => t.vipMs));
        if (st) {
          parts.push(`<line x1="${X(st.median)}" x2="${X(st.median)}" y1="${yc - 10}" y2="${yc + 10}" stroke="${COLORS[tool]}" stroke-width="3"/>`);
          parts.push(`<line x1="${X(st.p90)}" x2="${X(st.p90)}" y1="${yc - 5}" y2="${yc + 5}" stroke="${COLORS[tool]}" stroke-width="1.5"/>`);
          // median label right of the dots, or left of them when the panel ends there
          const right = X(st.max) + 70 <= x0 + panelW;
          const lx = right ? X(st.max) + 8 : X(st.min) - 8;
          parts.push(`<text x="${lx.toFixed(1)}" y="${yc + 4}" font-size="10" fill="${COLORS[tool]}" text-anchor="${right ? 'start' : 'end'}">med ${Math.round(st.median)}</text>`);
        }
      });
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes the SVG and, when rsvg-convert exists, the PNG. Resolves to the PNG path, or undefined. */
export async function writeChart(svg: string, svgPath: string, pngPath: string): Promise<string | undefined> {
  await writeFile(svgPath, svg);
  return new Promise((resolve) => {
    execFile('rsvg-convert', ['-f', 'png', '-o', pngPath, svgPath], (error) => resolve(error ? undefined : pngPath));
  });
}
