package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"rxpool/storage"
)

// AdminStats is GET /admin/stats: what the pool owes, paid and earned, and
// what the wallet holds to cover it.
type AdminStats struct {
	Owed           uint64            `json:"owed"`           // Σ balances
	PendingPayment uint64            `json:"pendingPayment"` // Σ in unsettled payouts
	Paid           uint64            `json:"paid"`           // Σ received by miners
	FeesPaid       uint64            `json:"feesPaid"`       // Σ network fees miners paid
	Rewards        uint64            `json:"rewards"`        // Σ rewards of confirmed blocks
	PoolFees       uint64            `json:"poolFees"`
	FinderRewards  uint64            `json:"finderRewards"`
	Confirmed      uint64            `json:"blocksConfirmed"`
	Orphaned       uint64            `json:"blocksOrphaned"`
	Accounts       int               `json:"accounts"`
	Wallet         *WalletState      `json:"wallet"`
	Payments       PaymentCounters   `json:"payments"`
	Halted         []HaltedPayment   `json:"halted"`
	Blocked        map[string]string `json:"blocked"`
}

// WalletState is the payout wallet's balance, or why it is unknown.
type WalletState struct {
	Balance  uint64 `json:"balance"`
	Unlocked uint64 `json:"unlocked"`
	Error    string `json:"error,omitempty"`
}

// PaymentCounters count settled payment records.
type PaymentCounters struct {
	Sent   uint64 `json:"sent"`
	Failed uint64 `json:"failed"`
	Halts  uint64 `json:"halts"`
	// Sent payouts whose transaction later reached payments.confirmations
	// depth, or left the chain and was paid again (issue 20).
	Confirmed uint64 `json:"confirmed"`
	Dropped   uint64 `json:"dropped"`
}

// HaltedPayment is a payment record that stops payments until resolved.
type HaltedPayment struct {
	ID     uint64 `json:"id"`
	Since  int64  `json:"since"`
	Reason string `json:"reason"`
}

func (s *Server) adminStats(c *gin.Context) {
	ctx, st := c.Request.Context(), s.deps.Store
	acc, err := st.Accounts(ctx)
	if err != nil {
		s.internal(c, "admin stats", err)
		return
	}
	tot, err := st.Totals(ctx)
	if err != nil {
		s.internal(c, "admin stats", err)
		return
	}
	ps, err := st.PaymentStats(ctx)
	if err != nil {
		s.internal(c, "admin stats", err)
		return
	}
	halted, err := st.HaltedPayments(ctx)
	if err != nil {
		s.internal(c, "admin stats", err)
		return
	}
	blocked, err := st.BlockedAddresses(ctx)
	if err != nil {
		s.internal(c, "admin stats", err)
		return
	}
	out := AdminStats{
		Rewards: tot.Rewards, PoolFees: tot.Fees, FinderRewards: tot.Finder, Confirmed: tot.Confirmed,
		Orphaned: tot.Orphaned, Accounts: len(acc), Payments: PaymentCounters(ps), Halted: haltedList(halted), Blocked: blocked,
	}
	for _, b := range acc {
		out.Owed += uint64(max(b.Balance, 0))
		out.PendingPayment += b.PendingPayment
		out.Paid += b.Sent()
		out.FeesPaid += b.FeesPaid
	}
	if w := s.deps.Wallet; w != nil {
		ws := &WalletState{}
		wctx, cancel := context.WithTimeout(ctx, checkTimeout)
		ws.Balance, ws.Unlocked, err = w.Balance(wctx)
		cancel()
		if err != nil {
			ws.Error = err.Error()
		}
		out.Wallet = ws
	}
	c.JSON(http.StatusOK, out)
}

func haltedList(h []storage.PaymentHalt) []HaltedPayment {
	out := make([]HaltedPayment, len(h))
	for i, p := range h {
		out[i] = HaltedPayment{ID: p.ID, Since: ms(p.Since), Reason: p.Reason}
	}
	return out
}

