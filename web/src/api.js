// The public HTTP API, and nothing else: whatever the UI does, an API client can do.
// Every failure becomes an ApiError whose message is a plain sentence for the user.

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail || {};
  }
}

/** Turns a failed response's body into an ApiError (the server's {"error":{...}} shape). */
export function errorFromBody(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && body.error && typeof body.error === 'object') {
      const e = body.error;
      const message = typeof e.message === 'string' && e.message
        ? e.message : `the server answered ${status} (${e.code || 'no error code'})`;
      return new ApiError(status, e.code || 'error', message, e.detail);
    }
  } catch {
    // not JSON: fall through to the text itself
  }
  const snippet = String(text || '').trim().slice(0, 300);
  return new ApiError(status, 'http_error',
    `the server answered HTTP ${status}${snippet ? `: ${snippet}` : ' with an empty body'}`);
}

function unreachable(e) {
  return new ApiError(0, 'unreachable',
    `cannot reach the lakehouse server (${e && e.message ? e.message : 'network error'}); ` +
    'is `lakehouse serve` still running?');
}

/** The message of any thrown value, as text (never "[object Object]"). */
export function describe(err) {
  if (!err) return 'unknown error';
  if (typeof err === 'string') return err;
  if (err.message) return err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/** True when the error means the route does not exist in this server build. */
export function isMissingRoute(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 405 || err.status === 501) return true;
  return err.status === 404 && /^no route for /i.test(err.message);
}

/** fetch + JSON: resolves to the parsed body, rejects with an ApiError. */
export async function api(path, { method = 'GET', json, signal } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json' } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw unreachable(e);
  }
  const text = await res.text();
  if (!res.ok) throw errorFromBody(res.status, text);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, 'bad_response',
      `the server sent a response that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** POST /sql as JSON. */
export function sql(query, { limit, timeoutMs, signal } = {}) {
  const body = { sql: query };
  if (limit !== undefined) body.limit = limit;
  if (timeoutMs !== undefined) body.timeout_ms = timeoutMs;
  return api('/sql', { method: 'POST', json: body, signal });
}

const DOWNLOAD_TYPES = { csv: 'text/csv', parquet: 'application/vnd.apache.parquet' };

/** POST /sql as a whole-result download (format "csv" or "parquet"): resolves to a Blob. */
export async function sqlDownload(query, format) {
  let res;
  try {
    res = await fetch('/sql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: DOWNLOAD_TYPES[format] },
      body: JSON.stringify({ sql: query, format, limit: 0 }),
    });
  } catch (e) {
    throw unreachable(e);
  }
  if (!res.ok) throw errorFromBody(res.status, await res.text());
  return res.blob();
}

/**
 * Uploads a file to POST /ingest with XHR so the upload progress can be shown; reason (may be
 * empty) is kept with the version.
 * onProgress(fraction 0..1, loaded, total); signal (AbortSignal) cancels. Resolves to the
 * ingest result.
 */
export function ingestUpload(file, { dataset, format, reason, onProgress, signal }) {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({ dataset, name: file.name });
    if (format && format !== 'auto') q.set('format', format);
    if (reason) q.set('reason', reason);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/ingest?${q}`);
    xhr.setRequestHeader('Content-Type',
      format === 'ndjson' ? 'application/x-ndjson' : (file.type || 'application/octet-stream'));
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total, e.loaded, e.total);
    };
    xhr.upload.onload = () => onProgress && onProgress(1, file.size, file.size);
    xhr.onerror = () => reject(unreachable({ message: 'the upload was interrupted' }));
    xhr.onabort = () => reject(new ApiError(0, 'canceled', 'upload canceled'));
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, 'bad_response', 'the server sent a result that is not JSON'));
        }
      } else {
        reject(errorFromBody(xhr.status, xhr.responseText));
      }
    };
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

let openapiPromise = null;
/** The server's OpenAPI document (cached); null if it cannot be read. */
export function openapi() {
  if (!openapiPromise) openapiPromise = api('/openapi.json').catch(() => null);
  return openapiPromise;
}

/** The operation object for method+path in the OpenAPI document, or null. */
export async function operation(method, path) {
  const doc = await openapi();
  const item = doc && doc.paths && doc.paths[path];
  return (item && item[method.toLowerCase()]) || null;
}

/** Follows a local "$ref" ("#/components/schemas/X") in the OpenAPI document. */
export async function resolveRef(obj) {
  const doc = await openapi();
  let cur = obj;
  for (let i = 0; cur && cur.$ref && doc && i < 8; i++) {
    cur = cur.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return cur;
}

/** Does the server document a route? (True when the document cannot be read: then we try.) */
export async function hasRoute(method, path) {
  const doc = await openapi();
  if (!doc || !doc.paths) return true;
  return Boolean(await operation(method, path));
}

/**
 * An ingest error's parts: where from the error's detail (source, line, column, position),
 * which the server sends; the message without its "file:LINE: column 'x':" prefix. Older
 * servers without those fields: taken from the message.
 */
export function ingestErrorParts(err) {
  const d = (err && err.detail) || {};
  const msg = describe(err);
  const parts = { message: msg, source: d.source || null, line: d.line ?? null,
    column: d.column ?? null, position: d.position ?? null };
  const m = /^(.*?):(\d+):(?:(\d+):)?\s*(.*)$/s.exec(msg);
  if (m) {
    if (!parts.source) parts.source = m[1];
    if (parts.line === null) parts.line = Number(m[2]);
    parts.message = m[4];
  }
  const c = /column '([^']+)'/.exec(msg) || /column "([^"]+)"/.exec(msg);
  if (c && parts.column === null) parts.column = c[1];
  const cut = /^column '[^']+':\s*/.exec(parts.message);
  if (cut) parts.message = parts.message.slice(cut[0].length);
  return parts;
}
