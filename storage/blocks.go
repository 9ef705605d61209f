package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/stratum"
)

// Block statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusOrphaned  = "orphaned"
)

var (
	// ErrUnknownBlock: no candidate with that hash.
	ErrUnknownBlock = errors.New("storage: unknown block")
	// ErrNotPending: the block was already settled the other way
	// (crediting an orphan, orphaning a confirmed block).
	ErrNotPending = errors.New("storage: block is not pending")
	// ErrMismatch: the split does not add up to the reward, or disagrees
	// with the candidate's recorded reward or finder. Nothing was written.
	ErrMismatch = errors.New("storage: credit does not match the block")

	errBadCandidate = errors.New("storage: invalid block candidate")
)

// BlockRecord is a block candidate as recorded, and its settlement.
type BlockRecord struct {
	Hash, PrevHash string // lower-case hex
	Height         uint64
	Scheme         string
	Address        string // finder
	Worker         string
	NetDiff        uint64
	ShareDiff      uint64
	Reward         uint64 // the pool's output in the block we built
	Time           time.Time
	SubmitError    string
	Status         string
	TotalWeight    uint64 // Σ frozen weights
	WeightEntries  int
	EffortHashes   uint64 // Σ share difficulty of the scheme since its previous block
	// Set when confirmed:
	Fee          uint64
	FeeAddress   string // "" = the fee stays in the pool wallet
	FinderReward uint64
	Credited     uint64 // Σ added to balances (participants, finder, fee to FeeAddress)
	SettledAt    time.Time
}

// Effort is the hashes spent on the block relative to its difficulty
// (1 = as expected).
func (b *BlockRecord) Effort() float64 {
	if b.NetDiff == 0 {
		return 0
	}
	return float64(b.EffortHashes) / float64(b.NetDiff)
}

// WriteBlockCandidate records a found block and freezes who gets paid for it
// in one script: first every share buffered so far is written (so each
// share accepted before the block counts), then, with no batch in between,
// the candidate and its weights: the PPLNS window ending now, the PROP round
// (which restarts empty), or the SOLO finder alone. A candidate whose
// submission failed is recorded too; the unlocker orphans it. Writing the
// same hash again does nothing. When fewer than redis.minReplicaAcks
// replicas acknowledge it, it returns ErrNotDurable, the candidate written
// on the master (Store.Block tries again).
func (s *Store) WriteBlockCandidate(ctx context.Context, b *stratum.Block) error {
	if !validScheme(b.Scheme) || b.Address == "" {
		return fmt.Errorf("%w: scheme %q, finder %q", errBadCandidate, b.Scheme, b.Address)
	}
	s.SetNetworkDifficulty(b.NetDifficulty)
	n, err := s.windowWeight(b.NetDifficulty)
	if err != nil {
		return err
	}
	hash := hex.EncodeToString(b.Hash[:])
	t := b.Time
	if t.IsZero() {
		t = s.now()
	}
	keys := []string{
		s.k.block(hash), s.k.weights(hash), s.k.blocks, s.k.pending,
		s.k.pplnsLog, s.k.propRound, s.k.effort, s.k.effortSolo,
	}
	args := []any{
		hash, b.Height, b.Scheme, b.Address, n,
		"hash", hash, "height", b.Height, "prevHash", hex.EncodeToString(b.PrevHash[:]),
		"scheme", b.Scheme, "address", b.Address, "worker", b.Worker,
		"netDiff", b.NetDifficulty, "shareDiff", b.ShareDiff, "reward", b.Reward,
		"time", t.UnixMilli(), "submitError", b.SubmitError,
	}
	if err := s.freeze(ctx, b.Height, keys, args); err != nil {
		return err
	}
	// Outside flushMu, so shares keep flowing while replicas are slow:
	// Durable's own write comes after the candidate, so its wait covers it.
	if err := s.Durable(ctx); err != nil {
		// Store.Block writes it again (a no-op) and waits again.
		s.log.Errorf("storage: BLOCK CANDIDATE %d %s recorded on the master only: %v; a failover now would lose it", b.Height, hash, err)
		return fmt.Errorf("storage: recording block %d %s: %w", b.Height, hash, err)
	}
	return nil
}

// freeze writes the shares buffered so far, then the candidate, with no
// batch in between.
func (s *Store) freeze(ctx context.Context, height uint64, keys []string, args []any) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.flushLocked(ctx, true); err != nil {
		return fmt.Errorf("storage: writing the shares before block %d: %w", height, err)
	}
	if err := scriptFreeze.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("storage: recording block %d %s: %w", height, args[0], err)
	}
	return nil
}

