// Explore: the catalog (datasets with rows, size, versions), one dataset's schema, metadata,
// a sample of rows and its version history; and uploading a CSV/NDJSON file to create or
// append to a dataset, with upload progress and ingest errors shown with line and column.
import { api, describe, hasRoute, ingestErrorParts, ingestUpload, sql } from './api.js';
import { cellText, fmtBytes, fmtInt, fmtTime, h, note, setChildren } from './dom.js';
import { renderGrid } from './grid.js';

let ctx;
let listBody, listStatus, filterInput, detail, uploadOut;
let selected = null;

export function mount(panel, context) {
  ctx = context;
  filterInput = h('input', {
    type: 'search', placeholder: 'Filter datasets', 'aria-label': 'Filter datasets',
    oninput: () => renderList(ctx.datasets),
  });
  listBody = h('tbody');
  listStatus = h('div', { class: 'list-status', role: 'status' });
  detail = h('div', { class: 'detail', id: 'dataset-detail', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, 'Choose a dataset to see its schema, a sample of rows and its versions.'));
  setChildren(panel,
    h('div', { class: 'explore' },
      h('div', { class: 'explore-side' },
        uploadCard(),
        h('div', { class: 'card' },
          h('div', { class: 'card-head' },
            h('h2', {}, 'Datasets'),
            h('button', { class: 'ghost', type: 'button', onclick: () => reload(),
              title: 'Reload the catalog' }, 'Reload')),
          filterInput,
          listStatus,
          h('div', { class: 'table-wrap' },
            h('table', { class: 'datasets', id: 'datasets' },
              h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, 'Name'),
                h('th', { scope: 'col', class: 'num' }, 'Rows'),
                h('th', { scope: 'col', class: 'num' }, 'Size'),
                h('th', { scope: 'col', class: 'num' }, 'Ver.'))),
              listBody)))),
      detail));
  ctx.onCatalog(renderList);
  reload();
}

/** Shows the tab; name (from "#explore/<name>") opens that dataset. */
export function show(name) {
  if (name && name !== selected) openDataset(name);
}

async function reload() {
  listStatus.textContent = 'Loading…';
  try {
    await ctx.refreshCatalog();
  } catch (e) {
    setChildren(listStatus, note('error', `Cannot list datasets: ${describe(e)}`));
  }
}

function renderList(datasets) {
  const f = filterInput.value.trim().toLowerCase();
  const shown = datasets.filter((d) => !f || d.name.includes(f));
  listStatus.textContent = datasets.length === 0
    ? 'No datasets yet: upload a CSV or NDJSON file above.'
    : `${fmtInt(datasets.length)} dataset${datasets.length === 1 ? '' : 's'}` +
      (shown.length !== datasets.length ? `, ${shown.length} shown` : '');
  setChildren(listBody, shown.map((d) => {
    if (d.error) {
      return h('tr', {}, h('td', { colspan: 4 },
        h('span', { class: 'bad' }, `${d.name}: ${d.error.message || d.error.code}`)));
    }
    return h('tr', { class: d.name === selected ? 'selected' : '', dataset: { name: d.name } },
      h('td', {}, h('button', { class: 'link', type: 'button', onclick: () => openDataset(d.name),
        'aria-current': d.name === selected ? 'true' : undefined }, d.name)),
      h('td', { class: 'num' }, fmtInt(d.rows)),
      h('td', { class: 'num' }, fmtBytes(d.bytes)),
      h('td', { class: 'num' }, `v${d.version}`));
  }));
}

// ------------------------------------------------------------------ one dataset

