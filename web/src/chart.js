// A chart of a query result. The default is picked from the column types; for a wide
// result, the first date (or category) column goes across and up to three number columns
// are plotted (identifier columns like "id" last):
//   time + number      → line (ordered by time)
//   category + number  → bar (the first 60 categories, in result order; grouped per series)
//   number + number    → scatter (first number column across)
// The user may switch the chart type, the column across and the plotted number columns
// (native select and check boxes, so it all works from the keyboard). Anything else gets no
// chart and a sentence saying what would make one.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';
import { kindOf } from './types.js';

const MAX_BARS = 60;
const MAX_SERIES = 3;
const PALETTE = ['#2f6fdf', '#d9730d', '#2e9d6a', '#b53f7a'];
const KIND_NAMES = { bar: 'Bar', line: 'Line', scatter: 'Scatter' };

/**
 * Which chart fits the columns, honouring the user's wishes where they fit: want is
 * {kind, x, ys} (any may be missing). Returns {kind, x, ys, kinds, xChoices, yChoices}
 * (column indexes; kinds are the chart types this result allows) or {kind: null, why}.
 */
export function pickChart(columns, want = {}) {
  const cols = columns;
  const kinds = columns.map((c) => kindOf(c.type));
  const of = (k) => kinds.map((kk, i) => (kk === k ? i : -1)).filter((i) => i >= 0);
  const nums = of('number');
  const times = of('time');
  const cats = of('category');
  const xFor = { bar: [...cats, ...times, ...nums], line: [...times, ...nums], scatter: nums };
  const allowed = ['bar', 'line', 'scatter'].filter((k) => xFor[k].some((x) => nums.some((y) => y !== x)));
  if (!allowed.length) {
    return { kind: null, why: 'No chart: a chart needs a number column plus a date, a category or a second number column.' };
  }
  const fallback = times.length ? 'line' : cats.length ? 'bar' : 'scatter';
  const kind = allowed.includes(want.kind) ? want.kind : allowed.includes(fallback) ? fallback : allowed[0];
  const xChoices = xFor[kind].filter((x) => nums.some((y) => y !== x));
  const x = xChoices.includes(want.x) ? want.x : xChoices[0];
  const yChoices = nums.filter((i) => i !== x);
  let ys = (want.ys || []).filter((y) => yChoices.includes(y)).slice(0, MAX_SERIES);
  // By default, identifiers ("id", "user_id") are plotted only when nothing else is left.
  const idLike = (i) => /^id$|_id$/i.test(cols[i].name);
  if (!ys.length) ys = [...yChoices.filter((i) => !idLike(i)), ...yChoices.filter(idLike)].slice(0, MAX_SERIES).sort((a, b) => a - b);
  return { kind, x, ys, kinds: allowed, xChoices, yChoices, xKind: kinds[x] };
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
    // Bars for a date or number across keep the result's order; label them as text.
    const used = rows.slice(0, MAX_BARS);
    return {
      labels: used.map((r) => (r[x] === null ? 'NULL' : String(r[x]))),
      data: [used.map((_, i) => i), ...ys.map((y) => used.map((r) => toNum(r[y])))],
      note: rows.length > MAX_BARS ? `First ${MAX_BARS} of ${rows.length} categories.` : '',
    };
  }
  const conv = pick.xKind === 'time' ? toTime : toNum;
  const pts = rows.map((r) => [conv(r[x]), ...ys.map((y) => toNum(r[y]))])
    .filter((p) => p[0] !== null)
    .sort((a, b) => a[0] - b[0]);
  return { data: [pts.map((p) => p[0]), ...ys.map((_, j) => pts.map((p) => p[j + 1]))], note: '' };
}

/**
 * Renders the chart for a result into container (or a note when none fits); want as in
 * pickChart. Returns {el, kind, destroy}; the handle follows the user's changes.
 */
export function renderChart(result, container, want = {}) {
  const cols = result.columns || [];
  const pick = pickChart(cols, want);
  if (!pick.kind || !(result.rows || []).length) {
    const el = h('p', { class: 'muted chart-none' }, pick.why || 'No rows to chart.');
    return { el, kind: null, destroy() {} };
  }
  const { data, labels, note } = prepare(result, pick);
  const title = pick.kind === 'scatter'
    ? `${pick.ys.map((y) => cols[y].name).join(', ')} against ${cols[pick.x].name}`
    : `${pick.ys.map((y) => cols[y].name).join(', ')} by ${cols[pick.x].name}`;
  const plot = h('div', { class: 'plot', role: 'img', 'aria-label': `${pick.kind} chart of ${title}` });
  const handle = { kind: pick.kind, el: null, destroy() {} };
  // A change draws the chart again and puts the focus back on the control that was used. A
  // new chart type starts from its own column across; the plotted columns stay.
  const redraw = (next, role) => {
    handle.destroy();
    Object.assign(handle, renderChart(result, container, { kind: pick.kind, x: pick.x, ys: pick.ys, ...next }));
    const again = handle.el && handle.el.querySelector(`[data-role="${role}"]`);
    if (again) again.focus();
  };
  const controls = h('div', { class: 'chart-controls' },
    h('label', { class: 'inline chart-kind' }, 'Chart ',
      h('select', { 'aria-label': 'Chart type', dataset: { role: 'kind' },
        onchange: (e) => redraw({ kind: e.target.value, x: undefined }, 'kind') },
      pick.kinds.map((k) => h('option', { value: k, selected: k === pick.kind }, KIND_NAMES[k])))),
    h('label', { class: 'inline chart-x' }, 'Across ',
      h('select', { 'aria-label': 'Column across (x axis)', dataset: { role: 'x' },
        onchange: (e) => redraw({ x: Number(e.target.value) }, 'x') },
      pick.xChoices.map((i) => h('option', { value: i, selected: i === pick.x }, cols[i].name)))),
    h('fieldset', { class: 'chart-y' },
      h('legend', {}, `Plot (up to ${MAX_SERIES})`),
      pick.yChoices.map((i) => {
        const on = pick.ys.includes(i);
        // The last plotted column stays; past the maximum, the others wait.
        const locked = on ? pick.ys.length === 1 : pick.ys.length >= MAX_SERIES;
        return h('label', { class: 'inline check' },
          h('input', { type: 'checkbox', value: String(i), checked: on, disabled: locked,
            dataset: { role: `y${i}` }, 'aria-label': `Plot ${cols[i].name}`,
            onchange: (e) => redraw({ ys: e.target.checked ? [...pick.ys, i].sort((a, b) => a - b)
              : pick.ys.filter((y) => y !== i) }, `y${i}`) }),
          ` ${cols[i].name}`);
      })));
  const el = h('figure', { class: 'chart', dataset: { kind: pick.kind } },
    h('figcaption', {}, h('span', { class: 'tag' }, pick.kind), ` ${title}`,
      note ? h('span', { class: 'muted' }, ` · ${note}`) : null),
    controls,
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
      // Grouped: each series gets its slice of the 0.8-wide slot around its category.
      const k = pick.ys.length;
      const w = 0.8 / k;
      const bars = k === 1 ? uPlot.paths.bars({ size: [0.7, 80] }) : uPlot.paths.bars({ disp: {
        x0: { unit: 1, values: (u) => u.data[0].map((v) => v - 0.4 + i * w) },
        size: { unit: 1, values: () => [w] } } });
      Object.assign(s, { fill: `${color}cc`, width: 0, paths: bars, points: { show: false } });
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
        : { time: pick.xKind === 'time' },
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