// AdminUser is one line of GET /admin/users.
type AdminUser struct {
	Address        string  `json:"address"`
	Balance        int64   `json:"balance"`
	PendingPayment uint64  `json:"pendingPayment"`
	Paid           uint64  `json:"paid"`
	Hashrate       float64 `json:"hashrate"`
	Hashes         uint64  `json:"hashes"`
	LastShare      int64   `json:"lastShare"`
}

// adminUsers lists every address with money or a share in the last 30 days.
func (s *Server) adminUsers(c *gin.Context) {
	ctx, st := c.Request.Context(), s.deps.Store
	acc, err := st.Accounts(ctx)
	if err != nil {
		s.internal(c, "admin users", err)
		return
	}
	act, err := st.ActiveMiners(ctx, s.now().Add(-30*24*time.Hour), 10*time.Minute)
	if err != nil {
		s.internal(c, "admin users", err)
		return
	}
	users := map[string]*AdminUser{}
	get := func(a string) *AdminUser {
		if users[a] == nil {
			users[a] = &AdminUser{Address: a}
		}
		return users[a]
	}
	for a, b := range acc {
		u := get(a)
		u.Balance, u.PendingPayment, u.Paid = b.Balance, b.PendingPayment, b.Sent()
	}
	for _, m := range act {
		u := get(m.Address)
		u.Hashrate, u.Hashes, u.LastShare = m.Hashrate, m.Hashes, ms(m.LastShare)
	}
	out := make([]*AdminUser, 0, len(users))
	for _, u := range users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	c.JSON(http.StatusOK, gin.H{"users": out})
}

// adminPayments shows the payment journal: open and halted records, the
// newest records, blocked addresses.
func (s *Server) adminPayments(c *gin.Context) {
	ctx, st := c.Request.Context(), s.deps.Store
	open, err := st.OpenPayments(ctx)
	if err != nil {
		s.internal(c, "admin payments", err)
		return
	}
	recent, err := st.Payments(ctx, 0, 50)
	if err != nil {
		s.internal(c, "admin payments", err)
		return
	}
	halted, err := st.HaltedPayments(ctx)
	if err != nil {
		s.internal(c, "admin payments", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"open": journal(open), "recent": journal(recent), "halted": haltedList(halted)})
}

// JournalRecord is a payment record as the admin sees it.
type JournalRecord struct {
	ID       uint64        `json:"id"`
	State    string        `json:"state"`
	Created  int64         `json:"created"`
	Updated  int64         `json:"updated"`
	TxHash   string        `json:"txHash,omitempty"`
	Fee      uint64        `json:"fee"`
	MinerFee uint64        `json:"minerFee"`
	Debited  uint64        `json:"debited"`
	Sent     uint64        `json:"sent"`
	Dests    []JournalDest `json:"destinations"`
}

// JournalDest is one destination of a payment record.
type JournalDest struct {
	Address string `json:"address"`
	Debit   uint64 `json:"debit"`
	Fee     uint64 `json:"fee"`
	Amount  uint64 `json:"amount"`
}

func journal(rs []*storage.PaymentRecord) []JournalRecord {
	out := make([]JournalRecord, len(rs))
	for i, r := range rs {
		out[i] = JournalRecord{ID: r.ID, State: r.State, Created: ms(r.Created), Updated: ms(r.Updated), TxHash: r.TxHash,
			Fee: r.Fee, MinerFee: r.MinerFee, Debited: r.Debited, Sent: r.Sent, Dests: make([]JournalDest, len(r.Dests))}
		for j, d := range r.Dests {
			out[i].Dests[j] = JournalDest(d)
		}
	}
	return out
}

// adminPorts lists the configured ports (hidden ones too) with their
// connections when stratum runs in this process.
func (s *Server) adminPorts(c *gin.Context) {
	type port struct {
		Port
		Connections *int `json:"connections"`
	}
	var conns map[int]int
	if s.deps.PortSessions != nil {
		conns = s.deps.PortSessions()
	}
	out := make([]port, 0, len(s.cfg.Public.Ports))
	for _, p := range s.cfg.AllPorts {
		pp := port{Port: p}
		if conns != nil {
			n := conns[p.Port]
			pp.Connections = &n
		}
		out = append(out, pp)
	}
	c.JSON(http.StatusOK, gin.H{"ports": out, "stratumInProcess": conns != nil})
}
