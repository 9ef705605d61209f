import {
  formatCompact,
  formatDateTime,
  formatDifficulty,
  formatDuration,
  formatHashrate,
  formatHashrateShort,
  formatNumber,
  formatPercent,
  formatRelative,
} from '../format.js';
import { LineChart } from '../charts';
import { amount, h, message, replace, section, tiles } from '../dom';
import type { Page } from '../page';
import { configOf, loadPoolStats } from '../state';
import { blocksTable, paymentsTable } from '../tables';

export function dashboardPage(): Page {
  const notice = h('div');
  const tileBox = h('div');
  const hashrateChart = new LineChart('hashrate', { format: formatHashrate, axis: formatHashrateShort });
  const minersChart = new LineChart('miners', { format: (v) => formatCompact(v), format1: (v) => formatCompact(v), counts: true });
  const difficultyChart = new LineChart('difficulty', { format: formatCompact, zero: false });
  const minersCard = section('Miners & workers', minersChart.el);
  minersCard.hidden = true;
  const blocksBox = h('div');
  const paymentsBox = h('div');

  const el = h(
    'div',
    { class: 'page page-dashboard' },
    notice,
    tileBox,
    h(
      'div',
      { class: 'grid3' },
      section('Pool hashrate', hashrateChart.el),
      minersCard,
      section('Network difficulty', difficultyChart.el),
    ),
    section(['Recent blocks ', h('a', { href: '#/blocks', class: 'more' }, 'all blocks →')], blocksBox),
    section(['Recent payments ', h('a', { href: '#/payments', class: 'more' }, 'all payments →')], paymentsBox),
  );

  async function update(): Promise<void> {
    const s = await loadPoolStats();
    const cfg = configOf(s);
    const p = s.pool;
    const n = s.network;
    replace(notice, n.ok === false ? message('warn', 'The pool cannot reach its coin daemon right now: network figures may be stale.') : null);

    const win = p.pplnsWindow ?? { size: 0, filled: 0, percent: 0 };
    const fill = Math.max(0, Math.min(100, win.percent || 0));
    replace(
      tileBox,
      tiles([
        {
          label: 'Pool hashrate',
          value: formatHashrate(p.hashrate),
          testid: 'pool-hashrate',
          sub: `1h ${formatHashrate(p.hashrates?.['1h'])} · 24h ${formatHashrate(p.hashrates?.['24h'])}`,
        },
        { label: 'Miners', value: formatNumber(p.miners), testid: 'pool-miners', sub: `${formatNumber(p.activeMiners)} active` },
        { label: 'Workers', value: formatNumber(p.workers), testid: 'pool-workers', sub: `${formatNumber(p.connections)} connections` },
        {
          label: 'Network height',
          value: formatNumber(n.height),
          testid: 'network-height',
          sub: n.lastBlock?.time ? ['last block ', h('span', { title: formatDateTime(n.lastBlock.time) }, formatRelative(n.lastBlock.time))] : undefined,
        },
        {
          label: 'Network difficulty',
          value: formatDifficulty(n.difficulty),
          testid: 'network-difficulty',
          sub: cfg.blockTime ? `network ≈ ${formatHashrate(n.difficulty / cfg.blockTime)}` : undefined,
        },
        {
          label: 'Last block found',
          value: h('span', { title: p.lastBlockFound ? formatDateTime(p.lastBlockFound) : undefined }, formatRelative(p.lastBlockFound)),
          testid: 'last-block-found',
          sub: `round effort ${formatPercent(p.effort?.pplns, 0)}`,
        },
        {
          label: 'Blocks found',
          value: formatNumber(p.blocksFound),
          testid: 'blocks-found',
          sub: `${formatNumber(p.blocksConfirmed)} confirmed · ${formatNumber(p.blocksPending)} pending · ${formatNumber(p.blocksOrphaned)} orphaned`,
        },
        {
          label: 'PPLNS window',
          value: formatPercent(win.percent, 1),
          testid: 'pplns-window',
          sub: h('div', { class: 'bar', title: `${formatNumber(win.filled)} of ${formatNumber(win.size)} hashes` }, h('div', { style: `width:${fill}%` })),
        },
        { label: 'Pool fee', value: formatPercent(cfg.poolFee), testid: 'pool-fee', sub: 'PPLNS and PROP' },
        { label: 'Solo fee', value: formatPercent(cfg.soloFee), testid: 'solo-fee', sub: `login ${cfg.soloPrefix}ADDRESS` },
        { label: 'Finder reward', value: formatPercent(cfg.finderReward), testid: 'finder-reward', sub: 'of each PPLNS/PROP block' },
        {
          label: 'Minimum payment',
          value: amount(cfg.minPayment, cfg),
          testid: 'min-payment',
          sub: cfg.maxPayment ? ['up to ', amount(cfg.maxPayment, cfg), ' per payment'] : 'default payout threshold',
        },
        { label: 'Payment interval', value: formatDuration(cfg.paymentInterval), testid: 'payment-interval', sub: `${formatNumber(p.paymentsSent)} payments sent` },
        { label: 'Total paid', value: amount(p.totalPaid, cfg), testid: 'total-paid', sub: `blocks unlock after ${formatNumber(cfg.depth)} confirmations` },
      ]),
    );

    hashrateChart.set([{ label: 'Pool hashrate', points: s.charts?.hashrate }]);
    difficultyChart.set([{ label: 'Difficulty', points: s.charts?.difficulty, color: '#4fa3ff' }]);
    const minersPts = s.charts?.miners ?? [];
    const workersPts = s.charts?.workers ?? [];
    minersCard.hidden = minersPts.length === 0 && workersPts.length === 0;
    if (!minersCard.hidden) {
      minersChart.set([
        { label: 'Miners', points: minersPts, color: '#3ecf8e', fill: false },
        { label: 'Workers', points: workersPts, color: '#c77dff', fill: false },
      ]);
    }

    replace(blocksBox, blocksTable(s.blocks ?? [], cfg));
    replace(paymentsBox, paymentsTable(s.payments ?? [], cfg));
  }

  return {
    el,
    update,
    destroy() {
      hashrateChart.destroy();
      minersChart.destroy();
      difficultyChart.destroy();
    },
  };
}
