// Small DOM and formatting helpers. Text always goes in through text nodes, never innerHTML,
// so dataset names, cell values and server messages can hold anything.

/** h('div', {class: 'x', onclick: fn}, 'text', childNode, [more]) → element */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces el's children. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const intFmt = new Intl.NumberFormat('en-US');
export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return intFmt.format(Number(n));
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

export function fmtDuration(s) {
  if (s === null || s === undefined) return '—';
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60), ss = Math.floor(s % 60);
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min ${ss} s`;
  return `${ss} s`;
}

/** A value from a result cell as display text. */
export function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A message box: kind is 'error', 'info', 'ok' or 'warn'. */
export function note(kind, ...children) {
  return h('div', { class: `note note-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    ...children);
}

/** Renders any JSON value readably: arrays of objects as a table, objects as key/value rows. */
export function jsonView(value) {
  if (Array.isArray(value)) {
    if (value.length === 0) return h('p', { class: 'muted' }, 'None.');
    if (value.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const keys = [...new Set(value.flatMap((x) => Object.keys(x)))];
      return h('div', { class: 'table-wrap' },
        h('table', { class: 'kv-table' },
          h('thead', {}, h('tr', {}, keys.map((k) => h('th', { scope: 'col' }, k)))),
          h('tbody', {}, value.map((row) =>
            h('tr', {}, keys.map((k) => h('td', {}, cellText(row[k]))))))));
    }
    return h('ul', {}, value.map((x) => h('li', {}, cellText(x))));
  }
  if (value && typeof value === 'object') {
    return h('dl', { class: 'kv' },
      Object.entries(value).map(([k, v]) => [h('dt', {}, k),
        h('dd', {}, v && typeof v === 'object' ? jsonView(v) : cellText(v))]));
  }
  return h('span', {}, cellText(value));
}
