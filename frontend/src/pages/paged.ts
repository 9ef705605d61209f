// The Blocks and Payments pages: one API page of 20 rows at a time, with
// prev/next and "page N of M". The page number lives in the route
// (#/blocks/3) so it survives a reload and the back button works.

import { getJSON } from '../api';
import { formatNumber } from '../format.js';
import { h, replace, section } from '../dom';
import type { Page } from '../page';
import { configOf, loadPoolStats } from '../state';
import { blocksTable, paymentsTable } from '../tables';
import type { BlocksPage, Paged, PaymentsPage, PoolConfig } from '../types';

const LIMIT = 20;

function pagedPage<T extends Paged>(
  route: string,
  title: string,
  path: string,
  arg: string,
  render: (data: T, cfg: PoolConfig) => HTMLElement,
): Page {
  const requested = Math.max(1, Math.floor(Number(arg)) || 1);
  const tableBox = h('div');
  const prev = h('a', { class: 'btn', 'data-testid': 'pager-prev' }, '← Newer');
  const next = h('a', { class: 'btn', 'data-testid': 'pager-next' }, 'Older →');
  const info = h('span', { class: 'pager-info', 'data-testid': 'pager-info' });
  const totalEl = h('span', { class: 'muted small' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'pages' }, prev, info, next);
  const el = h('div', { class: `page page-${route}` }, section([title, ' ', totalEl], tableBox, pager));

  const link = (a: HTMLAnchorElement, page: number, enabled: boolean) => {
    if (enabled) {
      a.setAttribute('href', `#/${route}/${page}`);
      a.removeAttribute('aria-disabled');
    } else {
      a.removeAttribute('href');
      a.setAttribute('aria-disabled', 'true');
    }
  };

  async function update(): Promise<void> {
    const [pool, data] = await Promise.all([loadPoolStats(), getJSON<T>(path, { page: requested, limit: LIMIT })]);
    const cfg = configOf(pool);
    const page = data.page || requested;
    const pages = Math.max(1, data.pages || 1);
    replace(tableBox, render(data, cfg));
    info.textContent = `Page ${formatNumber(page)} of ${formatNumber(pages)}`;
    totalEl.textContent = `(${formatNumber(data.total)} in all)`;
    link(prev, page - 1, page > 1);
    link(next, page + 1, page < pages);
  }

  return { el, update };
}

export function blocksPage(arg: string): Page {
  return pagedPage<BlocksPage>('blocks', 'Blocks', 'blocks', arg, (d, cfg) => blocksTable(d.blocks ?? [], cfg));
}

export function paymentsPage(arg: string): Page {
  return pagedPage<PaymentsPage>('payments', 'Payments', 'payments', arg, (d, cfg) => paymentsTable(d.payments ?? [], cfg));
}
