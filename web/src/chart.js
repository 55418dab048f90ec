// A chart of a query result, picked from the column types:
//   time + number      → line (up to 4 number columns as series, ordered by time)
//   category + number  → bar (the first 60 categories, in result order)
//   number + number    → scatter (first number column across, second up)
// Anything else gets no chart and a sentence saying what would make one.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';
import { kindOf } from './types.js';

const MAX_BARS = 60;
const PALETTE = ['#2f6fdf', '#d9730d', '#2e9d6a', '#b53f7a'];

/**
 * Which chart fits the columns: {kind, x, ys, choices} (column indexes; choices are the
 * number columns the user may plot instead) or {kind: null, why}. y picks the plotted
 * number column for bar and scatter charts.
 */
export function pickChart(columns, y) {
  const kinds = columns.map((c) => kindOf(c.type));
  const nums = kinds.map((k, i) => (k === 'number' ? i : -1)).filter((i) => i >= 0);
  const time = kinds.indexOf('time');
  const cat = kinds.indexOf('category');
  if (time >= 0 && nums.length) return { kind: 'line', x: time, ys: nums.slice(0, 4), choices: [] };
  if (cat >= 0 && nums.length) {
    return { kind: 'bar', x: cat, ys: [nums.includes(y) ? y : nums[0]], choices: nums };
  }
  if (nums.length >= 2) {
    const rest = nums.slice(1);
    return { kind: 'scatter', x: nums[0], ys: [rest.includes(y) ? y : rest[0]], choices: rest };
  }
  return { kind: null, why: 'No chart: a chart needs a number column plus a date, a category or a second number column.' };
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function toNum(v) {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function toTime(v) {
  if (v === null || v === undefined) return null;
  const s = String(v);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s.replace(' ', 'T'));
  return Number.isFinite(t) ? t / 1000 : null;
}

/** Builds the data arrays for uPlot; returns {data, labels, note}. */
function prepare(result, pick) {
  const rows = result.rows || [];
  const { kind, x, ys } = pick;
  if (kind === 'bar') {
    const used = rows.slice(0, MAX_BARS);
    return {
      labels: used.map((r) => (r[x] === null ? 'NULL' : String(r[x]))),
      data: [used.map((_, i) => i), ...ys.map((y) => used.map((r) => toNum(r[y])))],
      note: rows.length > MAX_BARS ? `First ${MAX_BARS} of ${rows.length} categories.` : '',
    };
  }
  const conv = kind === 'line' ? toTime : toNum;
  const pts = rows.map((r) => [conv(r[x]), ...ys.map((y) => toNum(r[y]))])
    .filter((p) => p[0] !== null)
    .sort((a, b) => a[0] - b[0]);
  return { data: [pts.map((p) => p[0]), ...ys.map((_, j) => pts.map((p) => p[j + 1]))], note: '' };
}

/**
 * Renders the chart for a result into a new element (or a note when none fits).
 * Returns {el, kind, destroy}.
 */
export function renderChart(result, container, y) {
  const cols = result.columns || [];
  const pick = pickChart(cols, y);
  if (!pick.kind || !(result.rows || []).length) {
    const el = h('p', { class: 'muted chart-none' }, pick.why || 'No rows to chart.');
    return { el, kind: null, destroy() {} };
  }
  const { data, labels, note } = prepare(result, pick);
  const title = pick.kind === 'scatter'
    ? `${cols[pick.ys[0]].name} against ${cols[pick.x].name}`
    : `${pick.ys.map((y) => cols[y].name).join(', ')} by ${cols[pick.x].name}`;
  const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `${pick.kind} chart of ${title}` });
  const handle = { kind: pick.kind, el: null, destroy() {} };
  const chooser = pick.choices.length > 1
    ? h('label', { class: 'inline chart-y' }, 'Plot ',
      h('select', { 'aria-label': 'Number column to plot', onchange: (e) => {
        handle.destroy();
        const next = renderChart(result, container, Number(e.target.value));
        Object.assign(handle, next);
      } }, pick.choices.map((i) => h('option', { value: i, selected: i === pick.ys[0] }, cols[i].name))))
    : null;
  const el = h('figure', { class: 'chart', dataset: { kind: pick.kind } },
    h('figcaption', {}, h('span', { class: 'tag' }, pick.kind), ` ${title}`,
      note ? h('span', { class: 'muted' }, ` · ${note}`) : null, chooser),
    plot);
  handle.el = el;
  container.append(el);

  const ink = cssVar('--ink-2', '#555');
  const grid = cssVar('--line', '#ddd');
  const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });
  const yAxis = { ...axis, size: 64, values: (u, splits) => splits.map((v) => (v === null ? '' : compact.format(v))) };
  const series = [{ label: cols[pick.x].name }].concat(pick.ys.map((y, i) => {
    const color = PALETTE[i % PALETTE.length];
    const s = { label: cols[y].name, stroke: color, width: 2 };
    if (pick.kind === 'bar') {
      Object.assign(s, { fill: `${color}cc`, width: 0, paths: uPlot.paths.bars({ size: [0.7, 80] }),
        points: { show: false } });
    } else if (pick.kind === 'scatter') {
      Object.assign(s, { paths: () => null, points: { show: true, size: 6, stroke: color, fill: `${color}88` } });
    }
    return s;
  }));
  const xAxis = { ...axis };
  if (pick.kind === 'bar') {
    xAxis.splits = () => labels.map((_, i) => i);
    // Every label while each gets 40 px (shortened to fit), else every n-th one.
    xAxis.values = (u, splits) => {
      const per = u.bbox.width / devicePixelRatio / Math.max(1, labels.length);
      const every = per >= 40 ? 1 : Math.ceil(45 / Math.max(1, per));
      const chars = per >= 40 ? Math.max(4, Math.min(18, Math.floor(per / 7))) : 14;
      return splits.map((i) => (i % every === 0 ? truncate(labels[i], chars) : ''));
    };
  }
  const opts = {
    width: Math.max(240, plot.clientWidth || container.clientWidth || 600),
    height: 280,
    legend: { show: pick.ys.length > 1 || pick.kind !== 'bar' },
    cursor: { drag: { x: pick.kind !== 'bar', y: false } },
    scales: {
      x: pick.kind === 'bar'
        ? { time: false, range: () => [-0.5, labels.length - 0.5] }
        : { time: pick.kind === 'line' },
      // Bars are read by their length, so their axis always includes zero.
      y: pick.kind === 'bar'
        ? { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] }
        : {},
    },
    axes: [xAxis, yAxis],
    series,
  };
  const u = new uPlot(opts, data, plot);
  const ro = new ResizeObserver(() => {
    const w = plot.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: 280 });
  });
  ro.observe(plot);
  handle.destroy = () => { ro.disconnect(); u.destroy(); el.remove(); };
  return handle;
}

