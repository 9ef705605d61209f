#!/usr/bin/env node
// A stand-in for the pool's HTTP server, for frontend development and for
// running tests/browser.mjs without the Go pool: serves dist/ at / and a fake
// /api with realistic data that follows the API contract (a few dozen blocks
// and payments, one miner with two workers of which one is offline, 144-point
// charts). Data is generated once at start, relative to the current time.
//
//   node tests/mock-api.mjs [--port 8117] [--host 127.0.0.1] [--dist ../dist] [--coin monero|pastella]
//
// Prints "mock-api listening on http://HOST:PORT/" and "mock-api address ADDR"
// (the miner that has data); other well-formed addresses answer 404, malformed
// ones 400. GET /api/... only.

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}
const here = fileURLToPath(new URL('.', import.meta.url));
const HOST = opt('host', '127.0.0.1');
const PORT = Number(opt('port', '8117'));
const DIST = resolve(opt('dist', join(here, '..', 'dist')));
const COIN = opt('coin', 'monero');

// ---- deterministic pseudo-random data ----
let seed = 20240601;
function rnd() {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function hex(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rnd() * 16)];
  return s;
}

const PROFILES = {
  monero: {
    coin: 'monero', symbol: 'XMR', units: 1_000_000_000_000, decimals: 12, blockTime: 120,
    prefix: '4', addrLen: 95, difficulty: 312_456_789_012, reward: 600_123_456_789,
    minPayment: 100_000_000_000, denomination: 1_000_000_000, transferFee: 30_000_000, height: 3_190_000,
  },
  pastella: {
    coin: 'pastella', symbol: 'PAS', units: 100_000_000, decimals: 8, blockTime: 30,
    prefix: 'PAS1', addrLen: 54, difficulty: 45_678_901, reward: 1_250_000_000,
    minPayment: 100_000, denomination: 1_000, transferFee: 1_000, height: 412_345,
  },
};
const P = PROFILES[COIN] ?? PROFILES.monero;
function address() {
  let s = P.prefix;
  while (s.length < P.addrLen) s += B58[Math.floor(rnd() * B58.length)];
  return s;
}
const ADDRESS_RE = new RegExp(`^${P.prefix}[${B58}]{${P.addrLen - P.prefix.length}}$`);

const NOW = Date.now();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const MINER = address();
const OTHERS = Array.from({ length: 11 }, () => address());

function series(n, stepMs, base, wobble, integer = false) {
  const pts = [];
  for (let i = n - 1; i >= 0; i--) {
    const t = NOW - i * stepMs;
    let v = base * (1 + wobble * Math.sin(i / 9) + wobble * 0.6 * (rnd() - 0.5));
    if (integer) v = Math.round(v);
    pts.push([t, v]);
  }
  return pts;
}

const config = {
  coin: P.coin, symbol: P.symbol, units: P.units, decimals: P.decimals, algo: 'rx/0', blockTime: P.blockTime,
  poolFee: 1.0, soloFee: 0.5, finderReward: 0.2, depth: 60, pplnsWindow: 2,
  paymentInterval: 600, minPayment: P.minPayment, maxPayment: 0, denomination: P.denomination, transferFee: P.transferFee,
  ports: [
    { port: 3333, diff: 5000, desc: 'Low end hardware', tls: false },
    { port: 5555, diff: 25000, desc: 'Mid range hardware', tls: false },
    { port: 7777, diff: 100000, desc: 'High end hardware', tls: false },
    { port: 9000, diff: 25000, desc: 'TLS', tls: true },
  ],
  fixedDiffSeparator: '.', soloPrefix: 'solo:', offlineAfter: 600,
};

// 27 blocks: the newest few pending, one orphaned, the rest confirmed.
const blocks = [];
for (let i = 0; i < 27; i++) {
  const height = P.height - 3 - i * 37 - Math.floor(rnd() * 20);
  const confirmations = P.height - height;
  const status = confirmations < config.depth ? 'pending' : i === 9 ? 'orphaned' : 'confirmed';
  const scheme = i % 7 === 3 ? 'solo' : i % 5 === 4 ? 'prop' : 'pplns';
  const finder = i % 4 === 0 ? MINER : OTHERS[i % OTHERS.length];
  blocks.push({
    height, hash: hex(64), time: NOW - (i * 3.3 + 0.4) * HOUR, scheme, finder, worker: i % 4 === 0 ? 'rig1' : 'worker',
    status, reward: P.reward - i * 1_234_567, difficulty: P.difficulty - i * 98_765, shareDiff: Math.round(P.difficulty * (1 + rnd())),
    effort: Math.round((20 + rnd() * 230) * 100) / 100, confirmations, depth: config.depth,
  });
}
for (const b of blocks) b.time = Math.round(b.time);

