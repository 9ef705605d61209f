// Line charts over [[ms, value], ...] series, drawn by Chart.js. The time
// axis spans chartWindow (from the first sample, at most 24 h), so a young
// pool's chart is not a flat line with a spike at the edge. Each canvas
// carries data-testid="chart-<name>" and, once drawn, data-points = the
// points of its longest series in the window, data-x-min and
// data-first-tick (read by tests/browser.mjs).

import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
  type Plugin,
} from 'chart.js';
import { chartWindow, formatClock, formatDateTime } from './format.js';
import type { Point } from './types';
import { h } from './dom';

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Tooltip, Legend);
Chart.defaults.color = '#9aa4b2';
Chart.defaults.borderColor = 'rgba(154,164,178,0.15)';
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

export const COLORS = ['#ff7a1a', '#4fa3ff', '#3ecf8e', '#c77dff'];

export interface Series {
  label: string;
  points: Point[] | undefined;
  color?: string;
  /** 'y' (left, default) or 'y1' (right axis). */
  axis?: 'y' | 'y1';
  fill?: boolean;
}

export interface ChartOptions {
  /** Formats values on the left axis and in tooltips. */
  format: (v: number) => string;
  /** Formats left axis ticks (default: format). */
  axis?: (v: number) => string;
  /** Formats the right axis, when a series uses it. */
  format1?: (v: number) => string;
  /** Starts the y axis at zero. */
  zero?: boolean;
  /** Values are counts: whole-number ticks only. */
  counts?: boolean;
}

type XY = { x: number; y: number };

/** Drops malformed points and sorts by time. */
export function cleanPoints(points: Point[] | undefined): XY[] {
  if (!Array.isArray(points)) return [];
  const out: XY[] = [];
  for (const p of points) {
    if (Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1])) out.push({ x: p[0], y: p[1] });
  }
  return out.sort((a, b) => a.x - b.x);
}

const MINUTE = 60_000;
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE);

/** Ticks at round local times (every 10 min, 1 h, 6 h, 1 d...) between min and max. */
export function timeTicks(min: number, max: number, maxTicks = 6): number[] {
  if (!(max > min)) return Number.isFinite(min) ? [min] : [];
  const step = STEPS.find((s) => (max - min) / s <= maxTicks) ?? STEPS[STEPS.length - 1];
  const off = new Date(min).getTimezoneOffset() * MINUTE;
  const ticks: number[] = [];
  for (let t = Math.ceil((min - off) / step) * step + off; t <= max; t += step) ticks.push(t);
  return ticks;
}

function timeLabel(ms: number, step: number): string {
  if (step < 86_400_000) return formatClock(ms);
  const t = new Date(ms);
  return `${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`;
}

const pointsAttr: Plugin<'line'> = {
  id: 'rxpoolPoints',
  afterRender(chart) {
    const n = Math.max(0, ...chart.data.datasets.map((d) => d.data.length));
    chart.canvas.dataset.points = String(n);
    chart.canvas.dataset.series = String(chart.data.datasets.length);
    const x = chart.scales.x;
    chart.canvas.dataset.xMin = String(x?.min ?? '');
    chart.canvas.dataset.xMax = String(x?.max ?? '');
    chart.canvas.dataset.firstTick = String(x?.ticks[0]?.value ?? '');
  },
};

export class LineChart {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly emptyNote: HTMLElement;
  private chart: Chart<'line', XY[]> | null = null;

  constructor(
    readonly name: string,
    private readonly opts: ChartOptions,
  ) {
    this.canvas = h('canvas', { 'data-testid': `chart-${name}`, role: 'img', 'aria-label': `${name} chart` });
    this.emptyNote = h('div', { class: 'chart-empty', hidden: true }, 'No data yet');
    this.el = h('div', { class: 'chart-box' }, this.canvas, this.emptyNote);
  }

  set(series: Series[]): void {
    const win = chartWindow(series.map((s) => s.points));
    const datasets: ChartDataset<'line', XY[]>[] = series.map((s, i) => {
      const color = s.color ?? COLORS[i % COLORS.length];
      const data = win ? cleanPoints(s.points).filter((p) => p.x >= win.min && p.x <= win.max) : [];
      return {
        label: s.label,
        data,
        borderColor: color,
        backgroundColor: color + '33',
        fill: s.fill ?? series.length === 1,
        yAxisID: s.axis ?? 'y',
        borderWidth: 2,
        pointRadius: data.length < 3 ? 3 : 0, // a lone sample is a dot, not nothing
        pointHitRadius: 6,
        tension: 0.25,
      };
    });
    const total = datasets.reduce((n, d) => n + d.data.length, 0);
    this.emptyNote.hidden = total > 0;
    const usesY1 = datasets.some((d) => d.yAxisID === 'y1');
    const legend = datasets.length > 1;
    const xmin = win?.min;
    const xmax = win?.max;

    if (this.chart) {
      this.chart.data.datasets = datasets;
      const scales = this.chart.options.scales;
      if (scales?.y1) scales.y1.display = usesY1;
      if (this.chart.options.plugins?.legend) this.chart.options.plugins.legend.display = legend;
      if (scales?.x) {
        scales.x.min = xmin;
        scales.x.max = xmax;
      }
      this.chart.update('none');
      return;
    }
    const fmt = this.opts.format;
    const axisFmt = this.opts.axis ?? fmt;
    const fmt1 = this.opts.format1 ?? fmt;
    this.chart = new Chart<'line', XY[]>(this.canvas, {
      type: 'line',
      data: { datasets },
      plugins: [pointsAttr],
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { display: legend, labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? formatDateTime(items[0].parsed.x ?? 0) : ''),
              label: (item) =>
                `${item.dataset.label}: ${(item.dataset.yAxisID === 'y1' ? fmt1 : fmt)(item.parsed.y ?? 0)}`,
            },
          },
        },
        scales: {
          x: {
            type: 'linear',
            grid: { display: false },
            min: xmin,
            max: xmax,
            afterBuildTicks: (axis) => {
              // About one label per 80 px: 6 on a desktop card, 4 on a phone.
              const most = Math.max(2, Math.min(6, Math.floor(axis.chart.width / 80)));
              axis.ticks = timeTicks(axis.min, axis.max, most).map((value) => ({ value }));
            },
            ticks: { maxRotation: 0, autoSkip: true, callback: (v, _i, ticks) => timeLabel(Number(v), ticks.length > 1 ? ticks[1].value - ticks[0].value : 0) },
          },
          y: {
            beginAtZero: this.opts.zero ?? true,
            ticks: { maxTicksLimit: 6, precision: this.opts.counts ? 0 : undefined, callback: (v) => axisFmt(Number(v)) },
          },
          y1: {
            display: usesY1,
            position: 'right',
            beginAtZero: true,
            grid: { drawOnChartArea: false },
            ticks: { maxTicksLimit: 6, precision: 0, callback: (v) => fmt1(Number(v)) },
          },
        },
      },
    });
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = null;
  }
}
