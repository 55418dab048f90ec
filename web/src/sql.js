// SQL: an editor with dataset/column completion (CodeMirror 6), Ctrl+Enter to run, the
// elapsed time, a results grid with types and paging, a chart picked from the column types,
// and the full result as a CSV or Parquet download (POST /sql with format csv or parquet, no
// row limit).
import { EditorState, Prec, Compartment } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection, placeholder } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { sql as sqlLanguage, PostgreSQL } from '@codemirror/lang-sql';
import { syntaxHighlighting, HighlightStyle, bracketMatching } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';
import { autocompletion, completionKeymap, closeBrackets } from '@codemirror/autocomplete';
import { api, describe, sql, sqlDownload } from './api.js';
import { fmtInt, fmtMs, h, note, setChildren } from './dom.js';
import { renderGrid } from './grid.js';
import { renderChart } from './chart.js';

const STORE_KEY = 'lakehouse.sql.text';
// Colours from the page's palette, so the editor reads well in light and dark mode.
const sqlHighlight = HighlightStyle.define([
  { tag: [t.keyword, t.operatorKeyword], color: 'var(--accent)', fontWeight: '600' },
  { tag: [t.string, t.special(t.string)], color: 'var(--ok)' },
  { tag: [t.number, t.bool, t.null], color: 'var(--warn)' },
  { tag: [t.lineComment, t.blockComment], color: 'var(--ink-2)', fontStyle: 'italic' },
  { tag: [t.typeName, t.standard(t.name)], color: 'var(--bad)' },
]);
let ctx, view, status, out, runBtn, csvBtn, parquetBtn, limitSel;
let chart = null;
let running = null;
let pending = null;
const language = new Compartment();
const schemaCache = new Map(); // dataset name → {version, columns}

export function mount(panel, context) {
  ctx = context;
  runBtn = h('button', { type: 'button', id: 'sql-run', onclick: () => run(),
    title: 'Run the query (Ctrl+Enter)' }, 'Run', h('kbd', {}, 'Ctrl+Enter'));
  csvBtn = h('button', { type: 'button', class: 'ghost', id: 'sql-csv', onclick: () => download('csv', csvBtn),
    title: 'Run the query again without a row limit and save the result as CSV' }, 'Download CSV');
  parquetBtn = h('button', { type: 'button', class: 'ghost', id: 'sql-parquet', onclick: () => download('parquet', parquetBtn),
    title: 'Run the query again without a row limit and save the result as Parquet (column types kept)' }, 'Download Parquet');
  limitSel = h('select', { id: 'sql-limit', 'aria-label': 'Row limit' },
    [100, 1000, 10000].map((n) => h('option', { value: n, selected: n === 1000 }, `${fmtInt(n)} rows`)));
  status = h('div', { class: 'sql-status', id: 'sql-status', role: 'status', 'aria-live': 'polite' });
  out = h('div', { class: 'sql-out', id: 'sql-out' });
  const host = h('div', { class: 'editor', id: 'sql-editor' });

  setChildren(panel,
    h('div', { class: 'card sql-card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'SQL'),
        h('span', { class: 'muted small' }, 'One read-only statement; datasets are tables. Ctrl+Space completes names.')),
      host,
      h('div', { class: 'toolbar' }, runBtn, h('label', { class: 'inline' }, 'Show up to ', limitSel), csvBtn, parquetBtn, status)),
    out);

  const saved = localStorage.getItem(STORE_KEY);
  view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: pending ? pending.query : saved || defaultQuery(),
      extensions: [
        lineNumbers(), history(), drawSelection(), EditorView.lineWrapping, highlightActiveLine(), bracketMatching(),
        closeBrackets(), autocompletion({ icons: false }),
        syntaxHighlighting(sqlHighlight),
        placeholder('SELECT … FROM dataset'),
        Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { run(); return true; } }])),
        keymap.of([...defaultKeymap, ...historyKeymap, ...completionKeymap]),
        language.of(sqlSupport({})),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) localStorage.setItem(STORE_KEY, u.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ 'aria-label': 'SQL query', 'aria-multiline': 'true' }),
      ],
    }),
  });
  ctx.onCatalog(updateSchema);
  updateSchema(ctx.datasets);
  if (!ctx.datasets.length) ctx.refreshCatalog().catch(() => {});
  if (pending) {
    const p = pending;
    pending = null;
    if (p.run) run();
  }
}

export function show() {
  if (view) view.focus();
}

/** Puts a query in the editor (and runs it); works before the tab is first shown. */
export function setQuery(query, runIt) {
  if (!view) {
    pending = { query, run: runIt };
    return;
  }
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: query } });
  if (runIt) run();
}