// 45 payments, one every 30 minutes; the newest two still wait for their
// confirmations (state sent), the others are confirmed.
const payments = [];
for (let i = 0; i < 45; i++) {
  const destinations = 1 + Math.floor(rnd() * 9);
  payments.push({
    id: 1000 - i, time: Math.round(NOW - (i * 0.5 + 0.1) * HOUR), txHash: hex(64),
    amount: destinations * (P.minPayment + Math.floor(rnd() * P.minPayment)), fee: P.transferFee * destinations, destinations,
    state: i < 2 ? 'sent' : 'confirmed',
  });
}

const poolCharts = {
  hashrate: series(144, 10 * MIN, 1_234_567.89, 0.12),
  miners: series(144, 10 * MIN, 42, 0.1, true),
  workers: series(144, 10 * MIN, 97, 0.1, true),
  difficulty: series(144, 10 * MIN, P.difficulty, 0.03, true),
};
const poolHashrate = poolCharts.hashrate[poolCharts.hashrate.length - 1][1];

function stats() {
  const confirmed = blocks.filter((b) => b.status === 'confirmed').length;
  const pending = blocks.filter((b) => b.status === 'pending').length;
  return {
    updated: NOW,
    pool: {
      hashrate: poolHashrate,
      hashrates: { '10m': poolHashrate, '1h': 1_201_234.5, '6h': 1_187_000.25, '24h': 1_222_333.75 },
      hashrateByScheme: { pplns: poolHashrate * 0.8, prop: poolHashrate * 0.15, solo: poolHashrate * 0.05 },
      miners: 42, workers: 97, connections: 101, activeMiners: 39,
      shares: { accepted: 1_234_567, stale: 1234, invalid: 56, rejected: 7, hashes: 98_765_432_101_234 },
      blocksFound: blocks.length, blocksPending: pending, blocksConfirmed: confirmed, blocksOrphaned: blocks.length - pending - confirmed,
      lastBlockFound: blocks[0].time,
      pplnsWindow: { size: P.difficulty * 2, filled: Math.round(P.difficulty * 1.46), percent: 73.2 },
      effort: { pplns: 64.37, prop: 12.5 },
      paymentsSent: payments.length, totalPaid: payments.reduce((s, p) => s + p.amount, 0),
    },
    network: {
      ok: true, height: P.height, difficulty: P.difficulty,
      lastBlock: { height: P.height - 1, hash: hex(64), time: NOW - 47_000, reward: P.reward },
    },
    config,
    blocks: blocks.slice(0, 10),
    payments: payments.slice(0, 10),
    charts: poolCharts,
  };
}