async function openDataset(name, version) {
  selected = name;
  window.history.replaceState(null, '', `#explore/${encodeURIComponent(name)}`);
  renderList(ctx.datasets);
  setChildren(detail, h('p', { class: 'muted' }, `Loading ${name}…`));
  let m;
  try {
    m = await api(`/catalog/datasets/${encodeURIComponent(name)}` +
      (version ? `?version=${version}` : ''));
  } catch (e) {
    setChildren(detail, note('error', `Cannot read dataset ${name}: ${describe(e)}`));
    return;
  }
  const cols = m.columns || [];
  const latest = m.latest_version ?? m.version;
  const meta = m.metadata && typeof m.metadata === 'object' ? m.metadata : {};
  const metaKeys = ['owner', 'tags', 'sensitivity', 'description'].filter((k) => meta[k] !== undefined);
  const otherMeta = Object.keys(meta).filter((k) => !metaKeys.includes(k));
  const sample = h('div', { class: 'sample' }, h('p', { class: 'muted' }, 'Loading a sample…'));
  const historyBox = h('div', { class: 'history' });
  const sampleSql = `SELECT * FROM ${quoteIdent(name)} LIMIT 20`;

  setChildren(detail,
    h('div', { class: 'card' },
      h('div', { class: 'card-head' },
        h('h2', {}, name, version && version !== latest ? h('span', { class: 'tag' }, `viewing v${version}`) : null),
        h('button', { type: 'button', class: 'ghost', onclick: () => ctx.openSql(sampleSql, true) },
          'Query in SQL')),
      h('dl', { class: 'facts' },
        fact('Rows', fmtInt(m.rows)),
        fact('Size', fmtBytes(m.bytes)),
        fact('Version', `v${m.version}${latest !== m.version ? ` of ${latest}` : ''}`),
        fact('Columns', fmtInt(cols.length)),
        fact('Files', fmtInt((m.files || []).length)),
        fact('Updated', fmtTime(m.updated_at))),
      metaKeys.length || otherMeta.length
        ? h('dl', { class: 'facts meta' },
          metaKeys.map((k) => fact(k[0].toUpperCase() + k.slice(1),
            Array.isArray(meta[k]) ? meta[k].join(', ') : cellText(meta[k]))),
          otherMeta.map((k) => fact(k, cellText(meta[k]))))
        : null),
    h('div', { class: 'card' },
      h('h3', {}, 'Schema'),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'schema' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Column'),
            h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Nullable'))),
          h('tbody', {}, cols.map((c) => h('tr', {},
            h('td', {}, h('code', {}, c.name)),
            h('td', {}, h('span', { class: 'type' }, c.type)),
            h('td', {}, c.nullable === false ? 'no' : 'yes'))))))),
    h('div', { class: 'card' }, h('h3', {}, 'Sample rows'), sample),
    h('div', { class: 'card' }, h('h3', {}, 'Version history'), historyBox));

  renderHistory(historyBox, name, m);
  if (version && version !== latest) {
    setChildren(sample, h('p', { class: 'muted' },
      'Samples come from the latest version (SQL reads the current data).'));
  }
  try {
    const res = await sql(sampleSql, { limit: 20 });
    if (selected !== name) return;
    setChildren(sample, renderGrid(res, { pageSize: 20 }));
  } catch (e) {
    setChildren(sample, note('error', `Cannot read a sample: ${describe(e)}`));
  }
}

function fact(k, v) {
  return h('div', {}, h('dt', {}, k), h('dd', {}, v));
}

