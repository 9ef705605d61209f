package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/payments"
	"rxpool/storage"
	"rxpool/wallet"
)

// Hidden knobs for the crash test, which restarts the payments process
// hundreds of times, and the end-to-end wallet tests: a payment interval
// and a lease TTL shorter than the configuration's whole seconds allow,
// random pauses between journal steps so its kills land in every state,
// and a shorter wait before a transaction nobody has counts as never sent
// (payments.Config.RelayGrace). Not documented for operators.
const (
	envPaymentsInterval   = "RXPOOL_PAYMENTS_INTERVAL"
	envPaymentsLease      = "RXPOOL_PAYMENTS_LEASE_TTL"
	envPaymentsStepPause  = "RXPOOL_PAYMENTS_STEP_PAUSE"
	envPaymentsRelayGrace = "RXPOOL_PAYMENTS_RELAY_GRACE"
)

// runPayments runs the payments module until ctx ends: it opens the wallet
// (retrying while it is not reachable), then pays every payments.interval
// while it holds the payments lease.
func runPayments(ctx context.Context, cfg *config.Config, store *storage.Store, log logrus.FieldLogger) error {
	log = log.WithField("module", "payments")
	pcfg := paymentsConfig(cfg)
	for _, o := range []struct {
		env string
		to  *time.Duration
	}{{envPaymentsInterval, &pcfg.Interval}, {envPaymentsLease, &pcfg.LeaseTTL}, {envPaymentsStepPause, &pcfg.StepPause},
		{envPaymentsRelayGrace, &pcfg.RelayGrace}} {
		if v := os.Getenv(o.env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%s=%q: not a positive duration", o.env, v)
			}
			*o.to = d
		}
	}
	w, open, err := newWallet(cfg, log)
	if err != nil {
		return err
	}
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		err := open(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, wallet.ErrAuth) {
			return fmt.Errorf("wallet %s: %w (check walletApi.apiKey / rpcUser / rpcPassword)", w.Name(), err)
		}
		log.Warnf("opening wallet %s: %v; retrying in %v", w.Name(), err, delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	pcfg.Chain = newDaemon(cfg, log) // the height that confirms payouts
	return payments.New(pcfg, store, w, log).Run(ctx)
}

// newWallet builds the coin's wallet client and the call that opens the
// configured wallet file.
func newWallet(cfg *config.Config, log logrus.FieldLogger) (wallet.Wallet, func(context.Context) error, error) {
	wc := cfg.WalletAPI
	timeout := wc.Timeout.Duration()
	if cfg.Coin == cryptonote.Pastella {
		w := wallet.NewPastella("wallet-api", wc.URL(), wc.APIKey, timeout, log)
		if ds := cfg.DaemonList(); len(ds) > 0 {
			// The wallet API is told which daemon to use when it opens the
			// file, and lookups ask that daemon too.
			w.SetDaemon(ds[0].Name, ds[0].Host, ds[0].Port, false)
		}
		// Every client (payments, /health, check, resolve) opens the file
		// again by itself after a Wallet-API restart.
		w.OpenOnDemand(wc.WalletFile, wc.WalletPassword)
		return w, func(ctx context.Context) error { return w.Open(ctx, wc.WalletFile, wc.WalletPassword) }, nil
	}
	w := wallet.NewMonero("wallet-rpc", wc.URL(), wc.RPCUser, wc.RPCPassword, timeout, log)
	if err := w.SetPriority(uint32(cfg.Payments.Priority)); err != nil {
		return nil, nil, err
	}
	return w, func(ctx context.Context) error {
		if wc.WalletFile == "" {
			_, err := w.PrimaryAddress(ctx) // the RPC was started with its wallet
			return err
		}
		return w.OpenWallet(ctx, wc.WalletFile, wc.WalletPassword)
	}, nil
}

