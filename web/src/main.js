// The app shell: four tabs (Ask, Explore, SQL, System), chosen by the URL hash so that a
// reload or a shared link opens the same tab. Each tab is mounted once, on first view.
import './style.css';
import { api, describe } from './api.js';
import { h, setChildren } from './dom.js';
import * as ask from './ask.js';
import * as explore from './explore.js';
import * as sqlTab from './sql.js';
import * as system from './system.js';

const tabs = { ask, explore, sql: sqlTab, system };
const order = ['ask', 'explore', 'sql', 'system'];
const mounted = new Set();

// Shared state: the catalog (for Explore and for SQL completion) and cross-tab actions.
const listeners = new Set();
const ctx = {
  datasets: [],
  /** Reloads GET /catalog/datasets and tells every listener. */
  async refreshCatalog() {
    const body = await api('/catalog/datasets');
    ctx.datasets = (body && body.datasets) || [];
    for (const fn of listeners) fn(ctx.datasets);
    return ctx.datasets;
  },
  onCatalog(fn) {
    listeners.add(fn);
  },
  /** Opens the SQL tab with a query in the editor (run it when run is true). */
  openSql(query, run = false) {
    location.hash = '#sql';
    select('sql');
    sqlTab.setQuery(query, run);
  },
};

function select(name, focus = false, arg = null) {
  if (!tabs[name]) name = 'explore';
  for (const t of order) {
    const btn = document.getElementById(`tab-${t}`);
    const panel = document.getElementById(`panel-${t}`);
    const on = t === name;
    btn.setAttribute('aria-selected', String(on));
    btn.tabIndex = on ? 0 : -1;
    panel.hidden = !on;
  }
  if (!mounted.has(name)) {
    mounted.add(name);
    tabs[name].mount(document.getElementById(`panel-${name}`), ctx);
  }
  if (tabs[name].show) tabs[name].show(arg);
  if (focus) document.getElementById(`tab-${name}`).focus();
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · lakehouse`;
}

// "#explore/candidates" opens a tab with an argument (here: a dataset).
function fromHash() {
  const [name, ...rest] = location.hash.replace(/^#/, '').split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
  select(tabs[name] ? name : 'explore', false, arg);
}

// Tabs follow the WAI-ARIA pattern: click or Enter selects, arrow keys move between tabs.
const tablist = document.querySelector('[role=tablist]');
tablist.addEventListener('click', (e) => {
  const btn = e.target.closest('[data-tab]');
  if (btn && !location.hash.startsWith(`#${btn.dataset.tab}`)) location.hash = `#${btn.dataset.tab}`;
});
tablist.addEventListener('keydown', (e) => {
  const i = order.indexOf(document.activeElement && document.activeElement.dataset.tab);
  if (i < 0) return;
  let j = null;
  if (e.key === 'ArrowRight') j = (i + 1) % order.length;
  else if (e.key === 'ArrowLeft') j = (i + order.length - 1) % order.length;
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = order.length - 1;
  if (j === null) return;
  e.preventDefault();
  location.hash = `#${order[j]}`;
  select(order[j], true);
});
window.addEventListener('hashchange', fromHash);

// The connection badge in the header: the server's version, or why it cannot be reached.
async function checkHealth() {
  const conn = document.getElementById('conn');
  try {
    const hl = await api('/health');
    setChildren(conn, h('span', { class: `dot ${hl.status === 'ok' ? 'ok' : 'warn'}` }),
      `v${hl.version} · ${hl.storage}`);
    conn.title = hl.status === 'ok' ? 'server healthy' : `server degraded: ${hl.error || ''}`;
  } catch (e) {
    setChildren(conn, h('span', { class: 'dot bad' }), 'server unreachable');
    conn.title = describe(e);
  }
}

fromHash();
checkHealth();
setInterval(checkHealth, 30000);
