// A stand-in model server for the ai tests: speaks Ollama's (/api/embed, /api/chat, /api/tags)
// and the OpenAI (/v1/embeddings, /v1/chat/completions, /v1/models) wire protocols, including
// their error bodies, and misbehaves on request through the model name:
//   embed8, nomic-embed-text   8-d vectors, a pure function of the text
//   wrongdim                   the second vector of each request has 7 dimensions
//   slow                       answers after 3 s
//   diemid                     the first two requests answer, later ones die mid-body
//   garbage                    after the first request, answers with a body that is not JSON
//   short                      after the first request, one vector fewer than asked
//   pair                       answers only while two requests are in flight together (a
//                              lone one gets 503 after 2 s): proves the client pipelines
//   chat                       streams "You said: <last user message>" in 3-character pieces
//   chat-slow                  streams 200 pieces, 50 ms apart
//   chat-die                   streams two pieces, then the connection drops
//   chat-error                 streams one piece, then an error in the stream
// Any other model is "not found" exactly as the real servers say it. Listens on 127.0.0.1 on
// a free port and prints "listening <port>". GET /_stats lists the requests seen.
// STANDIN_API_KEY set: the OpenAI routes require "Authorization: Bearer <key>".
'use strict';
const http = require('http');
const crypto = require('crypto');

const EMBED = ['embed8', 'nomic-embed-text', 'wrongdim', 'slow', 'diemid', 'garbage', 'short', 'pair'];
const waiting = [];
const CHAT = ['chat', 'chat-slow', 'chat-die', 'chat-error'];
const KNOWN = EMBED.concat(CHAT);
const apiKey = process.env.STANDIN_API_KEY || '';
const seen = [];
const counts = {};

function vec(text, dims) {
  const h = crypto.createHash('sha256').update(text, 'utf8').digest();
  const v = [];
  for (let j = 0; j < dims; j++) v.push((h[j % 32] - 127.5) / 128 + (j === 0 ? 0.01 : 0));
  return v;
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
}

function ollamaError(res, status, msg) { send(res, status, {error: msg}); }
function openaiError(res, status, msg, code) {
  send(res, status, {error: {message: msg, type: 'invalid_request_error', param: null, code: code || null}});
}

function digest(name) { return crypto.createHash('sha256').update(name).digest('hex'); }

function embeddings(model, input, n) {
  return input.map((t, i) => vec(t, model === 'wrongdim' && i === 1 ? 7 : 8)).slice(0, n);
}

// Sends an answer, misbehaving as the model asks. respond(obj) builds the normal answer.
function embedAnswer(res, model, input, obj) {
  const k = (counts[model] = (counts[model] || 0) + 1);
  if (model === 'slow') { setTimeout(() => send(res, 200, obj()), 3000); return; }
  if (model === 'pair') {
    const me = () => send(res, 200, obj(input.length));
    waiting.push(me);
    if (waiting.length >= 2) { waiting.splice(0).forEach((f) => f()); return; }
    setTimeout(() => {
      const i = waiting.indexOf(me);
      if (i < 0) return;
      waiting.splice(i, 1);
      ollamaError(res, 503, 'no second request arrived while this one was in flight');
    }, 2000);
    return;
  }
  if (model === 'diemid' && k > 2) {
    const body = JSON.stringify(obj());
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
    res.write(body.slice(0, body.length >> 1));
    setTimeout(() => res.socket.destroy(), 20);
    return;
  }
  if (model === 'garbage' && k > 1) {
    res.writeHead(200, {'Content-Type': 'application/json'});
    res.end('{"embeddings": [[0.1, 0.2,');
    return;
  }
  send(res, 200, obj(model === 'short' && k > 1 ? input.length - 1 : input.length));
}

function checkInput(input) {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string')) return input;
  return null;
}

function checkMessages(m) {
  return Array.isArray(m) && m.length > 0 &&
    m.every((x) => x && typeof x.role === 'string' && typeof x.content === 'string' &&
      ['system', 'user', 'assistant'].includes(x.role));
}

function pieces(model, messages) {
  const last = messages.filter((m) => m.role === 'user').pop();
  if (model === 'chat-slow') return Array.from({length: 200}, (_, i) => `w${i} `);
  const text = 'You said: ' + (last ? last.content : '');
  const out = [];
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i += 3) out.push(chars.slice(i, i + 3).join(''));
  return out;
}

// Streams pieces with write(piece) and finish(); misbehaves per model.
function stream(res, model, list, write, fail, finish) {
  let i = 0;
  const step = () => {
    if (res.destroyed) return;
    if (model === 'chat-die' && i === 2) { res.socket.destroy(); return; }
    if (model === 'chat-error' && i === 1) { fail('the model ran out of memory'); res.end(); return; }
    if (i === list.length) { finish(); res.end(); return; }
    write(list[i++]);
    setTimeout(step, model === 'chat-slow' ? 50 : 1);
  };
  step();
}

