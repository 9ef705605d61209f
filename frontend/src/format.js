// @ts-check
// Display rules shared by the app and by tests/browser.mjs, which imports
// this file with plain `node` to compute the strings the page must show.
// Keep it dependency-free, plain ES module JavaScript (typed with JSDoc and
// checked by `tsc` through allowJs/checkJs), and free of locale-dependent
// output: the same input gives the same string in every browser and in node.

/** @typedef {number | string | bigint} AmountLike */

/**
 * Converts an amount (a JSON number, a decimal string or a bigint) to a
 * bigint; a non-integral number is rounded, anything invalid becomes 0n.
 * @param {AmountLike | null | undefined} v
 * @returns {bigint}
 */
export function toBigInt(v) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^-?\d+$/.test(s)) return BigInt(s);
    const n = Number(s);
    return Number.isFinite(n) ? BigInt(Math.round(n)) : 0n;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.round(v));
  return 0n;
}

/**
 * Puts a comma between groups of three digits: "1234567" → "1,234,567".
 * @param {string} digits a run of decimal digits, no sign
 * @returns {string}
 */
export function groupDigits(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Significant digits an amount shows (the tooltip has the exact value). */
export const AMOUNT_DIGITS = 6;

/**
 * Splits an amount into its sign, whole part and the `decimals` fraction
 * digits, with exact integer math (truncated, never rounded up).
 * @param {AmountLike | null | undefined} atomic
 * @param {AmountLike} units
 * @param {number} decimals
 * @returns {{neg: boolean, whole: bigint, frac: string}}
 */
function amountParts(atomic, units, decimals) {
  const a = toBigInt(atomic);
  let u = toBigInt(units);
  if (u <= 0n) u = 1n;
  const d = Number.isInteger(decimals) && decimals > 0 ? Math.min(decimals, 30) : 0;
  const abs = a < 0n ? -a : a;
  const frac = d > 0 ? (((abs % u) * 10n ** BigInt(d)) / u).toString().padStart(d, '0') : '';
  return { neg: a < 0n, whole: abs / u, frac };
}

/**
 * Joins the parts: grouped whole, at most `maxFrac` fraction digits with
 * trailing zeros dropped down to 2 (none for a whole zero), then the symbol
 * after a no-break space so the unit never leaves its number.
 * @param {{neg: boolean, whole: bigint, frac: string}} p
 * @param {number} maxFrac
 * @param {string} [symbol]
 * @returns {string}
 */
function joinAmount(p, maxFrac, symbol) {
  let frac = p.frac.slice(0, maxFrac).replace(/0+$/, '');
  const zero = p.whole === 0n && frac === '';
  if (!zero && frac.length < 2 && p.frac.length >= 2) frac = frac.padEnd(2, '0');
  let s = groupDigits(p.whole.toString()) + (frac ? '.' + frac : '');
  if (p.neg && !zero) s = '-' + s;
  return symbol ? `${s}\u00a0${symbol}` : s;
}

/**
 * An amount in atomic units as coins, for reading at a glance: thousands
 * grouped, about AMOUNT_DIGITS significant digits (truncated, never rounded
 * up; the whole part is always complete), trailing zeros dropped to two
 * decimals, zero as "0", the symbol after a no-break space.
 * formatAmount(9642292300000000, 1e12, 12, "XMR") → "9,642.29 XMR";
 * formatAmount(1234567, 1e12, 12, "XMR") → "0.00000123456 XMR"; 0 → "0 XMR".
 * @param {AmountLike | null | undefined} atomic
 * @param {AmountLike} units atomic units per coin (config.units)
 * @param {number} decimals digits after the point (config.decimals)
 * @param {string} [symbol] config.symbol; left out when empty
 * @returns {string}
 */
export function formatAmount(atomic, units, decimals, symbol) {
  const p = amountParts(atomic, units, decimals);
  let maxFrac;
  if (p.whole > 0n) {
    maxFrac = Math.max(2, AMOUNT_DIGITS - p.whole.toString().length);
  } else {
    const lead = p.frac.length - p.frac.replace(/^0+/, '').length;
    maxFrac = lead + AMOUNT_DIGITS;
  }
  return joinAmount(p, maxFrac, symbol);
}

/**
 * The exact amount, every significant decimal (for tooltips):
 * formatAmountExact(9642292300000000, 1e12, 12, "XMR") → "9,642.2923 XMR".
 * @param {AmountLike | null | undefined} atomic
 * @param {AmountLike} units
 * @param {number} decimals
 * @param {string} [symbol]
 * @returns {string}
 */
export function formatAmountExact(atomic, units, decimals, symbol) {
  return joinAmount(amountParts(atomic, units, decimals), Infinity, symbol);
}

/**
 * formatAmount with the API's config object.
 * @param {AmountLike | null | undefined} atomic
 * @param {{units: AmountLike, decimals: number, symbol?: string}} config
 * @returns {string}
 */
export function formatCoins(atomic, config) {
  return formatAmount(atomic, config.units, config.decimals, config.symbol);
}

/**
 * formatAmountExact with the API's config object.
 * @param {AmountLike | null | undefined} atomic
 * @param {{units: AmountLike, decimals: number, symbol?: string}} config
 * @returns {string}
 */
export function formatCoinsExact(atomic, config) {
  return formatAmountExact(atomic, config.units, config.decimals, config.symbol);
}

const HASH_UNITS = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];