// windowWeight is N = window × network difficulty, exactly (the window is a
// float from the configuration), rounded down.
func (s *Store) windowWeight(netDiff uint64) (uint64, error) {
	f := new(big.Float).SetPrec(128).SetFloat64(s.opt.window)
	f.Mul(f, new(big.Float).SetPrec(128).SetUint64(netDiff))
	n, _ := f.Uint64()
	if n >= maxExact {
		return 0, fmt.Errorf("%w: PPLNS window %v × %d exceeds 2^53", errBadCandidate, s.opt.window, netDiff)
	}
	return n, nil
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// BlockByHash reads one block record; ErrUnknownBlock if there is none.
func (s *Store) BlockByHash(ctx context.Context, hash string) (*BlockRecord, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.block(hash)).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	}
	return parseBlock(m)
}

// PendingBlocks returns the candidates not yet confirmed or orphaned,
// lowest height first.
func (s *Store) PendingBlocks(ctx context.Context) ([]*BlockRecord, error) {
	hashes, err := s.index(ctx, s.k.pending, 0, -1)
	if err != nil {
		return nil, err
	}
	return s.blockRecords(ctx, hashes)
}

// Blocks returns up to limit blocks, highest first, skipping offset.
func (s *Store) Blocks(ctx context.Context, offset, limit int) ([]*BlockRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	hashes, err := s.index(ctx, s.k.blocks, offset, limit)
	if err != nil || len(hashes) == 0 {
		return nil, err
	}
	return s.blockRecords(ctx, hashes)
}

// index reads a sorted-set index: every member oldest first when limit is
// negative, else a page of up to limit members newest first.
func (s *Store) index(ctx context.Context, key string, offset, limit int) ([]string, error) {
	if limit < 0 {
		return s.rdb.ZRange(ctx, key, 0, -1).Result()
	}
	if limit == 0 || offset < 0 {
		return nil, nil
	}
	return s.rdb.ZRevRange(ctx, key, int64(offset), int64(offset+limit-1)).Result()
}

func (s *Store) blockRecords(ctx context.Context, hashes []string) ([]*BlockRecord, error) {
	maps, err := s.hashes(ctx, hashes, s.k.block)
	if err != nil {
		return nil, err
	}
	out := make([]*BlockRecord, 0, len(hashes))
	for i, m := range maps {
		if len(m) == 0 {
			return nil, fmt.Errorf("storage: block %s is indexed but has no record", hashes[i])
		}
		b, err := parseBlock(m)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// hashes reads HGETALL of key(id) for each id in one pipeline.
func (s *Store) hashes(ctx context.Context, ids []string, key func(string) string) ([]map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, key(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]map[string]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// BlockWeights returns a block's frozen weights, address → weight.
func (s *Store) BlockWeights(ctx context.Context, hash string) (map[string]uint64, error) {
	return s.uintHash(ctx, s.k.weights(hash))
}

// BlockCredits returns what a confirmed block credited to participants
// (the finder reward and fee are on the BlockRecord).
func (s *Store) BlockCredits(ctx context.Context, hash string) (map[string]uint64, error) {
	return s.uintHash(ctx, s.k.credits(hash))
}

func (s *Store) uintHash(ctx context.Context, key string) (map[string]uint64, error) {
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	return parseUintMap(key, m)
}

func parseUintMap(key string, m map[string]string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("storage: %s field %s: %q is not an amount", key, k, v)
		}
		out[k] = n
	}
	return out, nil
}

// record reads typed fields out of a Redis hash, collecting the malformed
// ones so a damaged record is reported whole rather than half-parsed.
type record struct {
	m   map[string]string
	bad []string
}

func (r *record) u(f string) uint64 {
	v, ok := r.m[f]
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		r.bad = append(r.bad, f+"="+v)
	}
	return n
}

// ms reads a unix-milliseconds field; absent or 0 is the zero time.
func (r *record) ms(f string) time.Time {
	if n := r.u(f); n > 0 {
		return time.UnixMilli(int64(n))
	}
	return time.Time{}
}

