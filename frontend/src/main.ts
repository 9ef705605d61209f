// The app shell: header and navigation, the hash router, and the 30 s
// auto-refresh. Routes: #/ dashboard, #/start, #/miner/<address>,
// #/blocks[/page], #/payments[/page], #/top[/hashrate|hashes].

import './style.css';
import { apiBase } from './api';
import { formatDateTime, formatHashrate, formatNumber, formatRelative } from './format.js';
import { h, message, refreshTimes, replace } from './dom';
import type { Page, PageFactory } from './page';
import { dashboardPage } from './pages/dashboard';
import { minerPage } from './pages/miner';
import { blocksPage, paymentsPage } from './pages/paged';
import { startPage } from './pages/start';
import { topPage } from './pages/top';
import { loadPoolStats, onPoolStats, savedAddress } from './state';

const REFRESH_MS = 30_000;

interface Route {
  name: string;
  title: string;
  factory: PageFactory;
}

const ROUTES: Record<string, Route> = {
  '': { name: 'dashboard', title: 'Dashboard', factory: dashboardPage },
  start: { name: 'start', title: 'Getting started', factory: startPage },
  miner: { name: 'miner', title: 'My stats', factory: minerPage },
  blocks: { name: 'blocks', title: 'Blocks', factory: blocksPage },
  payments: { name: 'payments', title: 'Payments', factory: paymentsPage },
  top: { name: 'top', title: 'Top miners', factory: topPage },
};

const NAV: [string, string][] = [
  ['', 'Dashboard'],
  ['start', 'Getting started'],
  ['blocks', 'Blocks'],
  ['payments', 'Payments'],
  ['top', 'Top miners'],
  ['miner', 'My stats'],
];

// ---- shell ----
const brandName = h('span', { class: 'brand-name' }, 'rxpool');
const brandCoin = h('span', { class: 'brand-coin' });
const headStats = h('div', { class: 'head-stats' });
const navLinks = NAV.map(([key, label]) => h('a', { href: `#/${key}`, 'data-nav': key || 'dashboard' }, label));
const nav = h('nav', { class: 'nav', 'aria-label': 'main' }, navLinks);
const status = h('div', { class: 'status-slot' });
const view = h('main', { id: 'view', 'data-ready': 'false' });
const updatedEl = h('span');
const footer = h(
  'footer',
  { class: 'footer' },
  updatedEl,
  h('span', null, `Refreshes every ${REFRESH_MS / 1000} s`),
  h('span', { class: 'mono' }, `API ${apiBase()}`),
);

const app = document.getElementById('app') ?? document.body;
replace(
  app,
  h(
    'header',
    { class: 'header' },
    h('div', { class: 'header-row' }, h('a', { class: 'brand', href: '#/' }, brandName, brandCoin), headStats),
    nav,
  ),
  h('div', { class: 'container' }, status, view),
  footer,
);

function updateMyStatsLink(): void {
  const a = navLinks[NAV.findIndex(([k]) => k === 'miner')];
  const addr = savedAddress();
  a.setAttribute('href', addr ? `#/miner/${encodeURIComponent(addr)}` : '#/miner');
}
updateMyStatsLink();
window.addEventListener('rxpool:address', updateMyStatsLink);

onPoolStats((s) => {
  const c = s.config;
  brandName.textContent = c?.coin ? `${c.coin.charAt(0).toUpperCase()}${c.coin.slice(1)} pool` : 'rxpool';
  brandCoin.textContent = c?.symbol ?? '';
  replace(
    headStats,
    h('span', { title: 'pool hashrate' }, formatHashrate(s.pool?.hashrate)),
    h('span', { title: 'network height' }, `#${formatNumber(s.network?.height)}`),
  );
  document.title = `${currentRoute?.title ?? ''} · ${c?.symbol ?? ''} pool`.replace(/^ · /, '');
});

// ---- router ----
let current: Page | null = null;
let currentRoute: Route | null = null;
let token = 0;
let busy = false;
let stale = false;
let lastOk = 0;

function parseHash(): { key: string; arg: string } {
  const path = location.hash.replace(/^#\/?/, '').replace(/\?.*$/, '');
  const [key = '', ...rest] = path.split('/');
  let arg = rest.join('/');
  try {
    arg = decodeURIComponent(arg);
  } catch {
    /* keep it raw */
  }
  return { key, arg };
}

function route(): void {
  const { key, arg } = parseHash();
  current?.destroy?.();
  current = null;
  token++;
  replace(status);
  view.dataset.ready = 'false';
  const r = ROUTES[key];
  for (const a of navLinks) a.classList.toggle('active', a.dataset.nav === (r ? r.name : ''));
  if (!r) {
    currentRoute = null;
    view.dataset.route = 'notfound';
    replace(view, message('warn', ['Page not found. ', h('a', { href: '#/' }, 'Go to the dashboard')]));
    view.dataset.ready = 'true';
    return;
  }
  currentRoute = r;
  document.title = `${r.title} · pool`;
  view.dataset.route = r.name;
  const page = r.factory(arg);
  current = page;
  replace(view, page.el);
  window.scrollTo(0, 0);
  void refresh();
}

async function refresh(): Promise<void> {
  const page = current;
  if (!page) return;
  const my = token;
  busy = true;
  // The header shows pool figures on every page; pages that need the same
  // document share this request (state.ts).
  loadPoolStats().catch(() => {});
  try {
    await page.update();
    if (my !== token) return;
    replace(status);
    lastOk = Date.now();
    view.dataset.ready = 'true';
  } catch (e) {
    if (my !== token) return;
    const text = e instanceof Error ? e.message : String(e);
    replace(status, message('error', `Could not load data: ${text}. Retrying every ${REFRESH_MS / 1000} s.`));
    if (view.dataset.ready !== 'true') view.dataset.ready = 'error';
  } finally {
    if (my === token) busy = false;
    renderUpdated();
  }
}

function renderUpdated(): void {
  updatedEl.textContent = lastOk ? `Updated ${formatRelative(lastOk)}` : 'Not updated yet';
  updatedEl.title = lastOk ? formatDateTime(lastOk) : '';
}

setInterval(() => {
  if (document.hidden) {
    stale = true;
    return;
  }
  refreshTimes(document);
  if (!busy) void refresh();
}, REFRESH_MS);

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && stale && !busy) {
    stale = false;
    void refresh();
  }
});

window.addEventListener('hashchange', route);
route();
