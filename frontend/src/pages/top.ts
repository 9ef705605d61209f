import { getJSON } from '../api';
import { formatHashrate, formatNumber } from '../format.js';
import { addressLink, h, replace, section, table, td, timeAgo } from '../dom';
import type { Page } from '../page';
import type { TopResponse } from '../types';

type By = 'hashrate' | 'hashes';

export function topPage(arg: string): Page {
  let by: By = arg === 'hashes' ? 'hashes' : 'hashrate';
  const box = h('div', { 'data-testid': 'top-table' });
  const buttons = (['hashrate', 'hashes'] as By[]).map((b) =>
    h(
      'button',
      { type: 'button', class: 'seg', 'data-by': b, 'data-testid': `top-by-${b}` },
      b === 'hashrate' ? 'By hashrate' : 'By total hashes',
    ),
  );
  const toggle = h('div', { class: 'segmented', role: 'group', 'aria-label': 'sort by' }, buttons);
  for (const b of buttons) {
    b.addEventListener('click', () => {
      by = b.dataset.by as By;
      history.replaceState(null, '', `#/top/${by}`);
      void update();
    });
  }
  const el = h('div', { class: 'page page-top' }, section('Top miners', toggle, box));

  async function update(): Promise<void> {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.by === by));
    const want = by;
    const data = await getJSON<TopResponse>('top', { by, limit: 20 });
    if (want !== by) return;
    box.dataset.by = by; // which ranking the rows show (the toggle flips before the data is in)
    const rows = (data.miners ?? []).map((m, i) =>
      h(
        'tr',
        { 'data-testid': 'top-row' },
        td(String(i + 1), true),
        td(addressLink(m.address, 10)),
        td(formatHashrate(m.hashrate), true, { class: by === 'hashrate' ? 'sorted' : undefined }),
        td(formatNumber(m.hashes), true, { class: by === 'hashes' ? 'sorted' : undefined }),
        td(timeAgo(m.lastShare)),
      ),
    );
    replace(
      box,
      table(
        [{ title: '#', num: true }, { title: 'Miner' }, { title: 'Hashrate', num: true }, { title: 'Hashes', num: true }, { title: 'Last share' }],
        rows,
        'No miners yet',
      ),
    );
  }

  return { el, update };
}