const paymentsUsage = `usage: pool [-config FILE] payments COMMAND
  list [-n N]                 the open records, halts, and the last N records (default 20)
  show ID                     one record with its destinations
  resolve [-force] ID sent|failed [NOTE]
                              settle an open record by hand: sent if its transaction is on the
                              chain, failed only if it is not. Before failing one, the wallet
                              (when walletApi is configured) drops the prepared transaction so
                              it can never be relayed, then the wallet (and, for Pastella, the
                              daemon) is asked whether it has it: if so, resolve refuses.
                              -force skips asking.
  record TXHASH NOTE          record a transfer the operator made from the pool wallet, so that
                              the audit's reconciliation with the wallet does not list it
  blocked                     the addresses payments skip, with the reason
  block ADDRESS [REASON]      stop paying ADDRESS (its balance stays)
  unblock ADDRESS             pay ADDRESS again
`

// paymentsCommand runs `pool payments ...`.
func paymentsCommand(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, paymentsUsage)
		return 2
	}
	store := openStore(cfg, "payments", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(context.Background())
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, rest := args[0], args[1:]
	switch {
	case cmd == "list":
		err = listPayments(ctx, store, rest, stdout, stderr)
	case cmd == "show" && len(rest) == 1:
		err = showPayment(ctx, store, rest[0], stdout)
	case cmd == "resolve":
		err = resolvePayment(ctx, cfg, store, rest, stdout, stderr)
	case cmd == "record" && len(rest) >= 2:
		if err = store.RecordOperatorTransfer(ctx, rest[0], strings.Join(rest[1:], " ")); err == nil {
			fmt.Fprintf(stdout, "recorded %s as an operator transfer\n", rest[0])
		}
	case cmd == "blocked" && len(rest) == 0:
		var m map[string]string
		if m, err = store.BlockedAddresses(ctx); err == nil {
			for a, why := range m {
				fmt.Fprintf(stdout, "%s\t%s\n", a, why)
			}
		}
	case cmd == "block" && (len(rest) == 1 || len(rest) == 2):
		reason := time.Now().UTC().Format(time.RFC3339) + " blocked by the operator"
		if len(rest) == 2 {
			reason += ": " + rest[1]
		}
		err = store.BlockAddress(ctx, rest[0], reason)
	case cmd == "unblock" && len(rest) == 1:
		var ok bool
		if ok, err = store.UnblockAddress(ctx, rest[0]); err == nil && !ok {
			err = fmt.Errorf("%s was not blocked", rest[0])
		}
	default:
		fmt.Fprint(stderr, paymentsUsage)
		return 2
	}
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, paymentsUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "payments:", err)
		return 1
	}
	return 0
}

// errUsage: the arguments do not fit the command; the usage is printed.
var errUsage = errors.New("usage")

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a payment id", s)
	}
	return id, nil
}

func listPayments(ctx context.Context, store *storage.Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("payments list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 20, "how many of the latest records to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	halts, err := store.HaltedPayments(ctx)
	if err != nil {
		return err
	}
	for _, h := range halts {
		fmt.Fprintf(stdout, "PAYMENTS HALTED by payment %d since %s: %s\n", h.ID, h.Since.UTC().Format(time.RFC3339), h.Reason)
	}
	open, err := store.OpenPayments(ctx)
	if err != nil {
		return err
	}
	latest, err := store.Payments(ctx, 0, *n)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tDESTS\tDEBITED\tSENT\tFEE\tMINER FEES\tTX")
	seen := map[uint64]bool{}
	for _, r := range append(open, latest...) {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.State, r.Created.UTC().Format("2006-01-02 15:04:05"),
			len(r.Dests), r.Debited, r.Sent, r.Fee, r.MinerFee, r.TxHash)
	}
	return tw.Flush()
}

