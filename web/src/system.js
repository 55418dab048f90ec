// System: the server's health, version and storage backend; then the operational views that
// other parts of the server provide (storage errors, vector indexes, index trials, cache).
// A view whose route this server build does not have says so instead of failing.
import { api, describe, isMissingRoute, openapi } from './api.js';
import { fmtBytes, fmtDuration, fmtInt, fmtTime, h, jsonView, note, setChildren } from './dom.js';
import { renderTrials } from './chart.js';

const TRIALS = '/hnsw/trials/{index}';

// Optional views: the first route the server documents (or, without a document, the first
// candidate) is read. Their bodies are rendered generically: arrays as tables.
const OPTIONAL = [
  { id: 'storage-errors', title: 'Recent storage errors', paths: ['/storage/errors'],
    pick: (b) => b, empty: 'No storage errors recorded.', render: renderStorageErrors },
  { id: 'vector-indexes', title: 'Vector indexes', paths: ['/vectors/indexes', '/vectors', '/hnsw/indexes'],
    like: /^\/(vectors|hnsw)(\/[a-z_]+)?$/, pick: (b) => b.indexes ?? b, empty: 'No vector indexes yet.',
    render: renderIndexes },
  { id: 'cache', title: 'Cache', paths: ['/cache'], pick: (b) => b, render: renderCache },
];

let healthBox, optionalBoxes, routesBox, trialsBox;
let trialsChart = null;

export function mount(panel) {
  healthBox = h('div', { id: 'system-health' });
  routesBox = h('div', { id: 'system-routes' });
  trialsBox = h('div', { class: 'body' });
  optionalBoxes = OPTIONAL.map((o) => h('div', { class: 'card', id: `system-${o.id}` },
    h('h2', {}, o.title), h('div', { class: 'body' }, h('p', { class: 'muted' }, 'Loading…'))));
  setChildren(panel,
    h('div', { class: 'system' },
      h('div', { class: 'card' },
        h('div', { class: 'card-head' }, h('h2', {}, 'Server'),
          h('button', { type: 'button', class: 'ghost', onclick: () => refresh() }, 'Refresh')),
        healthBox),
      optionalBoxes,
      h('div', { class: 'card', id: 'system-trials' }, h('h2', {}, 'Index trials'), trialsBox),
      h('div', { class: 'card' }, h('h2', {}, 'HTTP API'),
        h('p', { class: 'muted small' }, 'Everything this UI does goes through these routes; the full description is at ',
          h('a', { href: '/openapi.json' }, '/openapi.json'), '.'),
        routesBox)));
}

export function show() {
  refresh();
}

async function refresh() {
  loadHealth();
  const doc = await openapi();
  const loaded = OPTIONAL.map((o, i) => loadOptional(o, optionalBoxes[i].querySelector('.body'), doc));
  loadTrials(doc, await loaded[OPTIONAL.findIndex((o) => o.id === 'vector-indexes')]);
  renderRoutes(doc);
}

async function loadHealth() {
  try {
    const hl = await api('/health');
    setChildren(healthBox,
      h('dl', { class: 'facts' },
        fact('Status', h('span', { class: hl.status === 'ok' ? 'ok' : 'warn', id: 'health-status' }, hl.status)),
        fact('Version', `lakehouse ${hl.version}`),
        fact('DuckDB', hl.duckdb || '—'),
        fact('Storage backend', h('span', { id: 'health-storage' }, hl.storage || '—')),
        hl.bucket ? fact('Bucket served', h('span', { id: 'health-bucket' }, hl.bucket)) : null,
        Array.isArray(hl.buckets) && hl.buckets.length > 1
          ? fact('Buckets configured', hl.buckets.map((b) => (b && b.name) || String(b)).join(', ')) : null,
        fact('Datasets', hl.datasets === null ? 'unknown' : fmtInt(hl.datasets)),
        fact('Up for', fmtDuration(hl.uptime_s))),
      hl.error ? note('warn', `Degraded: ${hl.error}`) : null);
  } catch (e) {
    setChildren(healthBox, note('error', `Cannot read /health: ${describe(e)}`));
  }
}

// GET /vectors/indexes: [{name, current: {generation, dataset, column, count, dim, metric, m,
// ef_search, memory_bytes, published_at, ...}, generations: [...]}]. Null (generic view) for
// any other shape.
function renderIndexes(data) {
  if (!Array.isArray(data) || !data.every((x) => x && x.name && x.current && typeof x.current === 'object')) return null;
  return h('div', { class: 'indexes' }, data.map((ix) => {
    const c = ix.current;
    const gens = Array.isArray(ix.generations) ? ix.generations : [];
    return h('div', { class: 'index' },
      h('div', { class: 'index-head' }, h('strong', {}, ix.name),
        h('span', { class: 'tag' }, c.generation || 'current'),
        c.dataset ? h('span', { class: 'muted' }, `${c.dataset}${c.column ? `.${c.column}` : ''}${c.dataset_version ? ` v${c.dataset_version}` : ''}`) : null),
      h('dl', { class: 'facts' },
        c.count !== undefined ? fact('Vectors', fmtInt(c.count)) : null,
        c.dim !== undefined ? fact('Dimensions', String(c.dim)) : null,
        c.metric ? fact('Metric', c.metric) : null,
        c.m !== undefined ? fact('M / ef', `${c.m} / ${c.ef_search ?? '—'}`) : null,
        c.quantize ? fact('Quantize', c.quantize) : null,
        c.memory_bytes !== undefined ? fact('Memory', fmtBytes(c.memory_bytes)) : null,
        fact('Published', fmtTime(c.published_at || c.created_at))),
      gens.length > 1
        ? h('details', {}, h('summary', {}, `${gens.length} generations`),
          h('ol', { class: 'generations' }, gens.map((g) => h('li', {},
            `${g.generation}${g.current ? ' (current)' : ''}: ${fmtInt(g.count)} vectors, ${fmtTime(g.published_at || g.created_at)}`))))
        : h('p', { class: 'muted small' }, `${gens.length || 1} generation`));
  }));
}

