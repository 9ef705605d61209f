import {
  estimateDaily,
  formatDifficulty,
  formatDuration,
  formatPercent,
  minerLogin,
  xmrigCommand,
} from '../format.js';
import { amount, badge, h, replace, section, table, td, tiles } from '../dom';
import type { Page } from '../page';
import { configOf, loadPoolStats, savedAddress } from '../state';
import type { PoolConfig, PoolStats } from '../types';

const UNITS: [string, number][] = [
  ['H/s', 1],
  ['kH/s', 1e3],
  ['MH/s', 1e6],
];

export function startPage(): Page {
  let stats: PoolStats | null = null;
  let cfg: PoolConfig | null = null;

  const hostEl = h('code', { class: 'host', 'data-testid': 'pool-host' });
  const portsBox = h('div');

  const address = h('input', {
    id: 'start-address',
    type: 'text',
    placeholder: 'your wallet address',
    autocomplete: 'off',
    spellcheck: 'false',
    'data-testid': 'start-address',
    value: savedAddress(),
  });
  const worker = h('input', { id: 'start-worker', type: 'text', placeholder: 'rig1', value: 'rig1', maxlength: 64, 'data-testid': 'start-worker' });
  const diff = h('input', { id: 'start-diff', type: 'number', min: 1, step: 1, placeholder: 'automatic (vardiff)', 'data-testid': 'start-diff' });
  const solo = h('input', { id: 'start-solo', type: 'checkbox', 'data-testid': 'start-solo' });
  const port = h('select', { id: 'start-port', 'data-testid': 'start-port' });
  const command = h('code', { 'data-testid': 'xmrig-command' });
  const loginNote = h('p', { class: 'muted small' });
  const copyBtn = h('button', { type: 'button', class: 'btn small' }, 'Copy');
  copyBtn.addEventListener('click', () => {
    const text = command.textContent ?? '';
    const done = () => {
      copyBtn.textContent = 'Copied';
      setTimeout(() => (copyBtn.textContent = 'Copy'), 1500);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => selectText(command));
    else selectText(command);
  });

  const rate = h('input', { id: 'calc-rate', type: 'number', min: 0, step: 'any', value: '10', 'data-testid': 'calc-hashrate' });
  const rateUnit = h('select', { id: 'calc-unit', 'data-testid': 'calc-unit' }, UNITS.map(([u, f]) => h('option', { value: f, selected: u === 'kH/s' }, u)));
  const calcOut = h('div', { class: 'calc-out' });

  for (const input of [address, worker, diff, rate]) input.addEventListener('input', recompute);
  for (const input of [solo, port, rateUnit]) input.addEventListener('change', recompute);

  const field = (label: string, input: HTMLElement, hint?: string) =>
    h('label', { class: 'field', for: input.id }, h('span', null, label), input, hint ? h('small', { class: 'muted' }, hint) : null);

  const el = h(
    'div',
    { class: 'page page-start' },
    section(
      'Connect your miner',
      h(
        'ol',
        { class: 'steps' },
        h('li', null, 'Get a wallet address of the coin.'),
        h('li', null, 'Download ', h('a', { href: 'https://xmrig.com/download', rel: 'noopener', target: '_blank' }, 'xmrig'), ' (CPU mining, RandomX).'),
        h('li', null, 'Pick a port for your hardware, fill in the form below and run the command.'),
        h('li', null, 'Follow your hashrate and balance on ', h('a', { href: '#/miner' }, 'My stats'), '.'),
      ),
      h('p', null, 'Pool host: ', hostEl),
      portsBox,
    ),
    section(
      'Command line',
      h(
        'div',
        { class: 'form-grid' },
        field('Wallet address', address),
        field('Worker name', worker, 'Tells your rigs apart (xmrig -p).'),
        field('Port', port),
        field('Fixed difficulty', diff, 'Optional: leave empty to let the pool adjust it.'),
        h('label', { class: 'check', for: solo.id }, solo, h('span', null, 'Solo mining (you keep whole blocks you find, or nothing)')),
      ),
      h('div', { class: 'cmd' }, h('pre', null, command), copyBtn),
      loginNote,
    ),
    section(
      'Earnings estimate',
      h('div', { class: 'calc-in' }, field('Your hashrate', h('span', { class: 'inline' }, rate, rateUnit))),
      calcOut,
    ),
  );

  function recompute(): void {
    if (!stats || !cfg) return;
    const c = cfg;
    const ports = c.ports;
    const selected = ports.find((p) => String(p.port) === port.value) ?? ports[0];
    const addr = address.value.trim();
    const login = minerLogin({
      address: addr || 'YOUR_ADDRESS',
      diff: diff.value,
      solo: solo.checked,
      soloPrefix: c.soloPrefix,
      separator: c.fixedDiffSeparator,
    });
    command.textContent = selected
      ? xmrigCommand({ algo: c.algo, host: poolHost(c), port: selected.port, login, worker: worker.value, tls: selected.tls })
      : 'This pool lists no public port.';
    replace(
      loginNote,
      'Login format: ',
      h('code', null, `[${c.soloPrefix}]ADDRESS[${c.fixedDiffSeparator}DIFFICULTY]`),
      '. ',
      solo.checked ? `Solo blocks pay the finder minus a ${formatPercent(c.soloFee)} fee.` : `Shared blocks are split by PPLNS minus a ${formatPercent(c.poolFee)} fee.`,
    );

    const hps = Math.max(0, Number(rate.value) || 0) * Number(rateUnit.value);
    const s = stats;
    const fee = solo.checked ? c.soloFee : c.poolFee;
    const daily = estimateDaily(hps, s.network.difficulty, s.network.lastBlock?.reward ?? 0, fee);
    const perBlockDays = hps > 0 && s.network.difficulty > 0 ? s.network.difficulty / hps / 86400 : 0;
    replace(
      calcOut,
      tiles([
        { label: 'Per day', value: amount(daily, c), testid: 'calc-daily' },
        { label: 'Per month (30 days)', value: amount(daily * 30, c), testid: 'calc-monthly' },
      ]),
      h(
        'p',
        { class: 'muted small' },
        `At network difficulty ${formatDifficulty(s.network.difficulty)}, block reward `,
        amount(s.network.lastBlock?.reward ?? 0, c),
        ` and a ${formatPercent(fee)} fee. `,
        'Real earnings vary with luck, difficulty and the reward. ',
        solo.checked && perBlockDays > 0 ? `Solo, you would find a block every ${formatDuration(perBlockDays * 86400)} on average.` : '',
      ),
    );
  }

  async function update(): Promise<void> {
    stats = await loadPoolStats();
    cfg = configOf(stats);
    const c = cfg;
    hostEl.textContent = poolHost(c);
    replace(
      portsBox,
      table(
        [{ title: 'Port', num: true }, { title: 'Starting difficulty', num: true }, { title: 'Description' }, { title: 'TLS' }],
        c.ports.map((p) =>
          h(
            'tr',
            { 'data-testid': 'port-row', 'data-port': p.port },
            td(String(p.port), true),
            td(formatDifficulty(p.diff), true),
            td(p.desc || ''),
            td(p.tls ? badge('yes', 'ok') : badge('no', 'muted')),
          ),
        ),
        'No public ports',
      ),
    );
    const keep = port.value;
    replace(
      port,
      c.ports.map((p) =>
        h('option', { value: p.port }, `${p.port} · diff ${formatDifficulty(p.diff)}${p.desc ? ' · ' + p.desc : ''}${p.tls ? ' · TLS' : ''}`),
      ),
    );
    if (keep && c.ports.some((p) => String(p.port) === keep)) port.value = keep;
    recompute();
  }

  return { el, update };
}

function poolHost(c: PoolConfig): string {
  return c.poolHost || location.hostname || 'localhost';
}

function selectText(el: HTMLElement): void {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
}
