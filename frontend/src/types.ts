// The pool API's JSON shapes (amounts: integers in atomic units; times: unix
// ms, 0 = never; hashrates: H/s).

export type Point = [number, number];

export interface Hashrates {
  '10m': number;
  '1h': number;
  '6h': number;
  '24h': number;
}

export interface Shares {
  accepted: number;
  stale: number;
  invalid: number;
  rejected: number;
  hashes: number;
}

export type Scheme = 'pplns' | 'prop' | 'solo' | string;
export type BlockStatus = 'pending' | 'confirmed' | 'orphaned' | string;

export interface Block {
  height: number;
  hash: string;
  time: number;
  scheme: Scheme;
  finder: string;
  worker: string;
  status: BlockStatus;
  reward: number;
  difficulty: number;
  shareDiff: number;
  effort: number;
  confirmations: number;
  depth: number;
}

export interface Payment {
  id: number;
  time: number;
  txHash: string;
  amount: number;
  fee: number;
  destinations?: number;
  imported?: boolean; // paid by the pool rxpool took over from
  // sent (waiting for its confirmations) or confirmed; absent when imported
  // and from pools older than issue 20.
  state?: string;
}

export interface Port {
  port: number;
  diff: number;
  desc: string;
  tls: boolean;
}

export interface PoolConfig {
  coin: string;
  symbol: string;
  units: number;
  decimals: number;
  algo: string;
  blockTime: number;
  poolFee: number;
  soloFee: number;
  finderReward: number;
  depth: number;
  pplnsWindow: number;
  paymentInterval: number;
  minPayment: number;
  maxPayment: number;
  denomination: number;
  transferFee: number;
  ports: Port[];
  fixedDiffSeparator: string;
  soloPrefix: string;
  offlineAfter: number;
  poolHost?: string;
}

export interface PoolStats {
  updated: number;
  pool: {
    hashrate: number;
    hashrates: Hashrates;
    hashrateByScheme: { pplns: number; prop: number; solo: number };
    miners: number;
    workers: number;
    connections: number;
    activeMiners: number;
    shares: Shares;
    blocksFound: number;
    blocksPending: number;
    blocksConfirmed: number;
    blocksOrphaned: number;
    lastBlockFound: number;
    pplnsWindow: { size: number; filled: number; percent: number };
    effort: { pplns: number; prop: number };
    paymentsSent: number;
    totalPaid: number;
  };
  network: {
    ok: boolean;
    height: number;
    difficulty: number;
    lastBlock: { height: number; hash: string; time: number; reward: number };
  };
  config: PoolConfig;
  blocks: Block[];
  payments: Payment[];
  charts: {
    hashrate?: Point[];
    miners?: Point[];
    workers?: Point[];
    difficulty?: Point[];
  };
}

export interface Worker {
  name: string;
  hashrate: number;
  hashrates: Hashrates;
  lastShare: number;
  accepted: number;
  stale: number;
  invalid: number;
  rejected: number;
  hashes: number;
  connections: number;
  offline: boolean;
}

export interface MinerBlock {
  height: number;
  hash: string;
  time: number;
  status: BlockStatus;
  scheme: Scheme;
  share: number;
  amount: number;
  estimated: boolean;
}

export interface MinerStats {
  address: string;
  updated: number;
  balance: number;
  immature: number;
  pendingPayment: number;
  paid: number;
  feesPaid: number;
  threshold: number;
  thresholdCustom: boolean;
  hashrate: number;
  hashrates: Hashrates;
  lastShare: number;
  shares: Shares;
  workersOnline: number;
  workersOffline: number;
  workers: Worker[];
  payments: Payment[];
  blocks: MinerBlock[];
  // workerHashrate: each worker's hashrate series by name, drawn as a line
  // per worker when sent (tests/mock-api.mjs does; the pool's API does not
  // yet: its storage reads no per-worker series).
  charts: { hashrate?: Point[]; workerHashrate?: Record<string, Point[]> };
}

export interface Paged {
  page: number;
  limit: number;
  total: number;
  pages: number;
}

export interface BlocksPage extends Paged {
  blocks: Block[];
}

export interface PaymentsPage extends Paged {
  payments: Payment[];
}

export interface TopMiner {
  address: string;
  hashrate: number;
  hashes: number;
  lastShare: number;
}

export interface TopResponse {
  by: string;
  miners: TopMiner[];
}