// GET /cache: {enabled, budget_bytes, used_bytes, entries: [{dataset, cached, pinned, version,
// bytes, rows, hits, misses}]}, with Pin/Unpin (POST /cache/pin|unpin {dataset}) per entry
// and for any catalog dataset. Null (generic view) for any other shape.
function renderCache(body) {
  if (!body || !Array.isArray(body.entries)) return null;
  const box = h('div', { class: 'cache' });
  const act = async (route, dataset) => {
    try {
      setChildren(box, renderCache(await api(route, { method: 'POST', json: { dataset } })));
    } catch (e) {
      box.append(note('error', `Cannot ${route === '/cache/pin' ? 'pin' : 'unpin'} ${dataset}: ${describe(e)}`));
    }
  };
  const entries = body.entries;
  const pinSelect = h('select', { id: 'cache-pin-dataset', 'aria-label': 'Dataset to pin' });
  api('/catalog/datasets').then((c) => setChildren(pinSelect, ((c && c.datasets) || [])
    .filter((d) => !entries.some((e) => e.dataset === d.name && e.pinned))
    .map((d) => h('option', { value: d.name }, d.name)))).catch(() => {});
  setChildren(box,
    h('p', { id: 'cache-summary' }, body.enabled
      ? `${fmtBytes(body.used_bytes)} of ${fmtBytes(body.budget_bytes)} in use; ${fmtInt(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'}.`
      : 'The cache is off (cache_bytes: 0): every query reads the lake.'),
    entries.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'cache-entries' },
        h('thead', {}, h('tr', {}, ['Dataset', 'In memory', 'Rows', 'Bytes', 'Hits', 'Misses', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, entries.map((e) => h('tr', {},
          h('td', {}, e.dataset, e.pinned ? h('span', { class: 'tag' }, 'pinned') : null),
          h('td', {}, e.cached ? `v${e.version}` : 'no'),
          h('td', { class: 'num' }, fmtInt(e.rows)), h('td', { class: 'num' }, fmtBytes(e.bytes)),
          h('td', { class: 'num' }, fmtInt(e.hits)), h('td', { class: 'num' }, fmtInt(e.misses)),
          h('td', {}, h('button', { type: 'button', class: 'ghost',
            onclick: () => act(e.pinned ? '/cache/unpin' : '/cache/pin', e.dataset) }, e.pinned ? 'Unpin' : 'Pin')))))))
      : h('p', { class: 'muted' }, 'Nothing is cached yet: datasets come in as they are queried.'),
    body.enabled ? h('div', { class: 'toolbar' }, pinSelect,
      h('button', { type: 'button', id: 'cache-pin', onclick: () => pinSelect.value && act('/cache/pin', pinSelect.value) },
        'Pin in memory')) : null);
  return box;
}