function truncate(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The numeric field of trial objects whose name matches re (first found), or null. */
function numericKey(items, re) {
  const keys = Object.keys(items[0] || {});
  return keys.find((k) => re.test(k) && items.some((t) => typeof t[k] === 'number')) || null;
}

/**
 * Index trials as recall against latency, the Pareto front (no other trial is both faster
 * and more accurate) drawn as a line over all trials. Field names are found by pattern
 * (recall…, latency…/p50…/…_ms). Returns {el, kind, front, destroy} or a note.
 */
export function renderTrials(trials, container) {
  const rk = numericKey(trials, /recall/i);
  const lk = numericKey(trials, /latency|p50|p95|_ms$|_us$/i);
  if (!rk || !lk) {
    const el = h('p', { class: 'muted chart-none' }, 'No chart: the trials carry no recall and latency figures.');
    container.append(el);
    return { el, kind: null, front: [], destroy() { el.remove(); } };
  }
  const pts = trials.filter((t) => Number.isFinite(t[rk]) && Number.isFinite(t[lk]))
    .sort((a, b) => a[lk] - b[lk] || b[rk] - a[rk]);
  // Sorted by latency, a trial is on the front when it beats every faster trial's recall.
  const front = [];
  let best = -Infinity;
  for (const t of pts) {
    if (t[rk] > best) {
      front.push(t);
      best = t[rk];
    }
  }
  const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `recall against latency, ${front.length} trials on the Pareto front` });
  const el = h('figure', { class: 'chart', dataset: { kind: 'pareto' } },
    h('figcaption', {}, h('span', { class: 'tag' }, 'trials'), ` ${rk} against ${lk}`,
      h('span', { class: 'muted' }, ` · ${pts.length} trials, ${front.length} on the Pareto front`)),
    plot);
  container.append(el);
  const ink = cssVar('--ink-2', '#555');
  const grid = cssVar('--line', '#ddd');
  const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const onFront = new Set(front);
  const u = new uPlot({
    width: Math.max(240, plot.clientWidth || container.clientWidth || 600),
    height: 260,
    scales: { x: { time: false } },
    axes: [{ ...axis, label: lk }, { ...axis, label: rk, size: 60 }],
    series: [
      { label: lk },
      { label: 'trial', stroke: '#6b7480', paths: () => null, points: { show: true, size: 9, fill: '#8a94a3aa' } },
      { label: 'Pareto front', stroke: PALETTE[0], width: 2, spanGaps: true, points: { show: true, size: 8, fill: PALETTE[0] } },
    ],
  }, [pts.map((t) => t[lk]), pts.map((t) => t[rk]), pts.map((t) => (onFront.has(t) ? t[rk] : null))], plot);
  const ro = new ResizeObserver(() => {
    const w = plot.clientWidth;
    if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: 260 });
  });
  ro.observe(plot);
  return { el, kind: 'pareto', front, destroy() { ro.disconnect(); u.destroy(); el.remove(); } };
}