function worker(name, hashrate, offline) {
  return {
    name, hashrate: offline ? 0 : hashrate,
    hashrates: { '10m': offline ? 0 : hashrate, '1h': hashrate * 0.97, '6h': hashrate * 1.01, '24h': hashrate * 0.99 },
    lastShare: offline ? NOW - 3 * HOUR - 17 * MIN : NOW - 25_000,
    accepted: Math.round(hashrate * 3.1), stale: offline ? 12 : 3, invalid: offline ? 2 : 0, rejected: 0,
    hashes: Math.round(hashrate * 86400 * 0.98), connections: offline ? 0 : 1, offline,
  };
}
const minerPayments = Array.from({ length: 3 }, (_, i) => ({
  id: 999 - i * 7, time: Math.round(NOW - (i * 1.7 + 0.3) * DAY), txHash: hex(64),
  amount: P.minPayment + 12_345_678 * (i + 1), fee: P.transferFee, state: 'confirmed',
}));
const minerBlocks = blocks.slice(0, 8).map((b, i) => ({
  height: b.height, hash: b.hash, time: b.time, status: b.status, scheme: b.scheme,
  share: b.scheme === 'solo' ? 100 : Math.round((0.5 + rnd() * 3) * 10000) / 10000,
  amount: Math.round(b.reward * (b.scheme === 'solo' ? 0.995 : 0.01 + i * 0.001)),
  estimated: b.status === 'pending',
}));
function minerStats() {
  const workers = [worker('rig1', 14_321.5, false), worker('laptop', 2_150, true)];
  const hr = workers.reduce((s, w) => s + w.hashrate, 0);
  return {
    address: MINER, updated: NOW,
    balance: 45_678_901_234 % (P.minPayment || 1) + 123, immature: Math.round(P.reward * 0.0123), pendingPayment: 0,
    paid: minerPayments.reduce((s, p) => s + p.amount, 0), feesPaid: minerPayments.reduce((s, p) => s + p.fee, 0),
    threshold: P.minPayment, thresholdCustom: false,
    hashrate: hr, hashrates: { '10m': hr, '1h': 16_001.25, '6h': 15_876.5, '24h': 16_234.75 },
    lastShare: NOW - 25_000,
    shares: { accepted: 51_234, stale: 15, invalid: 2, rejected: 0, hashes: 1_398_765_432 },
    workersOnline: 1, workersOffline: 1, workers,
    payments: minerPayments, blocks: minerBlocks,
    charts: {
      hashrate: series(144, 10 * MIN, 16_000, 0.15),
      workerHashrate: { rig1: series(144, 10 * MIN, 14_000, 0.15), laptop: series(144, 10 * MIN, 2_000, 0.3) },
    },
  };
}

function paged(list, key, url) {
  const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit')) || 20));
  const total = list.length;
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.min(pages, Math.max(1, Number(url.searchParams.get('page')) || 1));
  return { [key]: list.slice((page - 1) * limit, page * limit), page, limit, total, pages };
}

function checkAddress(a) {
  if (!a) return [400, { error: 'invalid address: empty' }];
  if (!ADDRESS_RE.test(a)) return [400, { error: `invalid address: wrong length or prefix: ${a.length} characters, a ${P.coin} address has ${P.addrLen}` }];
  if (a !== MINER) return [404, { error: 'no data for this address' }];
  return null;
}

function api(url) {
  const path = url.pathname.replace(/^\/api/, '') || '/';
  const address = url.searchParams.get('address');
  switch (path) {
    case '/stats':
      if (address !== null) return checkAddress(address) ?? [200, minerStats()];
      return [200, stats()];
    case '/workers':
      return checkAddress(address ?? '') ?? [200, { address: MINER, offlineAfter: config.offlineAfter, workers: minerStats().workers }];
    case '/blocks':
      return [200, paged(blocks, 'blocks', url)];
    case '/payments':
      if (address !== null) return checkAddress(address) ?? [200, paged(minerPayments, 'payments', url)];
      return [200, paged(payments, 'payments', url)];
    case '/top': {
      const by = url.searchParams.get('by') || 'hashrate';
      if (by !== 'hashrate' && by !== 'hashes') return [400, { error: `by: must be hashrate or hashes, got "${by}"` }];
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit')) || 20));
      const miners = [MINER, ...OTHERS].map((a, i) => ({
        address: a, hashrate: Math.round(90_000 / (i + 1.3) * 100) / 100, hashes: Math.round(1e12 / ((i * 7) % 12 + 1)), lastShare: NOW - i * 40_000,
      }));
      miners.sort((x, y) => y[by] - x[by]);
      return [200, { by, miners: miners.slice(0, limit) }];
    }
    default:
      return [404, { error: `unknown API path ${url.pathname}` }];
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.map': 'application/json',
};

async function serveStatic(url, res) {
  let rel = decodeURIComponent(url.pathname);
  if (rel.endsWith('/')) rel += 'index.html';
  const file = normalize(join(DIST, rel));
  if (file !== DIST && !file.startsWith(DIST + sep)) return send(res, 403, 'text/plain', 'forbidden');
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a file');
    send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', await readFile(file));
  } catch {
    send(res, 404, 'text/plain', `not found (did you run npm run build? serving ${DIST})`);
  }
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }));
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
    const [status, body] = api(url);
    res.setHeader('Access-Control-Allow-Origin', '*');
    return send(res, status, 'application/json', JSON.stringify(body));
  }
  serveStatic(url, res).catch((e) => send(res, 500, 'text/plain', String(e)));
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`mock-api listening on http://${HOST}:${port}/`);
  console.log(`mock-api address ${MINER}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
