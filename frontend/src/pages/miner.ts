import { ApiError, getJSON } from '../api';
import { formatHashrate, formatHashrateShort, formatNumber } from '../format.js';
import { COLORS, LineChart, type Series } from '../charts';
import { amount, badge, h, message, replace, section, table, td, tiles, timeAgo } from '../dom';
import type { Page } from '../page';
import { configOf, loadPoolStats, saveAddress, savedAddress } from '../state';
import { minerBlocksTable, paymentsTable } from '../tables';
import type { MinerStats, Worker } from '../types';

export function minerPage(arg: string): Page {
  const address = arg.trim();

  const input = h('input', {
    type: 'text',
    name: 'address',
    placeholder: 'your wallet address',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-label': 'Wallet address',
    'data-testid': 'miner-address',
    value: address || savedAddress(),
  });
  const form = h(
    'form',
    { class: 'address-form' },
    input,
    h('button', { type: 'submit', class: 'btn' }, 'Show stats'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const a = input.value.trim();
    if (!a) return;
    saveAddress(a);
    const target = `#/miner/${encodeURIComponent(a)}`;
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = target;
  });

  const notice = h('div');
  const body = h('div', { class: 'page-body', hidden: true });
  const tileBox = h('div');
  const chart = new LineChart('miner-hashrate', { format: formatHashrate, axis: formatHashrateShort });
  const workersBox = h('div');
  const workersTitle = h('span', null, 'Workers');
  const paymentsBox = h('div');
  const blocksBox = h('div');
  body.append(
    tileBox,
    section('Hashrate', chart.el),
    section(workersTitle, workersBox),
    section('Blocks with your shares', blocksBox),
    section('Payments', paymentsBox),
  );

  const el = h(
    'div',
    { class: 'page page-miner' },
    section('Miner statistics', form),
    notice,
    body,
  );

  async function update(): Promise<void> {
    if (!address) {
      replace(notice, message('info', 'Enter your wallet address to see your hashrate, workers, balance and payments.'));
      return;
    }
    const [pool, miner] = await Promise.all([
      loadPoolStats(),
      getJSON<MinerStats>('stats', { address }).catch((e: unknown) => e as Error),
    ]);
    const cfg = configOf(pool);
    if (miner instanceof Error) {
      if (miner instanceof ApiError && miner.status === 404) {
        saveAddress(address); // a valid address, just no shares yet
        body.hidden = true;
        replace(notice, message('info', ['No data for this address yet. ', h('a', { href: '#/start' }, 'Start mining'), ' and check back in a few minutes.']));
        return;
      }
      if (miner instanceof ApiError && miner.status === 400) {
        body.hidden = true;
        replace(notice, message('error', miner.message));
        return;
      }
      throw miner;
    }
    if (savedAddress() !== address) saveAddress(address);
    replace(notice);
    body.hidden = false;
    const m = miner;
    replace(
      tileBox,
      tiles([
        { label: 'Balance', value: amount(m.balance, cfg), testid: 'miner-balance', sub: 'confirmed, waiting for payout' },
        { label: 'Immature', value: amount(m.immature, cfg), testid: 'miner-immature', sub: 'in blocks not yet unlocked' },
        { label: 'Pending payment', value: amount(m.pendingPayment, cfg), testid: 'miner-pending' },
        { label: 'Paid', value: amount(m.paid, cfg), testid: 'miner-paid', sub: `${formatNumber(m.payments?.length ?? 0)} recent payments` },
        { label: 'Fees paid', value: amount(m.feesPaid, cfg), testid: 'miner-fees' },
        {
          label: 'Payment threshold',
          value: amount(m.threshold, cfg),
          testid: 'miner-threshold',
          sub: m.thresholdCustom ? 'custom' : 'pool default',
        },
        {
          label: 'Hashrate',
          value: formatHashrate(m.hashrate),
          testid: 'miner-hashrate',
          sub: h(
            'span',
            { class: 'rates' },
            (['10m', '1h', '6h', '24h'] as const).map((k) => h('span', null, `${k} ${formatHashrate(m.hashrates?.[k])}`)),
          ),
          wide: true,
        },
        { label: 'Last share', value: timeAgo(m.lastShare), testid: 'miner-last-share' },
        {
          label: 'Shares',
          value: formatNumber(m.shares?.accepted),
          testid: 'miner-shares',
          sub: `${formatNumber(m.shares?.stale)} stale · ${formatNumber(m.shares?.invalid)} invalid`,
        },
        {
          label: 'Workers',
          value: formatNumber(m.workersOnline),
          testid: 'miner-workers',
          sub: `online · ${formatNumber(m.workersOffline)} offline`,
        },
      ]),
    );
    chart.set(minerSeries(m));
    const workers = [...(m.workers ?? [])].sort((a, b) => Number(a.offline) - Number(b.offline) || a.name.localeCompare(b.name));
    replace(workersTitle, `Workers (${formatNumber(m.workersOnline)} online, ${formatNumber(m.workersOffline)} offline)`);
    replace(workersBox, workersTable(workers));
    replace(paymentsBox, paymentsTable(m.payments ?? [], cfg, false));
    replace(blocksBox, minerBlocksTable(m.blocks ?? [], cfg));
  }

  return { el, update, destroy: () => chart.destroy() };
}

/** The miner's total hashrate and, when the API sends them, a line per worker. */
function minerSeries(m: MinerStats): Series[] {
  const byWorker = Object.entries(m.charts?.workerHashrate ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return [
    { label: byWorker.length ? 'Total' : 'Hashrate', points: m.charts?.hashrate, fill: byWorker.length === 0 },
    ...byWorker.map(([name, points], i) => ({
      label: name || '(default)',
      points,
      color: COLORS[(i + 1) % COLORS.length],
      fill: false,
    })),
  ];
}

function workersTable(workers: Worker[]): HTMLElement {
  const rows = workers.map((w) =>
    h(
      'tr',
      { 'data-testid': 'worker-row', 'data-worker': w.name, 'data-offline': String(!!w.offline), class: w.offline ? 'offline' : undefined },
      td([h('span', { class: 'worker-name' }, w.name || '(default)'), w.offline ? [' ', badge('offline', 'bad')] : null]),
      td(formatHashrate(w.hashrate), true),
      td(formatHashrate(w.hashrates?.['1h']), true),
      td(formatHashrate(w.hashrates?.['24h']), true),
      td(timeAgo(w.lastShare)),
      td(formatNumber(w.accepted), true),
      td(formatNumber(w.stale), true),
      td(formatNumber(w.invalid), true),
      td(formatNumber(w.connections), true),
    ),
  );
  return table(
    [
      { title: 'Worker' },
      { title: 'Hashrate', num: true },
      { title: '1h', num: true },
      { title: '24h', num: true },
      { title: 'Last share' },
      { title: 'Accepted', num: true },
      { title: 'Stale', num: true },
      { title: 'Invalid', num: true },
      { title: 'Connections', num: true },
    ],
    rows,
    'No workers seen yet',
  );
}
