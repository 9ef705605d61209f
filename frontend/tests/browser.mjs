#!/usr/bin/env node
// End-to-end browser test of the built frontend against a running pool (or
// tests/mock-api.mjs). Every expected value is read from the API at the given
// URL and formatted with the app's own rules (src/format.js): nothing here
// depends on particular data.
//
//   node tests/browser.mjs --url http://127.0.0.1:PORT/ --address ADDR --out DIR [--chromium /usr/bin/chromium]
//
// The URL serves the app at / and the API at ./api. The dashboard, getting
// started and miner pages are checked at each width (1280 and 390 px): the
// values, no amount wrapping or leaving its tile, no sideways page scroll,
// chart windows that start at the first sample. Saves full-page screenshots
// into DIR (dashboard-W, start-W, miner-W for each width W; blocks,
// payments, top). Exits 0 when every check passes; otherwise prints each
// failed check and exits 1. Gives up after 90 s.

import { existsSync, mkdirSync } from 'node:fs';
import { resolve, join } from 'node:path';
import * as fmt from '../src/format.js';

const TOTAL_TIMEOUT_MS = 90_000;
const BAD_ADDRESS = 'not-an-address';
const STEP_TIMEOUT_MS = 20_000;
const WIDTHS = [1280, 390];

// ---- arguments ----
const argv = process.argv.slice(2);
function opt(name, def) {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : def;
}
const usage = 'usage: node tests/browser.mjs --url http://127.0.0.1:PORT/ --address ADDR --out DIR [--chromium /usr/bin/chromium]';
const rawUrl = opt('url');
const ADDRESS = opt('address');
const OUT = resolve(opt('out', 'test-results'));
const CHROMIUM = opt('chromium', process.env.CHROMIUM || '/usr/bin/chromium');
if (!rawUrl || !ADDRESS) {
  console.error(usage);
  process.exit(2);
}
const base = new URL(rawUrl);
base.hash = '';
base.search = '';
if (!base.pathname.endsWith('/')) base.pathname += '/';
const BASE = base.toString();

// ---- bookkeeping ----
let step = 'start';
let passed = 0;
const failures = [];
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failures.push(`${name}${detail ? ': ' + detail : ''}`);
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return ok;
}
/** Passes when actual equals one of the expected strings (the test's own API read, or the one the page made). */
function checkEq(name, actual, ...expected) {
  const want = [...new Set(expected.filter((e) => e !== undefined))];
  return check(name, want.includes(actual), `got ${JSON.stringify(actual)}, want ${want.map((w) => JSON.stringify(w)).join(' or ')}`);
}

let browser = null;
async function finish(code) {
  if (browser) {
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
  }
  process.exit(code);
}
const overall = setTimeout(() => {
  console.error(`FAIL browser test timed out after ${TOTAL_TIMEOUT_MS / 1000} s (during: ${step})`);
  for (const f of failures) console.error(`  earlier failure: ${f}`);
  console.log(`${passed} passed, ${failures.length + 1} failed`);
  finish(1);
}, TOTAL_TIMEOUT_MS);

