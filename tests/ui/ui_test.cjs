// Browser tests of the web UI: playwright-core drives Debian's chromium (headless, no
// sandbox, background networking off) against a running `lakehouse serve`.
// Run by tests/ui/test_ui.sh, which starts the server and passes:
//   LH_URL        the server's base URL
//   LH_ASK_URL    a second server whose generator is the stand-in model (tests/ai/standin.js)
//   LH_CHROMIUM   the chromium executable
//   LH_PLAYWRIGHT the playwright-core package folder
//   LH_FIXTURES   a folder with the upload fixtures (people.csv, ragged.csv, bad_score.csv)
//   LH_ARTIFACTS  where the screenshots go
// Prints "ok - ..." / "not ok - ..." lines and exits non-zero if any check failed.
'use strict';
const path = require('path');
const fs = require('fs');

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const URL_BASE = env('LH_URL');
const ASK_URL = env('LH_ASK_URL');
const { chromium } = require(env('LH_PLAYWRIGHT'));
const FIX = env('LH_FIXTURES');
const ART = env('LH_ARTIFACTS');
const TIMEOUT = 30000;

let checks = 0;
let failed = 0;
function ok(cond, what, extra) {
  checks++;
  if (cond) console.log(`ok - ${what}`);
  else {
    failed++;
    console.log(`not ok - ${what}${extra ? `: ${extra}` : ''}`);
  }
  return cond;
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    ok(false, name, String((e && e.message) || e).split('\n').slice(0, 6).join(' | '));
  }
}

