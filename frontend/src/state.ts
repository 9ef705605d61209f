// The pool-wide /api/stats document, shared by the pages (they need its
// config for amounts) and the header. One fetch per refresh: calls within
// a short time reuse the same request.

import { getJSON } from './api';
import type { PoolConfig, PoolStats } from './types';

const REUSE_MS = 3_000;
let inflight: { at: number; promise: Promise<PoolStats> } | null = null;
let last: PoolStats | null = null;
const listeners: ((s: PoolStats) => void)[] = [];

export function loadPoolStats(): Promise<PoolStats> {
  const now = Date.now();
  if (inflight && now - inflight.at < REUSE_MS) return inflight.promise;
  const promise = getJSON<PoolStats>('stats').then((s) => {
    last = s;
    for (const l of listeners) l(s);
    return s;
  });
  inflight = { at: now, promise };
  promise.catch(() => {
    if (inflight?.promise === promise) inflight = null;
  });
  return promise;
}

export function lastPoolStats(): PoolStats | null {
  return last;
}

export function onPoolStats(fn: (s: PoolStats) => void): void {
  listeners.push(fn);
}

/** Defaults for config fields an older or partial API may leave out. */
export function configOf(s: PoolStats): PoolConfig {
  const c = s.config;
  return {
    ...c,
    units: c.units || 1,
    decimals: c.decimals ?? 0,
    symbol: c.symbol ?? '',
    algo: c.algo || 'rx/0',
    ports: Array.isArray(c.ports) ? c.ports : [],
    fixedDiffSeparator: c.fixedDiffSeparator || '.',
    soloPrefix: c.soloPrefix || 'solo:',
  };
}

const ADDRESS_KEY = 'rxpool.address';

export function savedAddress(): string {
  try {
    return localStorage.getItem(ADDRESS_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveAddress(address: string): void {
  try {
    if (address) localStorage.setItem(ADDRESS_KEY, address);
    else localStorage.removeItem(ADDRESS_KEY);
  } catch {
    /* storage disabled: the address is simply not remembered */
  }
  window.dispatchEvent(new Event('rxpool:address'));
}