// ---- API ----
async function api(path) {
  const url = new URL(`api/${path}`, BASE);
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${e.cause?.message ?? e.message}`);
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${res.status} with no JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body };
}

// ---- page helpers ----
async function open(page, hash, route) {
  await page.goto('about:blank');
  await page.goto(BASE + hash, { waitUntil: 'domcontentloaded', timeout: STEP_TIMEOUT_MS });
  await page.waitForFunction(
    (r) => {
      const v = document.getElementById('view');
      return v && v.dataset.route === r && (v.dataset.ready === 'true' || v.dataset.ready === 'error');
    },
    route,
    { timeout: STEP_TIMEOUT_MS },
  );
  const ready = await page.getAttribute('#view', 'data-ready');
  if (ready !== 'true') {
    const msg = await page.locator('.status-slot').innerText().catch(() => '');
    check(`${route}: page loaded`, false, `the page shows an error: ${msg.trim()}`);
    return false;
  }
  return check(`${route}: page loaded`, true);
}

async function textOf(page, testid) {
  const loc = page.locator(`[data-testid="${testid}"]`);
  const n = await loc.count();
  if (n !== 1) return `<${n} elements with data-testid=${testid}>`;
  return (await loc.textContent())?.trim() ?? '';
}

async function countOf(page, testid) {
  return page.locator(`[data-testid="${testid}"]`).count();
}

/** Waits for a chart's canvas to be drawn and reads its points and pixels. */
async function chartInfo(page, name) {
  const sel = `canvas[data-testid="chart-${name}"]`;
  try {
    await page.waitForSelector(`${sel}[data-points]`, { state: 'attached', timeout: 10_000 });
  } catch {
    return { present: (await page.locator(sel).count()) > 0, points: null };
  }
  return page.evaluate((s) => {
    const c = document.querySelector(s);
    const ctx = c.getContext('2d');
    const { width, height } = c;
    const data = ctx.getImageData(0, 0, width, height).data;
    let opaque = 0;
    let colored = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0) {
        opaque++;
        const mx = Math.max(data[i], data[i + 1], data[i + 2]);
        const mn = Math.min(data[i], data[i + 1], data[i + 2]);
        if (mx - mn > 60 && data[i + 3] > 40) colored++;
      }
    }
    const n = (k) => (c.dataset[k] === undefined || c.dataset[k] === '' ? NaN : Number(c.dataset[k]));
    return {
      present: true, points: Number(c.dataset.points), series: Number(c.dataset.series), firstTick: n('firstTick'), xMin: n('xMin'), xMax: n('xMax'),
      width, height, opaque, colored, visible: c.getBoundingClientRect().height > 0,
    };
  }, sel);
}

/**
 * Checks a chart against the series of the test's and the page's API reads
 * (reads[i] = that read's series of the chart): the points in the window
 * were drawn, and the time axis neither starts before the first sample nor
 * spans more than 24 h (plus the narrowest window). Returns what the canvas
 * says (data-points, data-series...).
 */
async function checkChart(page, label, name, reads, minPoints) {
  const info = await chartInfo(page, name);
  if (!check(`${label}: chart-${name} drawn`, info.present && info.points !== null, info.present ? 'no data-points attribute after 10 s' : 'no canvas')) return info;
  const wins = reads.map((r) => fmt.chartWindow(r));
  const want = reads.map((r, i) => String(Math.max(0, ...r.map((pts) => fmt.pointsInWindow(pts, wins[i])))));
  checkEq(`${label}: chart-${name} data-points = API points in its window`, String(info.points), ...want);
  const apiPoints = Math.max(...want.map(Number));
  const firsts = wins.filter(Boolean).map((w) => w.min);
  if (firsts.length && info.points > 0) {
    const first = Math.min(...firsts);
    check(
      `${label}: chart-${name} first tick not before the first sample`,
      Number.isFinite(info.firstTick) && info.firstTick >= first && info.xMin >= first,
      `first tick ${new Date(info.firstTick).toISOString()}, axis from ${new Date(info.xMin).toISOString()}, first sample ${new Date(first).toISOString()}`,
    );
    check(
      `${label}: chart-${name} spans at most 24 h`,
      info.xMax - info.xMin <= 86_400_000 + fmt.MIN_CHART_SPAN_MS,
      `${((info.xMax - info.xMin) / 3_600_000).toFixed(2)} h`,
    );
  }
  if (minPoints) check(`${label}: chart-${name} has ≥ ${minPoints} points`, info.points >= minPoints, `${info.points} points (the API sent ${apiPoints})`);
  check(`${label}: chart-${name} is visible`, info.visible && info.width > 0 && info.height > 0, `canvas ${info.width}×${info.height}`);
  if (info.points >= 2) {
    const area = info.width * info.height;
    check(
      `${label}: chart-${name} pixels drawn`,
      info.opaque > area * 0.005 && info.colored > 50,
      `${info.opaque} non-transparent and ${info.colored} colored pixels of ${area}`,
    );
  }
  return info;
}

/**
 * Every visible amount (.amount) is on one line, and one in a tile stays
 * inside its tile; the page does not scroll sideways.
 */
async function checkLayout(page, label, width) {
  const bad = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('.amount')) {
      const rects = el.getClientRects();
      if (!rects.length) continue; // hidden
      const box = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      const line = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.5;
      const tile = el.closest('.tile');
      const text = el.textContent;
      if (rects.length > 1 || box.height > line * 1.5) out.push(`"${text}" takes ${rects.length} boxes, ${box.height.toFixed(0)} px high (line ${line.toFixed(0)} px)`);
      else if (tile && box.right > tile.getBoundingClientRect().right - 1) out.push(`"${text}" leaves its tile`);
    }
    return { count: document.querySelectorAll('.amount').length, bad: out, scroll: document.documentElement.scrollWidth };
  });
  check(`${label}: no amount wraps or leaves its tile (${bad.count} amounts)`, bad.bad.length === 0, bad.bad.join('; '));
  check(`${label}: no horizontal page scroll at ${width} px`, bad.scroll <= width + 1, `page is ${bad.scroll} px wide`);
}

async function shot(page, name) {
  const file = join(OUT, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`     screenshot ${file}`);
}

// ---- the test ----
const ctx = {};

// The dashboard, getting started and miner pages at one viewport width.
async function mainPages(page, width) {
  const { S, cfg, M, miner, seen } = ctx;
  // ---------------- dashboard ----------------
  step = `dashboard at ${width} px`;
  if (await open(page, '#/', 'dashboard')) {
    const P = seen.pool ?? S;
    const pairs = [
      ['pool-hashrate', (s) => fmt.formatHashrate(s.pool.hashrate)],
      ['pool-miners', (s) => fmt.formatNumber(s.pool.miners)],
      ['pool-workers', (s) => fmt.formatNumber(s.pool.workers)],
      ['network-height', (s) => fmt.formatNumber(s.network.height)],
      ['network-difficulty', (s) => fmt.formatDifficulty(s.network.difficulty)],
      ['blocks-found', (s) => fmt.formatNumber(s.pool.blocksFound)],
      ['pool-fee', (s) => fmt.formatPercent(s.config.poolFee)],
    ];
    for (const [id, f] of pairs) checkEq(`dashboard: ${id}`, await textOf(page, id), f(S), f(P));
    checkEq('dashboard: recent block rows', String(await countOf(page, 'block-row')), String(S.blocks?.length ?? 0), String(P.blocks?.length ?? 0));
    checkEq('dashboard: recent payment rows', String(await countOf(page, 'payment-row')), String(S.payments?.length ?? 0), String(P.payments?.length ?? 0));
    await checkChart(page, `dashboard ${width}`, 'hashrate', [[S.charts?.hashrate], [P.charts?.hashrate]], 2);
    await checkChart(page, `dashboard ${width}`, 'difficulty', [[S.charts?.difficulty], [P.charts?.difficulty]], 0);
    check('dashboard: viewport meta', (await page.locator('meta[name="viewport"]').count()) === 1);
    await checkLayout(page, `dashboard ${width}`, width);
    await shot(page, `dashboard-${width}.png`);
  }

  // ---------------- getting started ----------------
  step = `getting started at ${width} px`;
  if (await open(page, '#/start', 'start')) {
    const ports = cfg.ports ?? [];
    checkEq('start: one port-row per config port', String(await countOf(page, 'port-row')), String(ports.length));
    for (const p of ports) {
      const row = page.locator(`[data-testid="port-row"][data-port="${p.port}"]`);
      const n = await row.count();
      if (!check(`start: port-row ${p.port}`, n === 1, `${n} rows`)) continue;
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      check(`start: port ${p.port} shows diff and TLS`, text.includes(fmt.formatDifficulty(p.diff)) && text.includes(p.tls ? 'yes' : 'no'), text);
    }
    const host = cfg.poolHost || base.hostname;
    const algo = cfg.algo || 'rx/0';
    const soloPrefix = cfg.soloPrefix || 'solo:';
    const sep = cfg.fixedDiffSeparator || '.';
    await page.fill('[data-testid="start-address"]', ADDRESS);
    await page.fill('[data-testid="start-worker"]', 'testrig');
    const cmd = await textOf(page, 'xmrig-command');
    check('start: xmrig command has the address', cmd.includes(ADDRESS), cmd);
    check(`start: xmrig command has -a ${algo}`, cmd.includes(`-a ${algo}`), cmd);
    if (ports.length) {
      const first = ports[0];
      const want = fmt.xmrigCommand({ algo, host, port: first.port, login: ADDRESS, worker: 'testrig', tls: first.tls });
      checkEq('start: xmrig command (first port)', cmd, want);

      await page.check('[data-testid="start-solo"]');
      await page.fill('[data-testid="start-diff"]', '50000');
      const tlsPort = ports.find((p) => p.tls) ?? ports[ports.length - 1];
      await page.selectOption('[data-testid="start-port"]', String(tlsPort.port));
      const login = fmt.minerLogin({ address: ADDRESS, diff: 50000, solo: true, soloPrefix, separator: sep });
      check('start: solo login with fixed difficulty', login === `${soloPrefix}${ADDRESS}${sep}50000`, login);
      checkEq(
        `start: xmrig command (solo, diff, port ${tlsPort.port})`,
        await textOf(page, 'xmrig-command'),
        fmt.xmrigCommand({ algo, host, port: tlsPort.port, login, worker: 'testrig', tls: tlsPort.tls }),
      );
      await page.uncheck('[data-testid="start-solo"]');
    }
    // Earnings: 10 kH/s.
    await page.fill('[data-testid="calc-hashrate"]', '10');
    await page.selectOption('[data-testid="calc-unit"]', '1000');
    const P = seen.pool ?? S;
    const daily = (s) => fmt.estimateDaily(10_000, s.network.difficulty, s.network.lastBlock?.reward ?? 0, s.config.poolFee);
    checkEq('start: earnings per day at 10 kH/s', await textOf(page, 'calc-daily'), fmt.formatCoins(daily(S), cfg), fmt.formatCoins(daily(P), P.config));
    checkEq('start: earnings per month at 10 kH/s', await textOf(page, 'calc-monthly'), fmt.formatCoins(daily(S) * 30, cfg), fmt.formatCoins(daily(P) * 30, P.config));
    await page.evaluate(() => window.scrollTo(0, 0));
    await checkLayout(page, `start ${width}`, width);
    await shot(page, `start-${width}.png`);
  }

  // ---------------- miner ----------------
  step = `miner page at ${width} px`;
  const minerOpened = await open(page, `#/miner/${encodeURIComponent(ADDRESS)}`, 'miner');
  if (minerOpened && !M) {
    // The API has no data for the address: the page must say so (the check
    // that the API answers 200 has already failed above).
    const text = await page.locator('#view').innerText();
    const want = miner.status === 404 ? 'No data for this address yet' : String(miner.body?.error ?? '');
    check(`miner: page shows the API's ${miner.status} answer`, text.includes(want), `want "${want}" in: ${text.slice(0, 200)}`);
    await shot(page, `miner-${width}.png`);
  }
  if (minerOpened && M) {
    const MP = seen.miner ?? M;
    const C = (seen.pool ?? S).config;
    const pairs = [
      ['miner-balance', (m, c) => fmt.formatCoins(m.balance, c)],
      ['miner-immature', (m, c) => fmt.formatCoins(m.immature, c)],
      ['miner-paid', (m, c) => fmt.formatCoins(m.paid, c)],
      ['miner-hashrate', (m) => fmt.formatHashrate(m.hashrate)],
    ];
    for (const [id, f] of pairs) checkEq(`miner: ${id}`, await textOf(page, id), f(M, cfg), f(MP, C));

    const rows = await page.$$eval('[data-testid="worker-row"]', (trs) =>
      trs.map((tr) => ({
        name: tr.getAttribute('data-worker'),
        offline: tr.getAttribute('data-offline'),
        cls: tr.classList.contains('offline'),
        badge: /\boffline\b/.test(tr.querySelector('.badge')?.textContent ?? ''),
      })),
    );
    const workers = MP.workers ?? [];
    checkEq('miner: one worker-row per API worker', String(rows.length), String((M.workers ?? []).length), String(workers.length));
    for (const w of workers) {
      const r = rows.find((x) => x.name === w.name);
      if (!check(`miner: worker-row "${w.name}"`, !!r, 'missing')) continue;
      checkEq(`miner: worker "${w.name}" data-offline`, r.offline, String(!!w.offline));
      check(`miner: worker "${w.name}" offline class and badge`, r.cls === !!w.offline && r.badge === !!w.offline, `class offline: ${r.cls}, badge: ${r.badge}, API offline: ${!!w.offline}`);
    }
    checkEq('miner: payment-row count', String(await countOf(page, 'payment-row')), String(M.payments?.length ?? 0), String(MP.payments?.length ?? 0));
    checkEq('miner: block-row count', String(await countOf(page, 'block-row')), String(M.blocks?.length ?? 0), String(MP.blocks?.length ?? 0));
    const minerReads = [M, MP].map((m) => [m.charts?.hashrate, ...Object.values(m.charts?.workerHashrate ?? {})]);
    const info = await checkChart(page, `miner ${width}`, 'miner-hashrate', minerReads, 0);
    checkEq(`miner ${width}: a hashrate line per worker series`, String(info?.series), ...minerReads.map((r) => String(r.length)));
    const remembered = await page.evaluate(() => localStorage.getItem('rxpool.address'));
    checkEq('miner: address remembered', remembered, ADDRESS);
    const myStats = await page.getAttribute('a[data-nav="miner"]', 'href');
    checkEq('miner: "My stats" links to the address', myStats, `#/miner/${encodeURIComponent(ADDRESS)}`);
    await checkLayout(page, `miner ${width}`, width);
    await shot(page, `miner-${width}.png`);
  }
}

