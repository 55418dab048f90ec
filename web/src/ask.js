// Ask: a question goes to POST /rag (an answer with cited sources) or POST /ask (NL→SQL:
// the generated SQL, editable and runnable in the SQL tab). Which routes exist is read from
// the server's OpenAPI document; a server without them gets a plain explanation instead.
import { api, describe, isMissingRoute, operation, resolveRef } from './api.js';
import { cellText, h, jsonView, note, setChildren } from './dom.js';
import { renderGrid } from './grid.js';

const MODES = {
  rag: { path: '/rag', label: 'Answer from the data', hint: 'Finds passages by meaning and answers with numbered sources.' },
  ask: { path: '/ask', label: 'Write SQL for me', hint: 'Turns the question into SQL you can check, edit and run.' },
};

let ctx, form, input, out, banner, modeBox;
let available = { rag: false, ask: false };

export function mount(panel, context) {
  ctx = context;
  input = h('textarea', { id: 'ask-input', rows: 3, placeholder: 'e.g. Which Java developers in Chicago were called 5+ times but never placed?',
    'aria-label': 'Your question',
    onkeydown: (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); } } });
  banner = h('div', { id: 'ask-banner' });
  modeBox = h('div', { class: 'modes', role: 'radiogroup', 'aria-label': 'How to answer' });
  out = h('div', { id: 'ask-out', 'aria-live': 'polite' });
  form = h('form', { class: 'card ask', onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('h2', {}, 'Ask a question'),
    input,
    modeBox,
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', id: 'ask-button' }, 'Ask', h('kbd', {}, 'Ctrl+Enter'))));
  setChildren(panel, h('div', { class: 'ask-wrap' }, banner, form, out));
  detect();
}

export function show() {
  if (input) input.focus();
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
    return;
  }
  setChildren(modeBox, modes.map(([k, m], i) => h('label', { class: 'mode' },
    h('input', { type: 'radio', name: 'ask-mode', value: k, checked: i === 0 }),
    h('span', {}, h('strong', {}, m.label), h('span', { class: 'muted small' }, ` — ${m.hint}`)))));
}

function chosenMode() {
  const r = modeBox.querySelector('input[name=ask-mode]:checked');
  if (r) return r.value;
  return available.ask && !available.rag ? 'ask' : 'rag';
}

// The request body follows the route's documented schema: {question} or {query}.
async function bodyFor(mode, question) {
  const op = await operation('post', MODES[mode].path);
  let props = {};
  try {
    const schema = await resolveRef(op.requestBody.content['application/json'].schema);
    props = (schema && schema.properties) || {};
  } catch {
    props = {};
  }
  if (props.question || !props.query) return { question };
  return { query: question };
}

async function submit() {
  const q = input.value.trim();
  if (!q) {
    setChildren(out, note('error', 'Type a question first.'));
    return;
  }
  const mode = chosenMode();
  const button = form.querySelector('#ask-button');
  button.disabled = true;
  setChildren(out, h('p', { class: 'muted' }, 'Thinking…'));
  try {
    const res = await api(MODES[mode].path, { method: 'POST', json: await bodyFor(mode, q) });
    setChildren(out, mode === 'ask' ? renderSqlAnswer(res) : renderRagAnswer(res));
  } catch (e) {
    if (isMissingRoute(e)) {
      available[mode] = false;
      renderModes();
      setChildren(out, unavailableNote());
    } else {
      setChildren(out, note('error', h('strong', {}, 'No answer: '), describe(e)));
    }
  } finally {
    button.disabled = false;
  }
}

function renderRagAnswer(res) {
  const answer = res.answer ?? res.text ?? null;
  const sources = res.sources ?? res.citations ?? res.passages ?? [];
  const offline = res.generator === null || res.llm === false || res.offline === true ||
    /no (language )?model/i.test(String(res.note ?? res.message ?? ''));
  return h('div', { class: 'card answer' },
    offline ? note('info', res.note || res.message ||
      'No language model is configured: these are the passages that best support an answer.') : null,
    answer ? h('div', { class: 'answer-text' }, String(answer)) : null,
    Array.isArray(sources) && sources.length
      ? h('div', {}, h('h3', {}, 'Sources'),
        h('ol', { class: 'sources' }, sources.map((s) => h('li', {}, sourceLine(s)))))
      : h('p', { class: 'muted' }, 'No supporting sources were found.'),
    answer === null && !sources.length ? jsonView(res) : null);
}

function sourceLine(s) {
  if (!s || typeof s !== 'object') return cellText(s);
  const where = [s.dataset, s.document ?? s.doc ?? (s.row !== undefined ? `row ${s.row}` : null),
    s.chunk !== undefined ? `chunk ${s.chunk}` : null].filter(Boolean).join(' · ');
  return [h('div', { class: 'source-where' }, where || 'source',
    s.score !== undefined ? h('span', { class: 'muted' }, ` · score ${Number(s.score).toFixed(3)}`) : null),
  s.text || s.snippet || s.highlight ? h('blockquote', {}, String(s.text ?? s.snippet ?? s.highlight)) : null];
}

function renderSqlAnswer(res) {
  const query = res.sql || '';
  return h('div', { class: 'card answer' },
    res.note || res.message ? note('info', res.note || res.message) : null,
    query ? [h('h3', {}, 'Generated SQL'), h('pre', { class: 'sql-text' }, query),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', onclick: () => ctx.openSql(query, true) }, 'Run in SQL'),
        h('button', { type: 'button', class: 'ghost', onclick: () => ctx.openSql(query, false) }, 'Edit in SQL'))] : null,
    res.columns && res.rows ? renderGrid(res) : null,
    res.result && res.result.columns ? renderGrid(res.result) : null,
    !query && !res.columns ? jsonView(res) : null);
}