func showPayment(ctx context.Context, store *storage.Store, arg string, stdout io.Writer) error {
	id, err := parseID(arg)
	if err != nil {
		return err
	}
	r, err := store.Payment(ctx, id)
	if err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(stdout, "payment %d: %s\ncreated %s, relayed %s, settled %s", r.ID, r.State, ts(r.Created), ts(r.RelayedAt), ts(r.SettledAt))
	if r.SettledBy != "" {
		fmt.Fprintf(stdout, " (by %s)", r.SettledBy)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "transaction %s, network fee %d (miners %d), debited %d, sent %d\n", orDash(r.TxHash), r.Fee, r.MinerFee, r.Debited, r.Sent)
	if r.Error != "" {
		fmt.Fprintf(stdout, "error: %s\n", r.Error)
	}
	// After sent (issue 20): where the chain has it, or since when it does not.
	switch {
	case r.State == storage.PaymentConfirmed:
		fmt.Fprintf(stdout, "confirmed %s in block %d\n", ts(r.ConfirmedAt), r.Height)
	case r.State == storage.PaymentDropped:
		fmt.Fprintf(stdout, "dropped %s; its debits went back to the balances and were paid again\n", ts(r.DroppedAt))
	case !r.MissingSince.IsZero():
		fmt.Fprintf(stdout, "transaction missing since %s: %s\n", ts(r.MissingSince), r.Missing)
	}
	if r.ResendOf != "" {
		fmt.Fprintf(stdout, "pays again dropped payment(s) %s\n", r.ResendOf)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tDEBIT\tFEE\tSENT")
	for _, d := range r.Dests {
		if r.Prepared {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", d.Address, d.Debit, d.Fee, d.Amount)
		} else {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\n", d.Address, d.Debit)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func resolvePayment(ctx context.Context, cfg *config.Config, store *storage.Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("payments resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "settle as failed without asking the wallet")
	if err := fs.Parse(args); err != nil || (fs.NArg() != 2 && fs.NArg() != 3) {
		return errUsage
	}
	id, err := parseID(fs.Arg(0))
	if err != nil {
		return err
	}
	outcome, note := fs.Arg(1), fs.Arg(2)
	if outcome == storage.PaymentFailed && !*force {
		if err := confirmUnsent(ctx, cfg, store, id, stderr); err != nil {
			return err
		}
	}
	if err := store.ResolvePayment(ctx, id, outcome, note); err != nil {
		return err
	}
	r, err := store.Payment(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "payment %d is now %s\n", id, r.State)
	return nil
}

// confirmUnsent makes failing a record safe against a relay still on its
// way to the wallet: first the wallet drops the prepared transaction (from
// then on nobody can relay it), then it is asked (and the Pastella client
// asks the daemon too) whether it has the transaction; a transaction
// either has was sent, and the record must not fail.
func confirmUnsent(ctx context.Context, cfg *config.Config, store *storage.Store, id uint64, stderr io.Writer) error {
	rec, err := store.Payment(ctx, id)
	if err != nil || rec.TxHash == "" {
		return err // no transaction was ever built: nothing to ask
	}
	if cfg.WalletAPI.Port == 0 {
		fmt.Fprintf(stderr, "payments: walletApi is not configured; failing payment %d without asking the wallet about %s\n", id, rec.TxHash)
		return nil
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	w, open, err := newWallet(cfg, log)
	if err != nil {
		return err
	}
	unreachable := func(err error) error {
		return fmt.Errorf("cannot ask the wallet about transaction %s: %w (check it by hand; -force fails the record without asking)", rec.TxHash, err)
	}
	if cfg.Coin == cryptonote.Pastella { // the Wallet-API must have the wallet open; monero-wallet-rpc has
		if err := open(ctx); err != nil {
			return unreachable(err)
		}
	}
	if d, ok := w.(interface {
		Discard(context.Context, *wallet.Prepared) (bool, error)
	}); ok && rec.Handle != "" {
		if _, err := d.Discard(ctx, &wallet.Prepared{TxHash: rec.TxHash, Fee: rec.Fee, Handle: rec.Handle}); err != nil {
			return unreachable(err)
		}
	}
	info, err := w.Lookup(ctx, rec.TxHash)
	if err != nil {
		return unreachable(err)
	}
	if info.State == wallet.TxPending || info.State == wallet.TxConfirmed {
		return fmt.Errorf("the wallet has transaction %s (%s): it was sent; resolve payment %d as sent", rec.TxHash, info.State, id)
	}
	return nil
}