async function main() {
  step = 'checking chromium';
  if (!existsSync(CHROMIUM)) {
    console.error(`FAIL chromium not found at ${CHROMIUM} (install Debian's chromium or pass --chromium PATH)`);
    console.log(`0 passed, 1 failed`);
    return finish(1);
  }
  mkdirSync(OUT, { recursive: true });

  step = 'reading the API';
  const pool = await api('stats');
  if (!check('API /api/stats answers 200', pool.status === 200, `status ${pool.status}: ${JSON.stringify(pool.body).slice(0, 200)}`)) return finish(1);
  const S = pool.body;
  const cfg = S.config;
  const miner = await api(`stats?address=${encodeURIComponent(ADDRESS)}`);
  check('API /api/stats?address= answers 200', miner.status === 200, `status ${miner.status}: ${JSON.stringify(miner.body).slice(0, 200)}`);
  const M = miner.status === 200 ? miner.body : null;

  step = 'starting chromium';
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    timeout: STEP_TIMEOUT_MS,
  });
  // What the page itself got from the API: values can move between the
  // test's read and the page's (a live pool), so either one is accepted.
  const seen = { pool: null, miner: null };
  async function newPage(width) {
    const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('response', async (r) => {
      const u = new URL(r.url());
      if (!/\/api\/stats$/.test(u.pathname) || r.status() !== 200) return;
      try {
        const body = await r.json();
        if (u.searchParams.has('address')) seen.miner = body;
        else seen.pool = body;
      } catch {
        /* navigated away */
      }
    });
    page.on('pageerror', (e) => check('no uncaught page errors', false, e.message));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // The deliberate bad-address request below answers 400/404: Chromium logs it.
      if (/status of 4\d\d/.test(m.text()) && (m.location()?.url ?? '').includes(BAD_ADDRESS)) return;
      check('no console errors', false, m.text());
    });
    return page;
  }

  Object.assign(ctx, { S, cfg, M, miner, seen });
  checkEq('format: zero reads "0 SYMBOL"', fmt.formatCoins(0, cfg), `0\u00a0${cfg.symbol}`);
  const page = await newPage(WIDTHS[0]);
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
    await mainPages(page, width);
  }
  await page.setViewportSize({ width: 1280, height: 900 });

  // ---------------- miner page errors ----------------
  step = 'miner page with a bad address';
  {
    const r = await api(`stats?address=${BAD_ADDRESS}`);
    const before = await page.evaluate(() => localStorage.getItem('rxpool.address'));
    if (await open(page, `#/miner/${BAD_ADDRESS}`, 'miner')) {
      const text = await page.locator('#view').innerText();
      if (r.status === 404) check('miner: 404 shows "No data for this address yet"', text.includes('No data for this address yet'), text.slice(0, 200));
      else if (r.status === 400) check('miner: 400 shows the API error', text.includes(r.body.error), `want "${r.body.error}" in: ${text.slice(0, 300)}`);
      else check(`miner: bad address answers 400 or 404`, false, `status ${r.status}`);
      const remembered = await page.evaluate(() => localStorage.getItem('rxpool.address'));
      checkEq('miner: a rejected address is not remembered', remembered, before);
    }
  }

  // ---------------- blocks and payments ----------------
  for (const kind of ['blocks', 'payments']) {
    step = `${kind} page`;
    const rowId = kind === 'blocks' ? 'block-row' : 'payment-row';
    const first = await api(`${kind}?page=1&limit=20`);
    if (!check(`API /api/${kind} answers 200`, first.status === 200, `status ${first.status}`)) continue;
    if (!(await open(page, `#/${kind}`, kind))) continue;
    const d = first.body;
    checkEq(`${kind}: rows on page 1`, String(await countOf(page, rowId)), String(d[kind].length));
    checkEq(`${kind}: pager`, await textOf(page, 'pager-info'), `Page ${fmt.formatNumber(d.page)} of ${fmt.formatNumber(Math.max(1, d.pages))}`);
    await shot(page, `${kind}.png`);
    if (d.pages > 1) {
      const second = await api(`${kind}?page=2&limit=20`);
      await page.click('[data-testid="pager-next"]');
      // The pager text is written together with the rows, once page 2's data is in.
      await page.waitForFunction(
        () =>
          location.hash.endsWith('/2') &&
          document.getElementById('view')?.dataset.ready === 'true' &&
          /^Page 2 /.test(document.querySelector('[data-testid="pager-info"]')?.textContent ?? ''),
      );
      checkEq(`${kind}: rows on page 2`, String(await countOf(page, rowId)), String(second.body[kind].length));
      checkEq(`${kind}: pager on page 2`, await textOf(page, 'pager-info'), `Page 2 of ${fmt.formatNumber(second.body.pages)}`);
    }
  }

  // ---------------- top miners ----------------
  step = 'top miners';
  {
    const byRate = await api('top?by=hashrate&limit=20');
    const byHashes = await api('top?by=hashes&limit=20');
    if (check('API /api/top answers 200', byRate.status === 200 && byHashes.status === 200, `status ${byRate.status}/${byHashes.status}`)) {
      if (await open(page, '#/top', 'top')) {
        checkEq('top: rows by hashrate', String(await countOf(page, 'top-row')), String(byRate.body.miners.length));
        await page.click('[data-testid="top-by-hashes"]');
        await page.waitForSelector('[data-testid="top-table"][data-by="hashes"]');
        checkEq('top: rows by hashes', String(await countOf(page, 'top-row')), String(byHashes.body.miners.length));
        await shot(page, 'top.png');
      }
    }
  }

  step = 'done';
  console.log(`\n${passed} passed, ${failures.length} failed`);
  if (failures.length) {
    console.log('failed checks:');
    for (const f of failures) console.log(`  - ${f}`);
  }
  clearTimeout(overall);
  return finish(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`FAIL browser test crashed during ${step}: ${e.stack ?? e}`);
  console.log(`${passed} passed, ${failures.length + 1} failed`);
  clearTimeout(overall);
  finish(1);
});
