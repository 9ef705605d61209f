// The block and payment tables used on several pages.

import { formatPercent } from './format.js';
import { addressLink, amount, badge, h, hashText, schemeBadge, statusBadge, table, td, timeAgo } from './dom';
import type { Block, MinerBlock, Payment, PoolConfig } from './types';

function blockStatus(b: Block, cfg: PoolConfig): HTMLElement {
  const wrap = h('span', { class: 'status' }, statusBadge(b.status));
  if (b.status === 'pending') {
    const depth = b.depth || cfg.depth;
    if (depth) wrap.append(' ', h('span', { class: 'muted small' }, `${b.confirmations ?? 0}/${depth}`));
  }
  return wrap;
}

export function blocksTable(blocks: Block[], cfg: PoolConfig, compact = false): HTMLElement {
  const rows = blocks.map((b) =>
    h(
      'tr',
      { 'data-testid': 'block-row', class: b.status === 'orphaned' ? 'orphaned' : undefined },
      td(String(b.height), true),
      td(timeAgo(b.time)),
      td(schemeBadge(b.scheme)),
      td(blockStatus(b, cfg)),
      td(amount(b.reward, cfg), true),
      td(formatPercent(b.effort, 0), true, { class: effortClass(b.effort) }),
      td(addressLink(b.finder, compact ? 5 : 6)),
      compact ? null : td(hashText(b.hash)),
    ),
  );
  const cols = [
    { title: 'Height', num: true },
    { title: 'Found' },
    { title: 'Scheme' },
    { title: 'Status' },
    { title: 'Reward', num: true },
    { title: 'Effort', num: true },
    { title: 'Finder' },
  ];
  if (!compact) cols.push({ title: 'Hash' });
  return table(cols, rows, 'No blocks found yet');
}

export function effortClass(effort: number): string | undefined {
  if (!Number.isFinite(effort) || effort <= 0) return undefined;
  return effort <= 100 ? 'good' : effort > 200 ? 'bad' : undefined;
}

// payoutBadge: a sent payout still waits for its confirmations (it may yet
// be dropped and paid again); a confirmed one is final.
function payoutBadge(p: Payment): HTMLElement | null {
  if (!p.state) return null;
  const badgeEl = badge(p.state, p.state === 'confirmed' ? 'ok' : p.state === 'sent' ? 'warn' : 'muted');
  badgeEl.title = p.state === 'sent' ? 'waiting for its confirmations' : p.state === 'confirmed' ? 'confirmed on the chain' : '';
  badgeEl.dataset.testid = 'payment-state';
  return badgeEl;
}

export function paymentsTable(payments: Payment[], cfg: PoolConfig, withDestinations = true): HTMLElement {
  const rows = payments.map((p) =>
    h(
      'tr',
      { 'data-testid': 'payment-row' },
      td(p.imported ? h('span', { title: 'paid by the previous pool, imported with its books' }, timeAgo(p.time), ' (imported)') : timeAgo(p.time)),
      td(amount(p.amount, cfg), true),
      td(amount(p.fee, cfg), true),
      withDestinations ? td(String(p.destinations ?? ''), true) : null,
      td([hashText(p.txHash), p.state ? ' ' : null, payoutBadge(p)]),
    ),
  );
  const cols = [{ title: 'Sent' }, { title: 'Amount', num: true }, { title: 'Fee', num: true }];
  if (withDestinations) cols.push({ title: 'Payees', num: true });
  cols.push({ title: 'Transaction' });
  return table(cols, rows, 'No payments sent yet');
}

export function minerBlocksTable(blocks: MinerBlock[], cfg: PoolConfig): HTMLElement {
  const rows = blocks.map((b) =>
    h(
      'tr',
      { 'data-testid': 'block-row', class: b.estimated ? 'estimated' : undefined },
      td(String(b.height), true),
      td(timeAgo(b.time)),
      td(schemeBadge(b.scheme)),
      td(statusBadge(b.status)),
      td(formatPercent(b.share, 4), true),
      td(
        [
          amount(b.amount, cfg),
          b.estimated
            ? h('span', { class: 'est', title: 'Estimated: the block is not settled yet, the amount may change' }, ' est.')
            : null,
        ],
        true,
      ),
      td(hashText(b.hash)),
    ),
  );
  return table(
    [
      { title: 'Height', num: true },
      { title: 'Found' },
      { title: 'Scheme' },
      { title: 'Status' },
      { title: 'Your share', num: true },
      { title: 'Your amount', num: true },
      { title: 'Hash' },
    ],
    rows,
    'No blocks with your shares yet',
  );
}
