// A results grid: column names with their SQL types, numbers right-aligned, NULL marked,
// paged in the browser (the server already capped the row count).
import { cellText, fmtInt, h, setChildren } from './dom.js';
import { isNumericType } from './types.js';

// Binary floating point shows sums like 26771.630000000005: show at most 6 decimals (6
// significant digits below 1); the exact value is in the cell's tooltip and the CSV download.
function fmtFloat(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return cellText(v);
  if (Math.abs(v) >= 1e15) return String(v);
  return String(Math.abs(v) >= 1 ? Number(v.toFixed(6)) : Number(v.toPrecision(6)));
}

export function renderGrid(result, { pageSize = 50 } = {}) {
  const cols = result.columns || [];
  const rows = result.rows || [];
  const numeric = cols.map((c) => isNumericType(c.type));
  const floats = cols.map((c) => /^(DOUBLE|FLOAT|REAL)$/i.test(c.type));
  const wrap = h('div', { class: 'grid' });
  const tbody = h('tbody');
  const info = h('span', { class: 'page-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Previous page' }, '‹ Prev');
  const next = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Next page' }, 'Next ›');
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  let page = 0;

  const draw = () => {
    const start = page * pageSize;
    const slice = rows.slice(start, start + pageSize);
    setChildren(tbody, slice.map((r) => h('tr', {}, r.map((v, i) => (v === null
      ? h('td', { class: 'null' }, 'NULL')
      : h('td', { class: numeric[i] ? 'num' : '', title: floats[i] ? String(v) : undefined },
        floats[i] ? fmtFloat(v) : cellText(v)))))));
    info.textContent = rows.length
      ? `Rows ${fmtInt(start + 1)}–${fmtInt(start + slice.length)} of ${fmtInt(rows.length)}`
      : 'No rows';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  };
  prev.addEventListener('click', () => { page = Math.max(0, page - 1); draw(); });
  next.addEventListener('click', () => { page = Math.min(pages - 1, page + 1); draw(); });

  wrap.append(
    h('div', { class: 'table-wrap' },
      h('table', { class: 'results' },
        h('thead', {}, h('tr', {}, cols.map((c, i) => h('th', { scope: 'col', class: numeric[i] ? 'num' : '' },
          h('div', { class: 'col-name' }, c.name), h('div', { class: 'type' }, c.type))))),
        tbody)),
    pages > 1 || rows.length === 0 ? h('div', { class: 'pager' }, prev, info, next) : h('div', { class: 'pager' }, info));
  draw();
  return wrap;
}
