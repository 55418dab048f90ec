// Ask: a question goes to POST /rag (an answer with cited sources) or POST /ask (NL→SQL:
// the generated SQL, editable and runnable in the SQL tab). /rag is asked of a text index
// (picked from GET /vectors/indexes); its sources are cited as [n] → dataset, row, chunk. Which routes exist is read from
// the server's OpenAPI document; a server without them gets a plain explanation instead.
import { api, describe, isMissingRoute, operation } from './api.js';
import { h, note, setChildren } from './dom.js';
import { renderGrid } from './grid.js';

const MODES = {
  rag: { path: '/rag', label: 'Answer from the data', hint: 'Finds passages by meaning and answers with numbered sources.' },
  ask: { path: '/ask', label: 'Write SQL for me', hint: 'Turns the question into SQL you can check, edit and run.' },
};

let ctx, form, input, out, banner, modeBox, sourceSelect, sourceRow;
let available = { rag: false, ask: false };

export function mount(panel, context) {
  ctx = context;
  input = h('textarea', { id: 'ask-input', rows: 3, placeholder: 'e.g. Which Java developers in Chicago were called 5+ times but never placed?',
    'aria-label': 'Your question',
    onkeydown: (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); } } });
  banner = h('div', { id: 'ask-banner' });
  modeBox = h('div', { class: 'modes', role: 'radiogroup', 'aria-label': 'How to answer',
    onchange: () => syncSourceRow() });
  sourceSelect = h('select', { id: 'ask-source', 'aria-label': 'Text index to answer from' });
  out = h('div', { id: 'ask-out', 'aria-live': 'polite' });
  form = h('form', { class: 'card ask', onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('h2', {}, 'Ask a question'),
    input,
    modeBox,
    h('div', { class: 'toolbar' },
      sourceRow = h('span', { id: 'ask-source-row' },
        h('label', { class: 'muted small', for: 'ask-source' }, 'Answer from '), sourceSelect),
      h('button', { type: 'submit', id: 'ask-button' }, 'Ask', h('kbd', {}, 'Ctrl+Enter'))));
  setChildren(panel, h('div', { class: 'ask-wrap' }, banner, form, out));
  detect();
}

export function show() {
  if (input) input.focus();
  if (sourceSelect) loadSources();
}

async function detect() {
  const [rag, ask] = await Promise.all([operation('post', '/rag'), operation('post', '/ask')]);
  available = { rag: Boolean(rag), ask: Boolean(ask) };
  renderModes();
  if (!available.rag && !available.ask) setChildren(banner, unavailableNote());
  else setChildren(banner);
}

function unavailableNote() {
  return note('info',
    h('strong', {}, 'Questions in plain language are not available in this build. '),
    'This server has no search or answer API yet (no /rag or /ask route). ',
    'Meanwhile, browse the datasets in ', h('a', { href: '#explore' }, 'Explore'),
    ' and query them in ', h('a', { href: '#sql' }, 'SQL'), '. ',
    h('br'),
    'Once a build with search is running, questions are answered offline from the built-in embedder ',
    '(best supporting passages, with citations). For written answers and SQL generation, point the ',
    'server at a model server you run — Ollama, or an OpenAI-compatible one such as llama.cpp’s ',
    h('code', {}, 'llama-server'), ' — with ', h('code', {}, 'generator: ollama'), ' (or ',
    h('code', {}, 'openai'), '), ', h('code', {}, 'generator_url'), ' and ',
    h('code', {}, 'generator_model'), ' in ', h('code', {}, 'lakehouse.yaml'), ' or ',
    h('code', {}, 'LAKEHOUSE_GENERATOR…'), ' variables; see “Embeddings and models” in the README.');
}

function renderModes() {
  const modes = Object.entries(MODES).filter(([k]) => available[k]);
  if (modes.length < 2) {
    setChildren(modeBox, modes.length ? h('p', { class: 'muted small' }, MODES[modes[0][0]].hint) : null);
    syncSourceRow();
    return;
  }
  setChildren(modeBox, modes.map(([k, m], i) => h('label', { class: 'mode' },
    h('input', { type: 'radio', name: 'ask-mode', value: k, checked: i === 0 }),
    h('span', {}, h('strong', {}, m.label), h('span', { class: 'muted small' }, ` — ${m.hint}`)))));
  syncSourceRow();
}

// The text index picker is for /rag only.
function syncSourceRow() {
  sourceRow.hidden = chosenMode() !== 'rag';
}

function chosenMode() {
  const r = modeBox.querySelector('input[name=ask-mode]:checked');
  if (r) return r.value;
  return available.ask && !available.rag ? 'ask' : 'rag';
}

// The text index a /rag question is asked of: the newest text indexes, from /vectors/indexes.
async function loadSources() {
  let indexes = [];
  try {
    const res = await api('/vectors/indexes');
    indexes = (res.indexes || []).filter((x) => x.current && x.current.kind === 'text');
  } catch {
    indexes = [];
  }
  const previous = sourceSelect.value;
  setChildren(sourceSelect, indexes.map((x) => h('option', { value: x.name },
    `${x.current.dataset} · ${x.current.column}`)));
  if (indexes.some((x) => x.name === previous)) sourceSelect.value = previous;
  sourceSelect.disabled = !indexes.length;
  return indexes;
}

function noIndexNote() {
  return note('info', h('strong', {}, 'There is no text index to answer from yet. '),
    'Upload a file in ', h('a', { href: '#explore' }, 'Explore'), ' with a text column to embed, ',
    'or run ', h('code', {}, 'lakehouse index text DATASET COLUMN'), '; answers then cite its rows.');
}