func parseBlock(m map[string]string) (*BlockRecord, error) {
	r := &record{m: m}
	u, ms := r.u, r.ms
	b := &BlockRecord{
		Hash: m["hash"], PrevHash: m["prevHash"], Height: u("height"), Scheme: m["scheme"],
		Address: m["address"], Worker: m["worker"], NetDiff: u("netDiff"), ShareDiff: u("shareDiff"),
		Reward: u("reward"), Time: ms("time"), SubmitError: m["submitError"], Status: m["status"],
		TotalWeight: u("totalWeight"), WeightEntries: int(u("weightEntries")), EffortHashes: u("effortHashes"),
		Fee: u("fee"), FeeAddress: m["feeAddress"], FinderReward: u("finderReward"), Credited: u("credited"),
		SettledAt: ms("settledAt"),
	}
	if len(r.bad) > 0 {
		return b, fmt.Errorf("storage: block %s has malformed fields: %s", b.Hash, strings.Join(r.bad, ", "))
	}
	return b, nil
}

// Immature is an address's share of a pending block.
type Immature struct {
	Hash        string
	Height      uint64
	Scheme      string
	Weight      uint64
	TotalWeight uint64
	// Amount is Reward × Weight / TotalWeight, rounded down, before the pool
	// fee and finder reward: an estimate until the block is credited.
	Amount uint64
}

// ImmatureBalances lists an address's shares of the pending blocks.
func (s *Store) ImmatureBalances(ctx context.Context, addr string) ([]Immature, error) {
	blocks, err := s.PendingBlocks(ctx)
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(blocks))
	for i, b := range blocks {
		cmds[i] = pipe.HGet(ctx, s.k.weights(b.Hash), addr)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []Immature
	for i, b := range blocks {
		w, err := cmds[i].Uint64()
		if err != nil || w == 0 || b.TotalWeight == 0 || w > b.TotalWeight {
			continue
		}
		hi, lo := bits.Mul64(b.Reward, w)
		amount, _ := bits.Div64(hi, lo, b.TotalWeight) // hi < TotalWeight because w ≤ TotalWeight
		out = append(out, Immature{Hash: b.Hash, Height: b.Height, Scheme: b.Scheme, Weight: w, TotalWeight: b.TotalWeight, Amount: amount})
	}
	return out, nil
}

// Balance is an address's money.
type Balance struct {
	Balance        int64  // payable
	PendingPayment uint64 // in an unconfirmed payout
	Paid           uint64 // debited by sent payouts: sent to the address plus FeesPaid
	FeesPaid       uint64 // the miner's part of the network fees of those payouts
}

// Sent is what actually reached the address: Paid net of the fees.
func (b Balance) Sent() uint64 { return b.Paid - min(b.FeesPaid, b.Paid) }

// Balance reads an address's balance, pending payout and paid total.
func (s *Store) Balance(ctx context.Context, addr string) (Balance, error) {
	fields := s.balanceFields()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(fields))
	for i, f := range fields {
		cmds[i] = pipe.HGet(ctx, f.key, addr)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Balance{}, err
	}
	var b Balance
	var errs []error
	for i, f := range fields {
		if v, err := cmds[i].Result(); err == nil {
			errs = append(errs, f.set(&b, v))
		}
	}
	return b, errors.Join(errs...)
}

// balanceField is one hash holding a part of every address's Balance.
type balanceField struct {
	key string
	set func(b *Balance, v string) error
}

// balanceFields lists the hashes Balance and Accounts read.
func (s *Store) balanceFields() []balanceField {
	return []balanceField{
		{s.k.balances, func(b *Balance, v string) (err error) { b.Balance, err = strconv.ParseInt(v, 10, 64); return }},
		{s.k.payPending, func(b *Balance, v string) (err error) { b.PendingPayment, err = strconv.ParseUint(v, 10, 64); return }},
		{s.k.paid, func(b *Balance, v string) (err error) { b.Paid, err = strconv.ParseUint(v, 10, 64); return }},
		{s.k.paidFees, func(b *Balance, v string) (err error) { b.FeesPaid, err = strconv.ParseUint(v, 10, 64); return }},
	}
}

// Totals are the operator totals, in atomic units and block counts.
type Totals struct {
	Rewards      uint64 // Σ reward of confirmed blocks
	Credited     uint64 // Σ added to balances
	Fees         uint64 // Σ pool fees
	FeesCredited uint64 // the part of Fees credited to the fee address
	Finder       uint64 // Σ finder rewards
	Confirmed    uint64
	Orphaned     uint64
}

// Totals reads the operator totals.
func (s *Store) Totals(ctx context.Context) (Totals, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.totals).Result()
	if err != nil {
		return Totals{}, err
	}
	u, err := parseUintMap(s.k.totals, m)
	return Totals{
		Rewards: u["rewards"], Credited: u["credited"], Fees: u["fees"], FeesCredited: u["feesCredited"],
		Finder: u["finder"], Confirmed: u["confirmed"], Orphaned: u["orphaned"],
	}, err
}
