// Tiny DOM helpers: h() builds elements (text always as text nodes, never
// HTML, so names and addresses from miners cannot inject markup).

import { formatAmount, formatCoinsExact, formatDateTime, formatRelative, shorten } from './format.js';

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | EventListener;
export type Attrs = Record<string, AttrValue>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (typeof v === 'function') {
        el.addEventListener(k.replace(/^on/, ''), v);
      } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') {
        (el as unknown as Record<string, unknown>)[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

/**
 * An amount in coins; its text content is exactly formatCoins(atomic, cfg)
 * (the symbol sits in a smaller span after a no-break space), it never
 * wraps (.amount is nowrap) and its title is the exact value.
 */
export function amount(atomic: number, cfg: { units: number; decimals: number; symbol?: string }): HTMLElement {
  const el = h('span', { class: 'amount', title: formatCoinsExact(atomic, cfg) }, formatAmount(atomic, cfg.units, cfg.decimals));
  if (cfg.symbol) el.append('\u00a0', h('span', { class: 'sym' }, cfg.symbol));
  return el;
}

/** A relative time with the absolute time as its title. */
export function timeAgo(ms: number): HTMLElement {
  return h('time', { class: 'ago', title: ms ? formatDateTime(ms) : undefined, 'data-time': ms || 0 }, formatRelative(ms));
}

/** Refreshes every relative time below root (between two API refreshes). */
export function refreshTimes(root: ParentNode): void {
  root.querySelectorAll<HTMLElement>('time.ago').forEach((el) => {
    el.textContent = formatRelative(Number(el.dataset.time));
  });
}

export function badge(text: string, kind: string): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, text);
}

export function statusBadge(status: string): HTMLElement {
  const kind = status === 'confirmed' ? 'ok' : status === 'orphaned' ? 'bad' : status === 'pending' ? 'warn' : 'muted';
  return badge(status || 'unknown', kind);
}

export function schemeBadge(scheme: string): HTMLElement {
  return badge((scheme || '?').toUpperCase(), 'scheme');
}

export function hashText(hash: string, keep = 8): HTMLElement {
  return h('span', { class: 'mono hash', title: hash }, shorten(hash, keep));
}

const ADDRESS_RE = /^[0-9A-Za-z]{20,200}$/;

/** An address linking to its miner page (masked addresses are shown as text). */
export function addressLink(address: string, keep = 8): HTMLElement {
  if (!ADDRESS_RE.test(address)) return h('span', { class: 'mono', title: address }, shorten(address, keep));
  return h('a', { class: 'mono', href: `#/miner/${encodeURIComponent(address)}`, title: address }, shorten(address, keep));
}

export interface Column {
  title: string;
  num?: boolean;
}

/** A table inside a horizontally scrolling wrapper. */
export function table(columns: Column[], rows: HTMLTableRowElement[], empty: string, testid?: string): HTMLElement {
  const body = rows.length
    ? h('tbody', null, rows)
    : h('tbody', null, h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty)));
  return h(
    'div',
    { class: 'table-wrap', 'data-testid': testid },
    h(
      'table',
      null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.num ? 'num' : undefined }, c.title)))),
      body,
    ),
  );
}

/** A table cell; num right-aligns it. */
export function td(content: Child, num = false, attrs: Attrs = {}): HTMLTableCellElement {
  return h('td', { ...attrs, class: [num ? 'num' : '', (attrs.class as string) || ''].join(' ').trim() || undefined }, content);
}

export interface Tile {
  label: string;
  value: Child;
  testid?: string;
  sub?: Child;
  title?: string;
  wide?: boolean;
}

/** Value lengths (characters) past which a tile takes two columns on a phone / on a desktop. */
const LONG_VALUE = 14;
const XLONG_VALUE = 17;

/**
 * A grid of tiles. A long value (a big amount) makes its tile span two
 * columns instead of wrapping: values never wrap (.tile-value is nowrap).
 */
export function tiles(list: Tile[]): HTMLElement {
  return h(
    'div',
    { class: 'tiles' },
    list.map((t) => {
      const value = h('div', { class: 'tile-value', 'data-testid': t.testid }, t.value);
      const len = (value.textContent ?? '').length;
      const cls = ['tile', t.wide ? 'wide' : '', len > LONG_VALUE ? 'long' : '', len > XLONG_VALUE ? 'xlong' : ''];
      return h(
        'div',
        { class: cls.filter(Boolean).join(' '), title: t.title },
        h('div', { class: 'tile-label' }, t.label),
        value,
        t.sub !== undefined && t.sub !== null && t.sub !== '' ? h('div', { class: 'tile-sub' }, t.sub) : null,
      );
    }),
  );
}

export function section(title: Child, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), children);
}

export function message(kind: 'error' | 'info' | 'warn', text: Child): HTMLElement {
  return h('div', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}