function defaultQuery() {
  const d = ctx.datasets[0];
  return d ? `SELECT * FROM ${d.name} LIMIT 100` : 'SELECT 42 AS answer';
}

// Completion needs each dataset's columns: one manifest read per dataset, cached by version.
async function updateSchema(datasets) {
  const list = datasets.filter((d) => !d.error).slice(0, 300);
  await Promise.all(list.map(async (d) => {
    const c = schemaCache.get(d.name);
    if (c && c.version === d.version) return;
    try {
      const m = await api(`/catalog/datasets/${encodeURIComponent(d.name)}`);
      schemaCache.set(d.name, { version: m.version, columns: (m.columns || []).map((col) => ({
        label: col.name, type: 'property', detail: col.type })) });
    } catch {
      schemaCache.set(d.name, { version: d.version, columns: [] });
    }
  }));
  const schema = {};
  for (const d of list) schema[d.name] = (schemaCache.get(d.name) || { columns: [] }).columns;
  view.dispatch({ effects: language.reconfigure(sqlSupport(schema)) });
}

// lang-sql completes dataset names, and columns after "dataset."; this adds the bare column
// names of every dataset the query mentions, which is how people write single-table SQL.
function sqlSupport(schema) {
  const support = sqlLanguage({ dialect: PostgreSQL, upperCaseKeywords: true, schema });
  const columns = (context) => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
    if (!word && !context.explicit) return null;
    const text = context.state.doc.toString();
    const options = [];
    for (const [table, cols] of Object.entries(schema)) {
      if (!new RegExp(`\\b${table}\\b`, 'i').test(text)) continue;
      for (const c of cols) options.push({ label: c.label, type: 'property', detail: `${c.detail} · ${table}`, boost: 5 });
    }
    return options.length ? { from: word ? word.from : context.pos, options, validFor: /^[A-Za-z0-9_]*$/ } : null;
  };
  return [support, support.language.data.of({ autocomplete: columns })];
}

function queryText() {
  return view.state.doc.toString().trim();
}

async function run() {
  const q = queryText();
  if (!q) {
    setChildren(status, note('error', 'Write a query first.'));
    return;
  }
  if (running) running.abort();
  const ac = new AbortController();
  running = ac;
  runBtn.disabled = true;
  setChildren(status, h('span', { class: 'muted' }, 'Running…'));
  const t0 = performance.now();
  try {
    const res = await sql(q, { limit: Number(limitSel.value), signal: ac.signal });
    const rtt = performance.now() - t0;
    if (running !== ac) return;
    showResult(res, rtt);
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (chart) { chart.destroy(); chart = null; }
    setChildren(status, h('span', { class: 'bad' }, 'Failed'));
    setChildren(out, note('error', h('strong', {}, 'The query failed: '), describe(e)));
  } finally {
    if (running === ac) {
      running = null;
      runBtn.disabled = false;
    }
  }
}

function showResult(res, rtt) {
  if (chart) { chart.destroy(); chart = null; }
  const n = res.row_count ?? (res.rows || []).length;
  setChildren(status,
    h('span', { id: 'sql-rows' }, `${fmtInt(n)} row${n === 1 ? '' : 's'}`),
    ' · ', h('span', { id: 'sql-elapsed', title: 'time in the engine, then the whole round trip' },
      `${fmtMs(res.elapsed_ms ?? rtt)}${res.elapsed_ms !== undefined ? ` (${fmtMs(rtt)} round trip)` : ''}`),
    res.truncated ? h('span', { class: 'warn' }, ` · first ${fmtInt(n)} rows only: raise the limit or download CSV or Parquet`) : null);
  const chartBox = h('div', { class: 'card chart-card', id: 'sql-chart' });
  setChildren(out, chartBox, h('div', { class: 'card', id: 'sql-grid' }, renderGrid(res, { pageSize: 50 })));
  chart = renderChart(res, chartBox);
  if (!chart.kind) chartBox.append(chart.el);
}

const FORMAT_NAMES = { csv: 'CSV', parquet: 'Parquet' };

async function download(format, btn) {
  const q = queryText();
  if (!q) return;
  btn.disabled = true;
  const prev = btn.textContent;
  btn.textContent = `Preparing ${FORMAT_NAMES[format]}…`;
  try {
    const blob = await sqlDownload(q, format);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `query-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    setChildren(out, note('error', h('strong', {}, `The ${FORMAT_NAMES[format]} download failed: `), describe(e)));
  } finally {
    btn.disabled = false;
    btn.textContent = prev;
  }
}