// GET /storage/errors: {total, counts: [{bucket, op, status, count}], events: [{time, bucket,
// op, key, status, errno, code, attempts, message, rescued_by}]} (events newest first). The
// counts as bars, then the events as a table. Null (generic view) for any other shape.
function renderStorageErrors(body) {
  if (!body || !Array.isArray(body.events) || !Array.isArray(body.counts)) return null;
  if (!body.total) return h('p', { class: 'muted', id: 'storage-errors-none' }, 'No storage errors recorded.');
  const counts = [...body.counts].sort((a, b) => b.count - a.count);
  const max = Math.max(1, ...counts.map((c) => c.count));
  const label = (c) => `${c.bucket} · ${c.op}${c.status ? ` · HTTP ${c.status}` : ''}`;
  const bars = h('figure', { class: 'bars', id: 'storage-error-counts',
    'aria-label': `storage errors by bucket, operation and status: ${counts.map((c) => `${label(c)}: ${c.count}`).join('; ')}` },
  h('figcaption', { class: 'muted small' },
    `${fmtInt(body.total)} error${body.total === 1 ? '' : 's'} by bucket, operation and status`),
  counts.map((c) => h('div', { class: 'bar-row' },
    h('span', { class: 'bar-label' }, label(c)),
    h('span', { class: 'bar-track' }, h('span', { class: 'bar', style: `width:${(100 * c.count) / max}%` })),
    h('span', { class: 'bar-value' }, fmtInt(c.count)))));
  const shown = body.events.length;
  const rows = body.events.map((e) => h('tr', {},
    h('td', { class: 'nowrap' }, fmtTime(e.time)),
    h('td', {}, e.bucket, e.rescued_by ? h('div', { class: 'muted small' }, `served by ${e.rescued_by}`) : null),
    h('td', {}, e.op),
    h('td', { class: 'key' }, h('code', {}, e.key || '—')),
    h('td', {}, [e.code, e.status ? `HTTP ${e.status}` : null, e.errno ? `errno ${e.errno}` : null]
      .filter(Boolean).join(' · '), e.attempts > 1 ? h('div', { class: 'muted small' }, `${e.attempts} attempts`) : null),
    h('td', { class: 'msg' }, e.message)));
  return h('div', {},
    bars,
    h('div', { class: 'table-wrap' }, h('table', { class: 'results storage-errors' },
      h('thead', {}, h('tr', {}, ['When', 'Bucket', 'Operation', 'Key', 'Error', 'Message'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows))),
    shown < body.total ? h('p', { class: 'muted small' }, `The newest ${fmtInt(shown)} of ${fmtInt(body.total)} events.`) : null);
}

function fact(k, v) {
  return h('div', {}, h('dt', {}, k), h('dd', {}, v));
}

function notAvailable(o) {
  return h('p', { class: 'unavailable' },
    `Not available in this build: the server has no ${o.paths[0]} route yet.`);
}

async function loadOptional(o, box, doc) {
  // A known path first; else any parameterless GET route of the same family.
  const gets = doc && doc.paths ? Object.keys(doc.paths).filter((p) => doc.paths[p].get) : null;
  const documented = gets
    ? o.paths.find((p) => gets.includes(p)) || (o.like && gets.find((p) => o.like.test(p)))
    : o.paths[0];
  if (!documented) {
    setChildren(box, notAvailable(o));
    return;
  }
  try {
    const body = await api(documented);
    const data = body && typeof body === 'object' ? o.pick(body) : body;
    setChildren(box, Array.isArray(data) && data.length === 0
      ? h('p', { class: 'muted' }, o.empty)
      : (o.render && o.render(data)) || jsonView(data));
    return data;
  } catch (e) {
    setChildren(box, isMissingRoute(e) ? notAvailable(o) : note('error', `${documented}: ${describe(e)}`));
    return null;
  }
}

// Trials of one index (GET /hnsw/trials/{index}) as recall against latency with the Pareto
// front; the index is chosen among those the vector-index view listed.
async function loadTrials(doc, indexes) {
  if (trialsChart) { trialsChart.destroy(); trialsChart = null; }
  if (doc && doc.paths && !(doc.paths[TRIALS] && doc.paths[TRIALS].get)) {
    setChildren(trialsBox, h('p', { class: 'unavailable' },
      'Not available in this build: the server has no /hnsw/trials/{index} route yet.'));
    return;
  }
  const names = (Array.isArray(indexes) ? indexes : [])
    .map((x) => (x && typeof x === 'object' ? x.name ?? x.index : x)).filter((x) => typeof x === 'string');
  if (!names.length) {
    setChildren(trialsBox, h('p', { class: 'muted' }, 'No index trials yet: trials appear once a vector index is built.'));
    return;
  }
  const chartBox = h('div');
  const show = async (name) => {
    if (trialsChart) { trialsChart.destroy(); trialsChart = null; }
    setChildren(chartBox, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const body = await api(TRIALS.replace('{index}', encodeURIComponent(name)));
      const trials = Array.isArray(body) ? body : body.trials ?? [];
      chartBox.replaceChildren();
      if (!trials.length) chartBox.append(h('p', { class: 'muted' }, `No trials for ${name} yet.`));
      else trialsChart = renderTrials(trials, chartBox);
    } catch (e) {
      setChildren(chartBox, isMissingRoute(e)
        ? h('p', { class: 'unavailable' }, 'Not available in this build: the server has no /hnsw/trials route yet.')
        : note('error', `Trials of ${name}: ${describe(e)}`));
    }
  };
  const sel = h('select', { id: 'trials-index', 'aria-label': 'Index', onchange: (e) => show(e.target.value) },
    names.map((n) => h('option', { value: n }, n)));
  setChildren(trialsBox, h('label', { class: 'inline' }, 'Index ', sel), chartBox);
  show(names[0]);
}

function renderRoutes(doc) {
  if (!doc || !doc.paths) {
    setChildren(routesBox, note('warn', 'The server did not send its API description (/openapi.json).'));
    return;
  }
  const rows = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      rows.push(h('tr', {}, h('td', {}, h('span', { class: `method m-${method}` }, method.toUpperCase())),
        h('td', {}, h('code', {}, path), op && op.summary ? h('div', { class: 'muted small' }, op.summary) : null)));
    }
  }
  setChildren(routesBox, h('div', { class: 'table-wrap' }, h('table', { class: 'routes' }, h('tbody', {}, rows))));
}