async function submit() {
  const question = input.value.trim();
  if (!question) {
    setChildren(out, note('error', 'Type a question first.'));
    return;
  }
  const mode = chosenMode();
  const button = form.querySelector('#ask-button');
  button.disabled = true;
  setChildren(out, h('p', { class: 'muted' }, 'Thinking…'));
  try {
    let res;
    if (mode === 'rag') {
      if (!sourceSelect.value) await loadSources();
      if (!sourceSelect.value) {
        setChildren(out, noIndexNote());
        return;
      }
      res = await api('/rag', { method: 'POST', json: { question, index: sourceSelect.value } });
      const index = (await api('/vectors/indexes')).indexes.find((x) => x.name === res.index);
      setChildren(out, renderRagAnswer(res, index ? index.current.dataset : res.index));
    } else {
      res = await api('/ask', { method: 'POST', json: { question } });
      setChildren(out, renderSqlAnswer(res));
    }
  } catch (e) {
    if (isMissingRoute(e)) {
      available[mode] = false;
      renderModes();
      setChildren(out, unavailableNote());
    } else {
      setChildren(out, failureNote(mode, e));
    }
  } finally {
    button.disabled = false;
  }
}

// The API's refusals as the user's situation: 503 = no model (or unreachable), 422 = the
// model's SQL was refused twice (with what it tried).
function failureNote(mode, e) {
  if (e.status === 503 && mode === 'ask') {
    return note('info', h('strong', {}, 'SQL from questions needs a language model. '), describe(e), '. ',
      'Set ', h('code', {}, 'generator'), ', ', h('code', {}, 'generator_url'), ' and ',
      h('code', {}, 'generator_model'), ' in ', h('code', {}, 'lakehouse.yaml'),
      ' (see “Embeddings and models” in the README), or write the query yourself in ',
      h('a', { href: '#sql' }, 'SQL'), '.');
  }
  if (e.status === 422 && mode === 'ask') {
    const attempts = (e.detail && e.detail.attempts) || [];
    return note('error', h('strong', {}, 'The model could not write a query that runs: '), describe(e),
      attempts.length ? h('ol', { class: 'attempts' }, attempts.map((a) => h('li', {},
        h('pre', { class: 'sql-text' }, String(a.sql || '')),
        a.error ? h('div', { class: 'muted small' }, String(a.error.message || a.error.code || '')) : null))) : null);
  }
  return note('error', h('strong', {}, 'No answer: '), describe(e));
}

// The server's highlight strings mark words with <mark>…</mark>; everything else is text.
function highlighted(s) {
  const parts = String(s ?? '').split(/(<mark>|<\/mark>)/);
  const nodes = [];
  let inMark = false;
  for (const part of parts) {
    if (part === '<mark>') inMark = true;
    else if (part === '</mark>') inMark = false;
    else if (part) nodes.push(inMark ? h('mark', {}, part) : part);
  }
  return nodes;
}

// An answer's "[n]" become links to source n.
function withCitations(text) {
  return String(text).split(/(\[\d+\])/).map((part) => {
    const m = /^\[(\d+)\]$/.exec(part);
    return m ? h('a', { href: `#ask-source-${m[1]}`, class: 'cite',
      onclick: (e) => { e.preventDefault(); const t = document.getElementById(`ask-source-${m[1]}`); if (t) t.scrollIntoView({ block: 'nearest' }); } }, part) : part;
  });
}

function renderRagAnswer(res, dataset) {
  const offline = res.generator === null;
  const sources = res.sources || [];
  return h('div', { class: 'card answer' },
    res.message ? note(res.supported === false ? 'warn' : 'info', res.message) : null,
    h('div', { class: 'answer-text' }, withCitations(res.answer || '')),
    offline && res.sentences && res.sentences.length
      ? h('div', {}, h('h3', {}, 'Best matching sentences'),
        h('ul', { class: 'sentences' }, res.sentences.map((s) => h('li', {}, highlighted(s.highlight || s.text),
          h('span', { class: 'muted small' }, ` [${s.source}]`)))))
      : null,
    !offline ? h('p', { class: 'muted small' }, `Written by ${res.generator}.`) : null,
    sources.length
      ? h('div', {}, h('h3', {}, 'Sources'),
        h('ol', { class: 'sources' }, sources.map((s) => h('li', {
          id: `ask-source-${s.n}`, class: (res.citations || []).includes(s.n) ? 'cited' : null },
        h('div', { class: 'source-where' }, `[${s.n}] ${dataset} · row ${s.row} · chunk ${s.chunk && s.chunk.id !== undefined ? s.chunk.id : s.chunk}`,
          s.similarity !== undefined ? h('span', { class: 'muted' }, ` · similarity ${Number(s.similarity).toFixed(2)}`) : null),
        h('blockquote', {}, highlighted(s.highlight || s.text))))))
      : h('p', { class: 'muted' }, 'No supporting sources were found.'));
}

function renderSqlAnswer(res) {
  const query = res.sql || '';
  const retried = (res.attempts || []).length > 1;
  return h('div', { class: 'card answer' },
    h('h3', {}, 'Generated SQL'),
    h('pre', { class: 'sql-text' }, query),
    h('p', { class: 'muted small' }, `Written by ${res.generator}`,
      retried ? `; its first query was refused (${(res.attempts[0].error || {}).message || 'error'}) and it tried again` : '', '.'),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', onclick: () => ctx.openSql(query, true) }, 'Run in SQL'),
      h('button', { type: 'button', class: 'ghost', onclick: () => ctx.openSql(query, false) }, 'Edit in SQL')),
    res.result && res.result.columns ? renderGrid(res.result) : null);
}