function handle(req, res, body) {
  const url = req.url.split('?')[0];
  if (req.method === 'GET' && url === '/_stats') return send(res, 200, {requests: seen});
  if (req.method === 'GET' && url === '/api/tags') {
    return send(res, 200, {models: KNOWN.map((m) => ({
      name: m + ':latest', model: m + ':latest', modified_at: '2026-11-24T00:00:00Z', size: 1234,
      digest: digest(m), details: {format: 'gguf', family: 'standin'}}))});
  }
  const openai = url.startsWith('/v1/');
  if (openai && apiKey && req.headers.authorization !== 'Bearer ' + apiKey) {
    return openaiError(res, 401, 'Incorrect API key provided', 'invalid_api_key');
  }
  if (req.method === 'GET' && url === '/v1/models') {
    return send(res, 200, {object: 'list', data: KNOWN.map((m) => ({id: m, object: 'model', created: 0, owned_by: 'standin'}))});
  }
  if (req.method !== 'POST') return openai ? openaiError(res, 404, 'not found') : ollamaError(res, 404, '404 page not found');
  let j;
  try { j = JSON.parse(body); } catch (e) {
    return openai ? openaiError(res, 400, 'invalid JSON body') : ollamaError(res, 400, 'invalid character in JSON');
  }
  if (!j || typeof j.model !== 'string') {
    return openai ? openaiError(res, 400, 'you must provide a model parameter') : ollamaError(res, 400, 'model is required');
  }
  const model = j.model.replace(/:latest$/, '');
  const entry = {path: url, model: j.model};
  seen.push(entry);

  if (url === '/api/embed' || url === '/v1/embeddings') {
    const input = checkInput(j.input);
    entry.inputs = input ? input.length : -1;
    if (!EMBED.includes(model)) {
      return openai ? openaiError(res, 404, `The model \`${j.model}\` does not exist.`, 'model_not_found')
        : ollamaError(res, 404, `model "${j.model}" not found, try pulling it first`);
    }
    if (!input) return openai ? openaiError(res, 400, "'input' must be a string or an array of strings") : ollamaError(res, 400, 'invalid input type');
    if (openai) {
      if (j.encoding_format !== undefined && j.encoding_format !== 'float') return openaiError(res, 400, 'unsupported encoding_format');
      return embedAnswer(res, model, input, (n) => ({
        object: 'list',
        // reverse order: clients must place vectors by "index"
        data: embeddings(model, input, n).map((e, i) => ({object: 'embedding', index: i, embedding: e})).reverse(),
        model: j.model + '-q8_0', usage: {prompt_tokens: input.length, total_tokens: input.length}}));
    }
    return embedAnswer(res, model, input, (n) => ({
      model: j.model, embeddings: embeddings(model, input, n), total_duration: 1000, load_duration: 10,
      prompt_eval_count: input.length}));
  }

  if (url === '/api/chat' || url === '/v1/chat/completions') {
    if (!CHAT.includes(model)) {
      return openai ? openaiError(res, 404, `The model \`${j.model}\` does not exist.`, 'model_not_found')
        : ollamaError(res, 404, `model "${j.model}" not found, try pulling it first`);
    }
    if (!checkMessages(j.messages)) return openai ? openaiError(res, 400, "'messages' must be a non-empty array of {role, content}") : ollamaError(res, 400, 'invalid message format');
    if (j.stream !== true) return openai ? openaiError(res, 400, 'this stand-in only streams') : ollamaError(res, 400, 'this stand-in only streams');
    entry.messages = j.messages.length;
    const list = pieces(model, j.messages);
    if (openai) {
      res.writeHead(200, {'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache'});
      const chunk = (delta, finish) => 'data: ' + JSON.stringify({id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 0,
        model: j.model, choices: [{index: 0, delta: delta, finish_reason: finish}]}) + '\n\n';
      res.write(': keep-alive comment\n\n');
      return stream(res, model, list, (p) => res.write(chunk({role: 'assistant', content: p}, null)),
        (msg) => res.write('data: ' + JSON.stringify({error: {message: msg, type: 'server_error'}}) + '\n\n'),
        () => { res.write(chunk({}, 'stop')); res.write('data: [DONE]\n\n'); });
    }
    res.writeHead(200, {'Content-Type': 'application/x-ndjson'});
    const line = (content, done) => JSON.stringify(Object.assign({model: j.model, created_at: '2026-11-24T00:00:00Z',
      message: {role: 'assistant', content: content}, done: done}, done ? {done_reason: 'stop', total_duration: 1, eval_count: list.length} : {})) + '\n';
    return stream(res, model, list, (p) => res.write(line(p, false)),
      (msg) => res.write(JSON.stringify({error: msg}) + '\n'), () => res.write(line('', true)));
  }
  return openai ? openaiError(res, 404, 'not found') : ollamaError(res, 404, '404 page not found');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.listen(0, '127.0.0.1', () => { console.log('listening ' + server.address().port); });
process.on('SIGTERM', () => process.exit(0));
// Never outlive the test that started it.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();
setTimeout(() => process.exit(0), 10 * 60 * 1000).unref();