async function shot(page, name) {
  const file = path.join(ART, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

async function noObjectObject(page, where) {
  const text = await page.locator('body').innerText();
  ok(!text.includes('[object Object]') && !text.includes('undefined'),
    `${where}: no [object Object] or undefined in the page`);
}

async function apiGet(p) {
  const res = await fetch(URL_BASE + p);
  return { status: res.status, body: await res.json() };
}

(async () => {
  fs.mkdirSync(ART, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('LH_CHROMIUM'),
    headless: true,
    timeout: 60000,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--disable-default-apps', '--disable-extensions', '--disable-sync', '--no-first-run',
      '--disable-gpu', '--disable-dev-shm-usage', '--disable-breakpad', '--metrics-recording-only',
      '--disable-domain-reliability'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // Nothing leaves the machine: any request not to the server under test is refused.
  const foreign = [];
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(URL_BASE) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e)));
  // Console errors other than failed loads (404s of routes this build lacks are expected):
  // a Content-Security-Policy refusal would show up here.
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
  });

  await step('the UI loads at /', async () => {
    const res = await page.goto(`${URL_BASE}/`);
    ok(res.status() === 200, 'GET / answers 200');
    await page.locator('[role=tab]').first().waitFor();
    const tabs = await page.locator('[role=tab]').allInnerTexts();
    ok(JSON.stringify(tabs) === JSON.stringify(['Ask', 'Explore', 'SQL', 'System']),
      'four tabs: Ask, Explore, SQL, System', JSON.stringify(tabs));
    ok((await page.locator('#tab-explore').getAttribute('aria-selected')) === 'true', 'Explore is the default tab');
  });

  await step('Explore: upload a CSV and see it listed', async () => {
    await page.locator('#datasets').waitFor();
    await page.setInputFiles('#upload-file', path.join(FIX, 'people.csv'));
    ok((await page.inputValue('#upload-dataset')) === 'people', 'the dataset name follows the file name');
    // Record every value the progress bar is given during the upload.
    await page.evaluate(() => {
      window.__maxProgress = 0;
      const bar = document.querySelector('#upload-progress');
      const d = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
      Object.defineProperty(bar, 'value', {
        configurable: true,
        get() { return d.get.call(this); },
        set(v) { window.__maxProgress = Math.max(window.__maxProgress, v); d.set.call(this, v); },
      });
    });
    await page.click('#upload-button');
    const result = page.locator('#upload-result .note-ok');
    await result.waitFor();
    const text = await result.innerText();
    ok(/Created people/.test(text) && /6 rows/.test(text) && /version 1/.test(text),
      'the upload reports the new dataset, its rows and version', text);
    ok(await page.evaluate(() => window.__maxProgress) === 1, 'the progress bar reached 100%');
    const row = page.locator('#datasets tbody tr[data-name=people]');
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    ok(cells[1] === '6' && cells[3] === 'v1', 'people is listed with 6 rows at v1', JSON.stringify(cells));
    // The detail view: schema with types, a sample of rows, the version history.
    const schema = page.locator('#dataset-detail table.schema');
    await schema.waitFor();
    const schemaText = await schema.innerText();
    ok(/score\s+DOUBLE/.test(schemaText) && /joined\s+DATE/.test(schemaText) && /id\s+BIGINT/.test(schemaText),
      'the schema shows column types', schemaText.replace(/\s+/g, ' '));
    await page.locator('#dataset-detail .sample table.results tbody tr').first().waitFor();
    ok(await page.locator('#dataset-detail .sample table.results tbody tr').count() === 6, 'the sample shows the rows');
    await page.locator('#dataset-detail ol.versions li .version-head').first().waitFor();
    const hist = await page.locator('#dataset-detail ol.versions').innerText();
    ok(/v1/.test(hist) && /ingest/.test(hist) && /people\.csv/.test(hist), 'the version history names v1, the op and the source', hist);
    const journal = page.locator('#dataset-detail ol.versions li .journal');
    await journal.first().waitFor();
    ok(/1 journal event/.test(await journal.first().innerText()) && /rows: 6 rows from people\.csv/.test(await journal.first().innerText()),
      'v1 shows its ingest journal event', await journal.first().innerText());
    await noObjectObject(page, 'Explore');
    await shot(page, 'explore');
  });

  await step('Explore: upload NDJSON', async () => {
    await page.setInputFiles('#upload-file', path.join(FIX, 'events.ndjson'));
    ok((await page.inputValue('#upload-format')) === 'ndjson', 'the format follows the file name');
    await page.fill('#upload-reason', 'first export from the phone system');
    await page.click('#upload-button');
    const text = await page.locator('#upload-result .note-ok').innerText();
    ok(/Created events/.test(text) && /3 rows/.test(text), 'the NDJSON file became dataset events', text);
    await page.locator('#datasets tbody tr[data-name=events]').waitFor();
    const schema = await page.locator('#dataset-detail table.schema').innerText();
    ok(/ts\s+TIMESTAMP/.test(schema) && /minutes\s+BIGINT/.test(schema), 'its schema has inferred types', schema.replace(/\s+/g, ' '));
  });

  await step('Explore: the version history shows every version with its op, actor and reason', async () => {
    // A second version through the API, with a reason; the history lists both.
    const res = await fetch(`${URL_BASE}/ingest?dataset=events&format=ndjson&name=late.ndjson&reason=${encodeURIComponent('late events from the night shift')}`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-ndjson' }, body: '{"ts":"2024-01-04T08:00:00","kind":"call","minutes":7}\n' });
    ok(res.status === 200 || res.status === 201, 'events gets a second version', String(res.status));
    const manifest = (await apiGet('/catalog/datasets/events')).body;
    const p4 = await context.newPage();
    await p4.goto(`${URL_BASE}/#explore/events`);
    await p4.locator('#dataset-detail ol.versions li .version-head').nth(1).waitFor();
    const items = await p4.locator('#dataset-detail ol.versions > li').allInnerTexts();
    ok(items.length === manifest.versions.length && items.length === 2, 'one entry per version in the catalog', JSON.stringify(items));
    ok(/^v2/.test(items[0]) && /append/.test(items[0]) && /by http /.test(items[0]) &&
      /why: late events from the night shift/.test(items[0]) && /late\.ndjson/.test(items[0]),
    'the newest version names its op, actor, reason and source', items[0]);
    ok(/^v1/.test(items[1]) && /ingest/.test(items[1]) && /events\.ndjson/.test(items[1]) &&
      /why: first export from the phone system/.test(items[1]), 'v1 names its op, source and the reason typed in the upload form', items[1]);
    // A third version without a reason does not inherit v2's.
    const res3 = await fetch(`${URL_BASE}/ingest?dataset=events&format=ndjson&name=later.ndjson`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-ndjson' }, body: '{"ts":"2024-01-05T08:00:00","kind":"call","minutes":3}\n' });
    ok(res3.status === 200 || res3.status === 201, 'events gets a third version', String(res3.status));
    await p4.reload();
    await p4.locator('#dataset-detail ol.versions li .version-head').nth(2).waitFor();
    const again = await p4.locator('#dataset-detail ol.versions > li').allInnerTexts();
    ok(/^v3/.test(again[0]) && !/why:/.test(again[0]) && /why: late events/.test(again[1]),
      'v3 has no reason, v2 keeps its own', JSON.stringify(again));
    await p4.close();
  });

  await step('Explore: a slow upload shows its progress and can be canceled', async () => {
    // 2 MB through a link throttled to 256 KB/s: the bar moves, Cancel stops it, and
    // nothing reaches the catalog.
    const big = path.join(ART, 'big.csv');
    const lines = ['id,label'];
    for (let i = 0; i < 100000; i++) lines.push(`${i},row number ${i} of the big file`);
    fs.writeFileSync(big, `${lines.join('\n')}\n`);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
    await page.setInputFiles('#upload-file', big);
    await page.click('#upload-button');
    await page.waitForFunction(() => {
      const v = document.querySelector('#upload-progress').value;
      return v > 0.05 && v < 0.9;
    });
    const pct = await page.locator('.progress .pct').innerText();
    ok(/^\d+%$/.test(pct), 'the progress is shown as a percentage', pct);
    await page.click('#upload-cancel');
    const warn = page.locator('#upload-result .note-warn');
    await warn.waitFor();
    ok(/nothing was committed/.test(await warn.innerText()), 'the cancel says nothing was committed');
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    ok((await apiGet('/catalog/datasets/big')).status === 404, 'no dataset "big" was created');
    fs.unlinkSync(big);
  });

  await step('Explore: a ragged CSV is refused with its line', async () => {
    await page.setInputFiles('#upload-file', path.join(FIX, 'ragged.csv'));
    ok((await page.inputValue('#upload-dataset')) === 'ragged', 'the name follows the new file');
    await page.click('#upload-button');
    const box = page.locator('#upload-result .ingest-error');
    await box.waitFor();
    const text = await box.innerText();
    ok(/nothing was committed/.test(text), 'the error says nothing was committed', text);
    ok(/Line\s+3\b/i.test(text), 'the error names line 3', text);
    ok(/ragged\.csv/.test(text) && /Columns?: 3/i.test(text), 'the error names the file and the problem', text);
    const missing = await apiGet('/catalog/datasets/ragged');
    ok(missing.status === 404, 'no dataset "ragged" was created');
    await noObjectObject(page, 'Explore error');
    await shot(page, 'explore-ragged-error');
  });

  await step('Explore: a bad value on append is refused with its line and column', async () => {
    await page.setInputFiles('#upload-file', path.join(FIX, 'bad_score.csv'));
    await page.fill('#upload-dataset', 'people');
    ok(/Appends to people/.test(await page.locator('form.upload .target').innerText()), 'the form says it appends');
    await page.click('#upload-button');
    const box = page.locator('#upload-result .ingest-error');
    await box.waitFor();
    const text = await box.innerText();
    ok(/Line\s+3\b/i.test(text) && /Column\s+score/i.test(text) && /n\/a/.test(text),
      'the error names line 3, column score and the value', text);
    const people = await apiGet('/catalog/datasets/people');
    ok(people.body.version === 1 && people.body.rows === 6, 'people is unchanged (v1, 6 rows)');
  });

  await step('Explore: a file that is not UTF-8 is refused with its line and character', async () => {
    const latin1 = path.join(ART, 'latin1.csv');
    fs.writeFileSync(latin1, Buffer.concat([Buffer.from('city,n\nBoston,1\nMontr'), Buffer.from([0xe9]), Buffer.from('al,2\n')]));
    await page.setInputFiles('#upload-file', latin1);
    await page.click('#upload-button');
    const box = page.locator('#upload-result .ingest-error');
    await box.waitFor();
    const text = await box.innerText();
    ok(/Line\s+3\b/i.test(text) && /Character\s+6\b/i.test(text) && /UTF-8/.test(text),
      'the error names line 3, character 6 and the encoding', text);
  });

  await step('SQL: run a query, see the grid and the chart', async () => {
    await page.click('#tab-sql');
    await page.locator('#sql-editor .cm-content').waitFor();
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT city, sum(score) AS total, count(*) AS n FROM people GROUP BY city ORDER BY city');
    await page.keyboard.press('Escape'); // close the completion popup, if any
    await page.keyboard.press('Control+Enter');
    const grid = page.locator('#sql-grid table.results');
    await grid.locator('tbody tr').first().waitFor();
    const head = await grid.locator('thead').innerText();
    ok(/city\s+VARCHAR/.test(head) && /total\s+DOUBLE/.test(head) && /n\s+BIGINT/.test(head),
      'the grid header shows names and types', head.replace(/\s+/g, ' '));
    ok(await grid.locator('tbody tr').count() === 3, 'the grid shows 3 rows');
    const status = await page.locator('#sql-status').innerText();
    ok(/3 rows/.test(status) && /ms|s\b/.test(status), 'the status shows rows and elapsed time', status);
    const chart = page.locator('#sql-chart figure.chart');
    await chart.waitFor();
    ok((await chart.getAttribute('data-kind')) === 'bar', 'category + number gives a bar chart');
    ok(await chart.locator('canvas').count() > 0, 'the chart is drawn');
    ok(/total, n by city/.test(await chart.locator('figcaption').innerText()), 'both number columns are plotted by default');
    // Keyboard only: Tab to the "total" box, Space unticks it; the focus stays on it.
    await page.focus('#sql-chart .chart-y input[value="1"]');
    await page.keyboard.press('Space');
    await page.locator('#sql-chart figcaption', { hasText: 'n by city' }).waitFor();
    ok(await page.locator('#sql-chart figure.chart').count() === 1, 'a plotted column can be taken away');
    ok(await page.evaluate(() => document.activeElement.dataset.role) === 'y1', 'the focus stays on the check box');
    ok(await page.locator('#sql-chart .chart-y input[value="2"]').isDisabled(), 'the last plotted column cannot be taken away');
    await page.keyboard.press('Space');
    await page.locator('#sql-chart figcaption', { hasText: 'total, n by city' }).waitFor();
    await page.selectOption('#sql-chart .chart-kind select', 'scatter');
    await page.locator('#sql-chart figure.chart[data-kind=scatter]').waitFor();
    ok(/n against total/.test(await page.locator('#sql-chart figcaption').innerText()), 'switching to scatter puts a number across');
    await page.selectOption('#sql-chart .chart-kind select', 'bar');
    await page.locator('#sql-chart figure.chart[data-kind=bar]').waitFor();
    await noObjectObject(page, 'SQL');
    await shot(page, 'sql');
  });

  await step('SQL: a wide result gets sensible chart defaults', async () => {
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type("SELECT name, id, city, joined, score, id * 2 AS twice, score / 2 AS half, 7 AS seven FROM people ORDER BY id");
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Enter');
    const fig = page.locator('#sql-chart figure.chart[data-kind=line]');
    await fig.waitFor();
    const cap = await fig.locator('figcaption').innerText();
    ok(/score, twice, half by joined/.test(cap), 'the date goes across and the first three number columns but id are plotted', cap);
    ok(await fig.locator('.chart-y input:checked').count() === 3 && await fig.locator('.chart-y input:disabled').count() === 2,
      'three boxes ticked, the others wait');
    const across = await fig.locator('.chart-x select option').allInnerTexts();
    ok(across[0] === 'joined' && across.includes('id'), 'the date or a number may go across', JSON.stringify(across));
    await page.selectOption('#sql-chart .chart-kind select', 'bar');
    const bar = page.locator('#sql-chart figure.chart[data-kind=bar]');
    await bar.waitFor();
    ok(/by name/.test(await bar.locator('figcaption').innerText()), 'a bar chart puts the first category across');
    await page.selectOption('#sql-chart .chart-x select', { label: 'city' });
    await page.locator('#sql-chart figcaption', { hasText: 'by city' }).waitFor();
    ok(await page.locator('#sql-chart figure.chart canvas').count() > 0, 'another category can go across');
    await shot(page, 'sql-wide');
  });

  await step('SQL: completion offers datasets and their columns', async () => {
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT * FROM peo');
    await page.locator('.cm-tooltip-autocomplete', { hasText: 'people' }).waitFor();
    ok(true, 'the dataset name is offered');
    await page.keyboard.press('Escape');
    await page.keyboard.type('ple WHERE sco');
    const popup = page.locator('.cm-tooltip-autocomplete', { hasText: 'score' });
    await popup.waitFor();
    ok(/DOUBLE/.test(await popup.innerText()), 'the column is offered with its type');
    await page.keyboard.press('Escape');
  });

  await step('SQL: date + number gives a line chart; number + number a scatter', async () => {
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT joined, score FROM people ORDER BY joined');
    await page.keyboard.press('Escape');
    await page.click('#sql-run');
    await page.locator('#sql-chart figure.chart[data-kind=line]').waitFor();
    ok(true, 'a line chart for joined/score');
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT id, score FROM people');
    await page.keyboard.press('Escape');
    await page.click('#sql-run');
    await page.locator('#sql-chart figure.chart[data-kind=scatter]').waitFor();
    ok(true, 'a scatter chart for id/score');
  });

  await step('SQL: download the result as CSV', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sql-csv')]);
    const file = path.join(ART, 'query.csv');
    await download.saveAs(file);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    ok(lines[0] === 'id,score' && lines.length === 7, 'the CSV has the header and 6 rows', lines.slice(0, 2).join(' / '));
  });

  await step('SQL: download the result as Parquet', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sql-parquet')]);
    const file = path.join(ART, 'query.parquet');
    await download.saveAs(file);
    const buf = fs.readFileSync(file);
    ok(/\.parquet$/.test(download.suggestedFilename()), 'the file is named .parquet', download.suggestedFilename());
    ok(buf.length > 8 && buf.subarray(0, 4).toString() === 'PAR1' && buf.subarray(-4).toString() === 'PAR1',
      'the download is a Parquet file');
    // Contents and types are read back in DuckDB by tests/query; here, the footer's schema.
    ok(buf.includes('score') && buf.includes('id'), 'its schema names the columns id and score');
  });

  await step('SQL: a bad query is stated plainly', async () => {
    await page.click('#sql-editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT * FROM no_such_dataset');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Enter');
    const err = page.locator('#sql-out .note-error');
    await err.waitFor();
    const text = await err.innerText();
    ok(/The query failed/.test(text) && /no_such_dataset/.test(text), 'the error names the missing table', text);
    await noObjectObject(page, 'SQL error');
  });

  await step('System: health, version, storage; missing routes said plainly', async () => {
    // A storage fault the server really hits: test_ui.sh put a plain file where the data
    // folder of dataset "blocked" would go, so writing its Parquet file fails (ENOTDIR) and
    // the failed put is journaled.
    const res = await fetch(`${URL_BASE}/ingest?dataset=blocked&name=blocked.csv`, {
      method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: 'a,b\n1,2\n' });
    const body = await res.json();
    ok(res.status >= 500 && body.error.code === 'io_error', 'an ingest into the blocked folder fails with io_error',
      JSON.stringify(body));
    const journal = (await apiGet('/storage/errors')).body;
    ok(journal.total === 1 && journal.events[0].op === 'put_file', 'GET /storage/errors has the failed put', JSON.stringify(journal));
    await page.click('#tab-system');
    await page.locator('#health-status').waitFor();
    ok((await page.locator('#health-status').innerText()) === 'ok', 'health is ok');
    const server = await page.locator('#system-health').innerText();
    ok(/lakehouse \d+\.\d+\.\d+/.test(server) && /Datasets\s+2\b/i.test(server),
      'version and dataset count are shown', server.replace(/\s+/g, ' '));
    ok((await page.locator('#health-storage').innerText()) === 'local' &&
      (await page.locator('#health-bucket').innerText()) === 'primary', 'the storage backend and bucket are shown');
    const counts = page.locator('#system-storage-errors #storage-error-counts');
    await counts.waitFor();
    const ctext = await counts.innerText();
    ok(/1 error by bucket/.test(ctext) && /primary · put_file/.test(ctext) && await counts.locator('.bar').count() === 1,
      'the counts are drawn as bars by bucket and operation', ctext.replace(/\s+/g, ' '));
    const ev = await page.locator('#system-storage-errors table.storage-errors tbody').innerText();
    ok(/put_file/.test(ev) && /data\/blocked\//.test(ev) && /io_error/.test(ev) && /Not a directory/.test(ev),
      'the event is listed with its key, code and message', ev.replace(/\s+/g, ' '));
    const doc = (await apiGet('/openapi.json')).body;
    for (const [id, p] of [['vector-indexes', '/vectors/indexes'], ['cache', '/cache']]) {
      const card = page.locator(`#system-${id} .body`);
      await page.waitForFunction((sel) => !/Loading/.test(document.querySelector(sel).innerText), `#system-${id} .body`);
      const text = await card.innerText();
      if (doc.paths[p]) ok(!(await card.locator('.note-error').count()), `${p} is shown`, text);
      else ok(/Not available in this build/.test(text), `${p} is missing and said to be`, text);
    }
    await noObjectObject(page, 'System');
    await shot(page, 'system');
  });

  await step('Ask: says what is available', async () => {
    await page.click('#tab-ask');
    await page.locator('#ask-input').waitFor();
    const doc = (await apiGet('/openapi.json')).body;
    if (!doc.paths['/rag'] && !doc.paths['/ask']) {
      await page.locator('#ask-banner .note').waitFor();
      const text = await page.locator('#ask-banner').innerText();
      ok(/not available in this build/.test(text) && /language model|model server/.test(text),
        'without /rag and /ask the tab says so and how to configure a model', text);
      await page.fill('#ask-input', 'Which cities have the most people?');
      await page.click('#ask-button');
      await page.locator('#ask-out .note').waitFor();
      ok(/not available/.test(await page.locator('#ask-out').innerText()), 'asking anyway explains instead of failing');
    } else {
      ok(true, 'the server has /rag or /ask (checked by their own tests)');
    }
    await noObjectObject(page, 'Ask');
    await shot(page, 'ask');
  });

  await step('Ask: a real /rag answer cites dataset, row and chunk; /ask without a model says so', async () => {
    // A text column embedded on ingest (?embed=bio) queues a text-index job; wait for it.
    const csv = 'id,name,bio\n1,Ada,Ada writes compilers in Chicago. She likes Java.\n' +
      '2,Grace,Grace builds databases in Boston. She mentors juniors.\n3,Linus,Linus maintains kernels in Portland.\n';
    const res = await fetch(`${URL_BASE}/ingest?dataset=notes&name=notes.csv&embed=bio`, {
      method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: csv });
    const ing = await res.json();
    ok(res.status === 201 && ing.jobs && ing.jobs.length === 1, 'ingest with ?embed=bio queues one job', JSON.stringify(ing));
    let job = ing.jobs[0];
    for (let i = 0; i < 600 && !['done', 'failed', 'canceled'].includes(job.state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await apiGet(`/jobs/${job.id}`)).body;
    }
    ok(job.state === 'done', 'the text index job is done', JSON.stringify(job));
    const p2 = await context.newPage();
    await p2.goto(`${URL_BASE}/#ask`);
    await p2.locator('#ask-source option[value=notes_bio_text]').waitFor({ state: 'attached' });
    await p2.fill('#ask-input', 'Who writes compilers?');
    await p2.keyboard.press('Control+Enter');
    await p2.locator('#ask-out .answer-text').waitFor();
    const answer = await p2.locator('#ask-out .answer-text').innerText();
    ok(/Ada writes compilers in Chicago/.test(answer) && await p2.locator('#ask-out .answer-text a.cite').count() >= 1,
      'the offline answer quotes the best sentence with a numbered citation', answer);
    const msg = await p2.locator('#ask-out .note').first().innerText();
    ok(/No language model is configured/.test(msg), 'the tab says plainly that no language model is configured', msg);
    ok(await p2.locator('#ask-out ul.sentences mark').count() >= 1, 'the matching words are highlighted');
    const src = await p2.locator('#ask-out ol.sources li#ask-source-1').innerText();
    ok(/\[1\] notes · row 0 · chunk 0/.test(src) && /Ada writes compilers/.test(src),
      'source [1] is cited with dataset, row and chunk', src);
    await noObjectObject(p2, 'Ask (rag)');
    await shot(p2, 'ask-rag');
    await p2.check('.modes input[value=ask]');
    await p2.click('#ask-button');
    await p2.locator('#ask-out .note').waitFor();
    const none = await p2.locator('#ask-out').innerText();
    ok(/needs a language model/.test(none) && /no language model is configured/.test(none) && /generator_url/.test(none),
      'without a model, /ask (503) is explained with how to configure one', none);
    await shot(p2, 'ask-no-model');
    await p2.close();
  });

  await step('Ask: generated SQL from a model is shown, with its refused attempt, and runs in SQL', async () => {
    // LH_ASK_URL: a server whose generator is the stand-in model "sql-retry" (a query naming
    // a missing column first; with the error, SELECT count(*) AS n FROM people).
    const p2 = await context.newPage();
    await p2.goto(`${ASK_URL}/#ask`);
    await p2.locator('.modes input[value=ask]').waitFor();
    await p2.check('.modes input[value=ask]');
    await p2.fill('#ask-input', 'How many people are there?');
    await p2.click('#ask-button');
    await p2.locator('#ask-out pre.sql-text').waitFor();
    const sqlText = await p2.locator('#ask-out pre.sql-text').innerText();
    ok(/SELECT count\(\*\) AS n FROM people/i.test(sqlText), 'the generated SQL is shown', sqlText);
    const text = await p2.locator('#ask-out').innerText();
    ok(/Written by ollama\/sql-retry/.test(text) && /first query was refused/.test(text),
      'the model and its refused first attempt are told', text.replace(/\s+/g, ' '));
    ok(/\b6\b/.test(await p2.locator('#ask-out table.results tbody').innerText()), 'its result is shown (6 people)');
    await shot(p2, 'ask-sql');
    await p2.click('#ask-out button:has-text("Edit in SQL")');
    await p2.locator('#tab-sql[aria-selected=true]').waitFor();
    ok(/count\(\*\) AS n FROM people/i.test(await p2.locator('#sql-editor .cm-content').innerText()),
      'Edit in SQL puts the query in the editor');
    await p2.click('#sql-run');
    await p2.locator('#sql-grid table.results tbody tr').first().waitFor();
    ok(await p2.locator('#sql-grid table.results tbody tr').count() === 1, 'the generated SQL runs in the SQL tab');
    await p2.close();
  });

  await step('Explore: a version shows its journal events (GET /journal/{dataset})', async () => {
    const post = (p, body) => fetch(`${URL_BASE}${p}`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    ok((await post('/datasets/notes/key', { key: 'id' })).ok, 'notes gets the key id');
    const up = await post('/datasets/notes/upsert', { rows: [{ id: 2, name: 'Grace Hopper' }], reason: 'full name' });
    const upText = await up.text();
    ok(up.ok, 'an upsert changes one name', upText);
    // Through the server's write-ahead log the version (and its journal event) is committed by
    // the log's flush, about wal_flush_ms after the answer: wait for it before reading versions.
    const ans = JSON.parse(upText);
    for (let i = 0; ans.committed === false && i < 50; i++) {
      const d = await (await fetch(`${URL_BASE}/catalog/datasets/notes`)).json();
      if (d.version > ans.version) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const p2 = await context.newPage();
    await p2.goto(`${URL_BASE}/#explore/notes`);
    const ev = p2.locator('#dataset-detail ol.versions > li').first().locator('ul.journal-events');
    await ev.waitFor();
    const text = await ev.innerText();
    ok(/name: Grace\s*→\s*Grace Hopper/.test(text) && /\b2\b/.test(text) && /why: full name/.test(text),
      'the newest version lists its event: field, old → new, key and why', text.replace(/\s+/g, ' '));
    await noObjectObject(p2, 'Explore journal');
    await shot(p2, 'explore-journal');
    await p2.close();
  });

  await step('System: the cache card lists entries and pins a dataset', async () => {
    await apiGet('/cache');
    await fetch(`${URL_BASE}/sql`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT count(*) FROM people' }) });
    const p2 = await context.newPage();
    await p2.goto(`${URL_BASE}/#system`);
    await p2.locator('#cache-summary').waitFor();
    ok(/in use/.test(await p2.locator('#cache-summary').innerText()), 'the cache budget and use are shown');
    await p2.locator('#cache-pin-dataset option[value=people]').waitFor({ state: 'attached' });
    await p2.selectOption('#cache-pin-dataset', 'people');
    await p2.click('#cache-pin');
    await p2.locator('table.cache-entries .tag:has-text("pinned")').waitFor();
    const row = await p2.locator('table.cache-entries tbody tr:has-text("people")').innerText();
    ok(/pinned/.test(row) && /Unpin/.test(row), 'people is pinned and can be unpinned', row);
    const cache = (await apiGet('/cache')).body;
    ok(cache.entries.some((e) => e.dataset === 'people' && e.pinned), 'GET /cache agrees', JSON.stringify(cache));
    await shot(p2, 'system-cache');
    await p2.click('table.cache-entries tbody tr:has-text("people") button:has-text("Unpin")');
    await p2.locator('table.cache-entries tbody tr:has-text("people") button:has-text("Pin")').waitFor();
    ok(!(await apiGet('/cache')).body.entries.some((e) => e.dataset === 'people' && e.pinned), 'Unpin unpins');
    await p2.close();
  });

  await step('System: vector indexes and the trials chart with its Pareto front (stand-in routes)', async () => {
    const p3 = await context.newPage();
    await p3.route('**/openapi.json', async (route) => {
      const res = await route.fetch();
      const doc = await res.json();
      doc.paths['/vectors/indexes'] = { get: { responses: {} } };
      doc.paths['/hnsw/trials/{index}'] = { get: { responses: {} } };
      await route.fulfill({ response: res, json: doc });
    });
    // The shape of GET /vectors/indexes.
    await p3.route('**/vectors/indexes', (route) => route.fulfill({ json: { indexes: [{
      name: 'resumes',
      current: { generation: 'g00000003', dataset: 'candidates', column: 'embedding', dataset_version: 4,
        count: 100000, dim: 100, metric: 'cosine', m: 16, ef_search: 64, memory_bytes: 52000000 },
      generations: [{ generation: 'g00000002', count: 90000 }, { generation: 'g00000003', count: 100000, current: true }],
    }] } }));
    await p3.route('**/hnsw/trials/resumes', (route) => route.fulfill({ json: { trials: [
      { id: 1, m: 8, ef_search: 32, recall_at_10: 0.82, p50_ms: 0.4 },
      { id: 2, m: 16, ef_search: 64, recall_at_10: 0.93, p50_ms: 0.9 },
      { id: 3, m: 16, ef_search: 32, recall_at_10: 0.80, p50_ms: 0.7 },
      { id: 4, m: 32, ef_search: 128, recall_at_10: 0.98, p50_ms: 2.1 },
      { id: 5, m: 32, ef_search: 64, recall_at_10: 0.90, p50_ms: 1.5 }] } }));
    await p3.goto(`${URL_BASE}/#system`);
    const idx = p3.locator('#system-vector-indexes .index');
    await idx.waitFor();
    const text = await idx.innerText();
    ok(/resumes/.test(text) && /g00000003/.test(text) && /candidates\.embedding/.test(text) && /2 generations/.test(text),
      'the vector indexes are listed with their current generation', text.replace(/\s+/g, ' '));
    const fig = p3.locator('#system-trials figure.chart[data-kind=pareto]');
    await fig.waitFor();
    const cap = await fig.locator('figcaption').innerText();
    ok(/5 trials, 3 on the Pareto front/.test(cap), 'trials 1, 2 and 4 form the Pareto front', cap);
    ok(await fig.locator('canvas').count() > 0, 'the trials chart is drawn');
    await p3.screenshot({ path: path.join(ART, 'system-trials.png'), fullPage: true });
    await p3.close();
  });

  await step('a link to a dataset opens it', async () => {
    const other = await context.newPage();
    await other.goto(`${URL_BASE}/#explore/people`);
    await other.locator('#dataset-detail table.schema').waitFor();
    ok(/people/.test(await other.locator('#dataset-detail h2').innerText()), '#explore/people shows people');
    await other.close();
  });

  await step('keyboard: arrow keys move between tabs', async () => {
    await page.focus('#tab-ask');
    await page.keyboard.press('ArrowRight');
    ok((await page.locator('#tab-explore').getAttribute('aria-selected')) === 'true', 'ArrowRight selects Explore');
    ok(await page.evaluate(() => document.activeElement.id) === 'tab-explore', 'focus follows the selected tab');
    await page.keyboard.press('End');
    ok((await page.locator('#tab-system').getAttribute('aria-selected')) === 'true', 'End selects System');
  });

  await step('a narrow window has no horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const tab of ['explore', 'sql', 'system', 'ask']) {
      await page.click(`#tab-${tab}`);
      await page.waitForTimeout(150);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      ok(over <= 1, `${tab} fits a 390 px window`, `overflows by ${over}px`);
    }
    await page.click('#tab-explore');
    await shot(page, 'explore-narrow');
  });

  ok(pageErrors.length === 0, 'no uncaught errors in the page', pageErrors.join(' | '));
  ok(foreign.length === 0, 'no request left the server under test', foreign.join(' '));
  ok(consoleErrors.length === 0, 'no errors in the browser console (CSP refusals included)', consoleErrors.join(' | '));
  await browser.close();
  console.log(`# ui_test: ${checks} checks, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok - the browser test crashed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