function quoteIdent(name) {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

// The manifest lists every version number; each version's manifest says what changed
// (op, actor, rows, sources added, and why), and the journal its events. Newest first, the last 10 fetched, the rest on
// demand.
async function renderHistory(el, name, m) {
  const versions = [...(m.versions || [m.version])].sort((a, b) => b - a);
  const list = h('ol', { class: 'versions', reversed: true });
  setChildren(el, list);
  const journal = journalByVersion(name);
  const manifests = new Map([[m.version, Promise.resolve(m)]]);
  const manifest = (v) => {
    if (!manifests.has(v)) manifests.set(v, api(`/catalog/datasets/${encodeURIComponent(name)}?version=${v}`));
    return manifests.get(v);
  };
  // A version's reason: its own "reason" field if the manifest has one; else the ingest's
  // metadata.last_reason when this version set it (it differs from the older version's, as
  // the value is carried forward by versions committed without a reason).
  const reasonOf = async (v, mv) => {
    if (typeof mv.reason === 'string' && mv.reason) return mv.reason;
    const last = mv.metadata && mv.metadata.last_reason;
    if (typeof last !== 'string' || !last) return null;
    const older = versions[versions.indexOf(v) + 1];
    if (older === undefined) return last;
    try {
      const mo = await manifest(older);
      return (mo.metadata && mo.metadata.last_reason) === last ? null : last;
    } catch {
      return null;
    }
  };
  const showVersions = async (vs) => {
    for (const v of vs) {
      const item = h('li', { value: v }, h('span', { class: 'muted' }, `v${v}…`));
      list.append(item);
      try {
        const mv = await manifest(v);
        const reason = await reasonOf(v, mv);
        const added = (mv.sources || []).filter((s) => s.version === v);
        setChildren(item,
          h('div', { class: 'version-head' },
            h('button', { type: 'button', class: 'link', onclick: () => openDataset(name, v),
              title: `Show version ${v}` }, `v${v}`),
            h('span', { class: 'tag' }, mv.op || 'commit'),
            h('span', {}, `${fmtInt(mv.rows)} rows`),
            h('span', { class: 'muted' }, fmtTime(mv.updated_at || mv.created_at)),
            mv.actor ? h('span', { class: 'muted' }, `by ${mv.actor}`) : null),
          reason ? h('div', { class: 'muted reason' }, `why: ${reason}`) : null,
          added.length
            ? h('ul', { class: 'sources' }, added.map((s) => h('li', {},
              `${s.name || 'upload'}: ${fmtInt(s.rows)} rows, ${fmtBytes(s.bytes)}`,
              h('code', { class: 'hash', title: s.sha256 }, ` ${String(s.sha256 || '').slice(0, 12)}`))))
            : null,
          ((await journal) || new Map()).has(v) ? journalEvents((await journal).get(v)) : null);
      } catch (e) {
        setChildren(item, note('error', `v${v}: ${describe(e)}`));
      }
    }
  };
  await showVersions(versions.slice(0, 10));
  if (versions.length > 10) {
    const more = h('button', { type: 'button', class: 'ghost', onclick: async () => {
      more.remove();
      await showVersions(versions.slice(10));
    } }, `Show ${versions.length - 10} older versions`);
    el.append(more);
  }
}

// The dataset's journal (GET /journal/{dataset}) as events grouped by version: a Map from
// version to [{ts, key, field, old_value, new_value, op, actor, source, reason}]. Null when the
// server has no journal route or it cannot be read (the history then shows without events).
async function journalByVersion(name) {
  if (!(await hasRoute('get', '/journal/{dataset}'))) return null;
  try {
    const body = await api(`/journal/${encodeURIComponent(name)}`);
    const cols = (body.columns || []).map((c) => c.name);
    const byVersion = new Map();
    for (const row of body.events || []) {
      const ev = Object.fromEntries(cols.map((c, i) => [c, row[i]]));
      if (!byVersion.has(ev.version)) byVersion.set(ev.version, []);
      byVersion.get(ev.version).push(ev);
    }
    return byVersion;
  } catch {
    return null;
  }
}

function journalEvents(events) {
  const shown = events.slice(0, 20);
  const text = (v) => (v === null || v === undefined ? '∅' : String(v));
  return h('details', { class: 'journal', open: events.length <= 5 },
    h('summary', {}, `${fmtInt(events.length)} journal event${events.length === 1 ? '' : 's'}`),
    h('ul', { class: 'journal-events' }, shown.map((e) => h('li', {},
      h('span', { class: 'tag' }, e.op),
      e.key ? h('code', {}, ` ${e.key}`) : null,
      ` ${e.field}: `, e.old_value !== null && e.old_value !== undefined ? [h('del', {}, text(e.old_value)), ' → '] : null,
      h('ins', {}, text(e.new_value)),
      h('span', { class: 'muted small' }, ` · ${e.actor || 'unknown'}${e.source ? ` · ${e.source}` : ''}${e.reason ? ` · why: ${e.reason}` : ''}`)))),
    events.length > shown.length ? h('p', { class: 'muted small' }, `and ${fmtInt(events.length - shown.length)} more`) : null);
}

// ----------------------------------------------------------------------- upload

function datasetNameFrom(fileName) {
  let n = fileName.replace(/\.(csv|tsv|ndjson|jsonl|json|txt)(\.gz)?$/i, '').toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!n) n = 'upload';
  if (!/^[a-z_]/.test(n)) n = `_${n}`;
  return n.slice(0, 128);
}