/**
 * A hashrate in H/s with a 1000-step unit and two decimals:
 * 0 → "0.00 H/s", 1234.5 → "1.23 kH/s", 2.5e6 → "2.50 MH/s".
 * @param {number | null | undefined} hps
 * @returns {string}
 */
export function formatHashrate(hps) {
  let v = typeof hps === 'number' && Number.isFinite(hps) && hps > 0 ? hps : 0;
  let i = 0;
  while (i < HASH_UNITS.length - 1 && Number(v.toFixed(2)) >= 1000) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(2)} ${HASH_UNITS[i]}`;
}

/**
 * Like formatHashrate with trailing zeros dropped, for chart axes: "500 kH/s", "1.5 MH/s".
 * @param {number} hps
 * @returns {string}
 */
export function formatHashrateShort(hps) {
  const [n, unit] = formatHashrate(hps).split(' ');
  return `${trimZeros(n)} ${unit}`;
}

/**
 * An integer count (or a rounded number) with thousands grouped:
 * 1234567 → "1,234,567".
 * @param {number | bigint | null | undefined} n
 * @returns {string}
 */
export function formatNumber(n) {
  const b = typeof n === 'bigint' ? n : toBigInt(n ?? 0);
  return b < 0n ? '-' + groupDigits((-b).toString()) : groupDigits(b.toString());
}

/**
 * Difficulty (network or share): a grouped integer, like formatNumber.
 * @param {number | bigint | null | undefined} d
 * @returns {string}
 */
export function formatDifficulty(d) {
  return formatNumber(d);
}

/**
 * A compact number for chart axes: 1500 → "1.5k", 3.2e11 → "320G".
 * @param {number} n
 * @returns {string}
 */
export function formatCompact(n) {
  if (!Number.isFinite(n)) return '';
  const abs = Math.abs(n);
  const steps = /** @type {const} */ ([[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]);
  for (const [f, suffix] of steps) {
    if (abs >= f) return trimZeros((n / f).toFixed(2)) + suffix;
  }
  return trimZeros(n.toFixed(2));
}

/**
 * "1.50" → "1.5", "2.00" → "2".
 * @param {string} s
 * @returns {string}
 */
export function trimZeros(s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/**
 * A percentage with at most `digits` decimals, trailing zeros dropped:
 * 1 → "1%", 0.5 → "0.5%", 98.765 → "98.77%".
 * @param {number | null | undefined} p
 * @param {number} [digits]
 * @returns {string}
 */
export function formatPercent(p, digits = 2) {
  const v = typeof p === 'number' && Number.isFinite(p) ? p : 0;
  return `${trimZeros(v.toFixed(digits))}%`;
}

/**
 * Time since a unix-ms instant: 0 → "never", under a minute (or in the
 * future) → "just now", then "N min ago", "N h ago", "N d ago" (floored).
 * @param {number | null | undefined} ms
 * @param {number} [now]
 * @returns {string}
 */
export function formatRelative(ms, now = Date.now()) {
  if (!ms || !Number.isFinite(ms)) return 'never';
  const d = now - ms;
  if (d < 60_000) return 'just now';
  if (d < 3_600_000) return `${Math.floor(d / 60_000)} min ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)} h ago`;
  return `${Math.floor(d / 86_400_000)} d ago`;
}

/** @param {number} n @returns {string} */
const pad2 = (n) => String(n).padStart(2, '0');

/**
 * Absolute local time "YYYY-MM-DD HH:MM:SS"; 0 → "never".
 * @param {number | null | undefined} ms
 * @returns {string}
 */
export function formatDateTime(ms) {
  if (!ms || !Number.isFinite(ms)) return 'never';
  const t = new Date(ms);
  return (
    `${t.getFullYear()}-${pad2(t.getMonth() + 1)}-${pad2(t.getDate())} ` +
    `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}`
  );
}

/**
 * Local "HH:MM", for chart axes.
 * @param {number} ms
 * @returns {string}
 */
export function formatClock(ms) {
  const t = new Date(ms);
  return `${pad2(t.getHours())}:${pad2(t.getMinutes())}`;
}

/**
 * A duration in seconds: 45 → "45 s", 600 → "10 min", 5400 → "1.5 h", 172800 → "2 d".
 * @param {number | null | undefined} s
 * @returns {string}
 */
export function formatDuration(s) {
  const v = typeof s === 'number' && Number.isFinite(s) && s > 0 ? s : 0;
  if (v < 60) return `${trimZeros(v.toFixed(1))} s`;
  if (v < 3600) return `${trimZeros((v / 60).toFixed(1))} min`;
  if (v < 86400) return `${trimZeros((v / 3600).toFixed(1))} h`;
  return `${trimZeros((v / 86400).toFixed(1))} d`;
}

/**
 * Shortens a hash or an address for tables: "abcdef…789012".
 * @param {string | null | undefined} s
 * @param {number} [keep] characters kept at each end
 * @returns {string}
 */
export function shorten(s, keep = 8) {
  const v = s ?? '';
  return v.length > keep * 2 + 1 ? `${v.slice(0, keep)}…${v.slice(-keep)}` : v;
}

/**
 * The stratum login for xmrig's -u: [soloPrefix]address[separator diff].
 * minerLogin({address: "4A…", diff: 50000, solo: true}) → "solo:4A….50000".
 * @param {{address: string, diff?: number | string | null, solo?: boolean,
 *          soloPrefix?: string, separator?: string}} o
 * @returns {string}
 */
export function minerLogin(o) {
  const address = (o.address ?? '').trim();
  const diff = o.diff == null ? '' : String(o.diff).trim();
  let login = (o.solo ? (o.soloPrefix || 'solo:') : '') + address;
  if (diff !== '' && /^\d+$/.test(diff) && Number(diff) > 0) login += (o.separator || '.') + diff;
  return login;
}

/**
 * The xmrig command line: `xmrig -a ALGO -o HOST:PORT -u LOGIN -p WORKER [--tls]`.
 * @param {{algo?: string, host: string, port: number, login: string, worker?: string, tls?: boolean}} o
 * @returns {string}
 */
export function xmrigCommand(o) {
  const worker = (o.worker ?? '').trim() || 'x';
  let cmd = `xmrig -a ${o.algo || 'rx/0'} -o ${o.host}:${o.port} -u ${o.login} -p ${worker}`;
  if (o.tls) cmd += ' --tls';
  return cmd;
}

/**
 * Expected coins per day in atomic units (a float; round for display):
 * hashrate × 86400 / difficulty × reward × (1 − fee/100).
 * @param {number} hashrate H/s
 * @param {number} difficulty network difficulty
 * @param {number} reward block reward, atomic units
 * @param {number} feePercent pool fee in percent
 * @returns {number}
 */
export function estimateDaily(hashrate, difficulty, reward, feePercent) {
  if (!(hashrate > 0) || !(difficulty > 0) || !(reward > 0)) return 0;
  return ((hashrate * 86400) / difficulty) * reward * (1 - (feePercent || 0) / 100);
}

const DAY_MS = 86_400_000;
/** The narrowest chart window: a lone sample still gets a time axis. */
export const MIN_CHART_SPAN_MS = 60_000;

/**
 * The time window a chart shows: from its first sample (the first point with
 * a non-zero value in any series, since the API pads the 24 h hashrate
 * series with zeros from before the first share), or 24 h before the last
 * point when that is older, to the last point; at least MIN_CHART_SPAN_MS
 * wide (a lone sample: the axis ends a minute after it, never starts before
 * it). null when nothing was sampled.
 * @param {Array<Array<[number, number]> | undefined>} series [[ms, value], ...] each
 * @returns {{min: number, max: number} | null}
 */
export function chartWindow(series) {
  let first = Infinity;
  let last = -Infinity;
  for (const pts of series) {
    if (!Array.isArray(pts)) continue;
    for (const p of pts) {
      if (!Array.isArray(p) || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) continue;
      if (p[1] !== 0 && p[0] < first) first = p[0];
      if (p[0] > last) last = p[0];
    }
  }
  if (!Number.isFinite(first)) return null;
  const min = Math.max(first, last - DAY_MS);
  return { min, max: Math.max(last, min + MIN_CHART_SPAN_MS) };
}

/**
 * How many of points lie in the window (what a chart draws of a series).
 * @param {Array<[number, number]> | undefined} points
 * @param {{min: number, max: number} | null} win
 * @returns {number}
 */
export function pointsInWindow(points, win) {
  if (!win || !Array.isArray(points)) return 0;
  return points.filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]) && p[0] >= win.min && p[0] <= win.max).length;
}