function uploadCard() {
  const fileInput = h('input', { type: 'file', id: 'upload-file',
    accept: '.csv,.tsv,.ndjson,.jsonl,.json,.txt,text/csv,application/x-ndjson' });
  const nameInput = h('input', { type: 'text', id: 'upload-dataset', autocomplete: 'off',
    spellcheck: 'false', placeholder: 'dataset_name', pattern: '[a-z_][a-z0-9_]{0,127}' });
  const formatSel = h('select', { id: 'upload-format' },
    h('option', { value: 'auto' }, 'detect'), h('option', { value: 'csv' }, 'CSV'),
    h('option', { value: 'ndjson' }, 'NDJSON'));
  const reasonInput = h('input', { type: 'text', id: 'upload-reason', autocomplete: 'off',
    maxlength: 500, placeholder: 'optional: why (kept with the version)' });
  const target = h('p', { class: 'muted target' });
  const bar = h('progress', { max: 1, value: 0, id: 'upload-progress', 'aria-label': 'Upload progress' });
  const pct = h('span', { class: 'pct' });
  const progress = h('div', { class: 'progress', hidden: true }, bar, pct);
  const button = h('button', { type: 'submit', id: 'upload-button' }, 'Upload');
  let uploading = null; // AbortController of the running upload
  let sent = false;     // whether every byte reached the server
  const cancel = h('button', { type: 'button', class: 'ghost', id: 'upload-cancel', hidden: true,
    onclick: () => uploading && uploading.abort() }, 'Cancel');
  uploadOut = h('div', { id: 'upload-result', 'aria-live': 'polite' });

  const describeTarget = () => {
    const n = nameInput.value.trim();
    if (!n) return target.replaceChildren();
    const existing = ctx.datasets.find((d) => d.name === n);
    target.textContent = existing
      ? `Appends to ${n} (now v${existing.version}, ${fmtInt(existing.rows)} rows); the same file twice changes nothing.`
      : `Creates a new dataset ${n}.`;
  };
  // The dataset name follows the chosen file until the user types one.
  let nameAuto = true;
  fileInput.addEventListener('change', () => {
    const f = fileInput.files[0];
    if (f && (nameAuto || !nameInput.value.trim())) {
      nameInput.value = datasetNameFrom(f.name);
      nameAuto = true;
    }
    if (f && /\.(ndjson|jsonl|json)$/i.test(f.name)) formatSel.value = 'ndjson';
    else if (f && /\.(csv|tsv)$/i.test(f.name)) formatSel.value = 'csv';
    describeTarget();
  });
  nameInput.addEventListener('input', () => {
    nameAuto = false;
    describeTarget();
  });
  ctx.onCatalog(describeTarget);

  const form = h('form', { class: 'upload', onsubmit: async (e) => {
    e.preventDefault();
    const file = fileInput.files[0];
    const dataset = nameInput.value.trim();
    if (!file) return setChildren(uploadOut, note('error', 'Choose a CSV or NDJSON file first.'));
    if (!/^[a-z_][a-z0-9_]{0,127}$/.test(dataset)) {
      return setChildren(uploadOut, note('error',
        `"${dataset}" is not a valid dataset name: use 1-128 lowercase letters, digits or _, starting with a letter or _.`));
    }
    button.disabled = true;
    uploading = new AbortController();
    sent = false;
    cancel.hidden = false;
    progress.hidden = false;
    bar.value = 0;
    pct.textContent = '0%';
    setChildren(uploadOut, h('p', { class: 'muted' }, `Uploading ${file.name} (${fmtBytes(file.size)})…`));
    try {
      const res = await ingestUpload(file, {
        dataset, format: formatSel.value, reason: reasonInput.value.trim(), signal: uploading.signal,
        onProgress: (f) => {
          if (f >= 1) sent = true;
          bar.value = f;
          pct.textContent = `${Math.round(f * 100)}%`;
          if (f >= 1) {
            pct.textContent = '100% · ingesting…';
            setChildren(uploadOut, h('p', { class: 'muted' }, 'Uploaded; converting to Parquet and committing…'));
          }
        },
      });
      setChildren(uploadOut, res.noop
        ? note('info', `${file.name} was already ingested into ${res.dataset} (same bytes): nothing changed, still v${res.version}.`)
        : note('ok', `${res.created ? 'Created' : 'Appended to'} ${res.dataset}: `,
          h('strong', {}, `${fmtInt(res.rows)} rows`), ` → version ${res.version}`,
          res.rejected ? `, ${fmtInt(res.rejected)} rows rejected` : '', '.'));
      if (!res.noop) reasonInput.value = '';
      await ctx.refreshCatalog().catch(() => {});
      openDataset(res.dataset);
    } catch (err) {
      if (err.code === 'canceled') {
        setChildren(uploadOut, note('warn', sent
          ? 'Canceled after the whole file was sent: the server may still commit it. Reload the dataset list to see.'
          : 'Upload canceled before the file was complete: nothing was committed.'));
      } else {
        setChildren(uploadOut, ingestErrorBox(err, file.name));
      }
    } finally {
      button.disabled = false;
      progress.hidden = true;
      cancel.hidden = true;
      uploading = null;
    }
  } },
  h('div', { class: 'field' }, h('label', { for: 'upload-file' }, 'File (CSV or NDJSON)'), fileInput),
  h('div', { class: 'row' },
    h('div', { class: 'field grow' }, h('label', { for: 'upload-dataset' }, 'Dataset'), nameInput),
    h('div', { class: 'field' }, h('label', { for: 'upload-format' }, 'Format'), formatSel)),
  h('div', { class: 'field' }, h('label', { for: 'upload-reason' }, 'Reason'), reasonInput),
  target,
  h('div', { class: 'row' }, button, progress, cancel));

  return h('div', { class: 'card' }, h('h2', {}, 'Upload'), form, uploadOut);
}

/** The ingest error, spelled out: file, line, column, problem; and that nothing changed. */
function ingestErrorBox(err, fileName) {
  const p = ingestErrorParts(err);
  return h('div', { class: 'note note-error ingest-error', role: 'alert' },
    h('strong', {}, 'Upload refused — nothing was committed.'),
    h('dl', { class: 'facts' },
      fact('File', p.source || fileName),
      p.line !== null ? fact('Line', String(p.line)) : null,
      p.column !== null ? fact('Column', String(p.column)) : null,
      p.position !== null ? fact('Character', String(p.position)) : null,
      fact('Problem', p.message)));
}
