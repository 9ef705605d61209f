package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strings"

	"rxpool/config"
	"rxpool/storage"
)

// `pool import nodepool`: moves the Pastella Node pool's books (balances,
// paid totals, thresholds, payment and block history) into rxpool's Redis.
// See docs/migration.md.

// importReport counts what an import did (or, dry, would do) and lists
// every record it skipped with its key and reason.
type importReport struct {
	miners, minersDone, minersRepeat, minersEmpty int
	balances, paid                                *big.Int
	withBalance, withPaid, thresholds, history    int
	txs, txsAdded                                 int
	txAmount, txFee                               *big.Int
	confirmed, orphaned, blocksAdded, blocksKnown int
	rewards                                       *big.Int
	candidates                                    []string
	skips, notes                                  []string
	dry                                           bool
}

func newImportReport() *importReport {
	return &importReport{balances: new(big.Int), paid: new(big.Int), txAmount: new(big.Int), txFee: new(big.Int), rewards: new(big.Int)}
}

func addU(sum *big.Int, v uint64) { sum.Add(sum, new(big.Int).SetUint64(v)) }

func importCommand(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "nodepool" {
		fmt.Fprintln(stderr, "usage: pool -config F import nodepool -from redis://HOST:PORT/DB [-prefix Pastella] [-dry-run] [-force]")
		return 2
	}
	fs := flag.NewFlagSet("import nodepool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the Node pool's Redis: redis://[:PASSWORD@]HOST:PORT/DB or unix:///PATH/redis.sock?db=N")
	prefix := fs.String("prefix", "Pastella", "the Node pool's key prefix (its config.json \"coin\")")
	dry := fs.Bool("dry-run", false, "read and report what would be imported; write nothing")
	force := fs.Bool("force", false, "import even though this pool already holds miner state of its own")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *from == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "import nodepool: -from redis://HOST:PORT/DB is required (and nothing after the flags)")
		return 2
	}
	ctx := context.Background()
	src, err := storage.OpenNodePool(ctx, *from, *prefix)
	if err != nil {
		fmt.Fprintln(stderr, "import:", err)
		return 1
	}
	defer src.Close()
	store := openStore(cfg, "import", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(ctx)

	source := "nodepool:" + *prefix
	foreign, err := store.ForeignState(ctx, source)
	if err != nil {
		fmt.Fprintln(stderr, "import:", err)
		return 1
	}
	if len(foreign) > 0 {
		msg := "this pool already holds miner state of its own:\n  " + strings.Join(foreign, "\n  ")
		switch {
		case *force:
			fmt.Fprintln(stdout, msg+"\n-force: importing into it anyway")
		case *dry:
			fmt.Fprintln(stdout, msg+"\na real import would refuse without -force")
		default:
			fmt.Fprintln(stderr, "import: "+msg+"\nrefusing to mix books; rerun with -force if that is what you want (see docs/migration.md)")
			return 1
		}
	}
	mode := "importing"
	if *dry {
		mode = "dry run, writing nothing:"
	}
	fmt.Fprintf(stdout, "%s %s (prefix %s) into %s as source %s\n", mode, *from, *prefix, store.Prefix(), source)
	imp := &nodeImport{cfg: cfg, src: src, store: store, source: source, dry: *dry, rep: newImportReport(), progress: stderr}
	imp.rep.dry = *dry
	if err := imp.run(ctx); err != nil {
		imp.rep.print(stdout, cfg)
		fmt.Fprintln(stderr, "import:", err)
		return 1
	}
	imp.rep.print(stdout, cfg)
	return 0
}

// nodeImport is one run of `pool import nodepool`.
type nodeImport struct {
	cfg      *config.Config
	src      *storage.NodePool
	store    *storage.Store
	source   string // "nodepool:<prefix>": keys the import markers
	dry      bool
	rep      *importReport
	progress io.Writer
}

func (n *nodeImport) run(ctx context.Context) error {
	known, err := n.miners(ctx)
	if err != nil {
		return err
	}
	finders, err := n.payments(ctx)
	if err != nil {
		return err
	}
	more, err := n.blocks(ctx)
	if err != nil {
		return err
	}
	// Addresses the history names that have no keys left: the Node pool
	// expired them (15 days without a share), balance included (§8 item 6).
	seen := map[string]bool{}
	for _, a := range append(finders, more...) {
		if !known[a] && !seen[a] {
			seen[a] = true
			n.rep.notes = append(n.rep.notes, fmt.Sprintf("%s: named in the history but %s and %s are gone (expired in the Node pool); nothing to import",
				a, n.src.Key("workers:"+a), n.src.Key("payments:"+a)))
		}
	}
	return nil
}

// miners imports every miner, one script each; it returns the addresses
// the source has keys for.
func (n *nodeImport) miners(ctx context.Context) (map[string]bool, error) {
	addrs, err := n.src.Addresses(ctx)
	if err != nil {
		return nil, err
	}
	done, err := n.store.ImportedMiners(ctx, n.source)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	r := n.rep
	for i, a := range addrs {
		known[a] = true
		if i > 0 && i%1000 == 0 {
			fmt.Fprintf(n.progress, "import: %d/%d miners\n", i, len(addrs))
		}
		r.miners++
		fields, hist, err := n.src.Miner(ctx, a)
		if err != nil {
			return nil, err
		}
		if _, err := n.cfg.Coin.ParseAddress(a); err != nil {
			r.skips = append(r.skips, fmt.Sprintf("%s: %v; miner skipped (balance %q, paid %q, %d payments)",
				n.src.Key("workers:"+a), err, fields["balance"], fields["paid"], len(hist)))
			continue
		}
		m, skips, err := parseMiner(a, fields, hist, n.src.Key)
		r.skips = append(r.skips, skips...)
		if err != nil {
			r.skips = append(r.skips, fmt.Sprintf("%s %v; miner skipped", n.src.Key("workers:"+a), err))
			continue
		}
		if len(fields) == 0 {
			r.notes = append(r.notes, fmt.Sprintf("%s is gone (expired in the Node pool): %d payments of history imported, paid total unknown",
				n.src.Key("workers:"+a), len(m.History)))
		}
		if m.Balance == 0 && m.Paid == 0 && m.Threshold == 0 && len(m.History) == 0 {
			r.minersEmpty++
			continue
		}
		if was, ok := done[a]; ok {
			r.minersRepeat++
			if now := fmt.Sprintf("balance=%d paid=%d ", m.Balance, m.Paid); !strings.HasPrefix(was, now) {
				r.notes = append(r.notes, fmt.Sprintf("%s: imported before with %s; the source now has %s; not imported again (settle by hand)",
					n.src.Key("workers:"+a), strings.Join(strings.Fields(was)[:2], " "), strings.TrimSpace(now)))
			}
			continue
		}
		if !n.dry {
			added, err := n.store.ImportMiner(ctx, n.source, m)
			if err != nil {
				return nil, err
			}
			if !added {
				r.minersRepeat++
				continue
			}
		}
		r.minersDone++
		addU(r.balances, m.Balance)
		addU(r.paid, m.Paid)
		r.history += len(m.History)
		for _, c := range []struct {
			v uint64
			n *int
		}{{m.Balance, &r.withBalance}, {m.Paid, &r.withPaid}, {m.Threshold, &r.thresholds}} {
			if c.v > 0 {
				*c.n++
			}
		}
	}
	return known, nil
}

// payments imports payments:all; it returns the first destination of each
// transaction, to spot miners whose keys expired.
func (n *nodeImport) payments(ctx context.Context) ([]string, error) {
	entries, err := n.src.Sorted(ctx, "payments:all")
	if err != nil {
		return nil, err
	}
	var txs []storage.ImportedTx
	var firsts []string
	for _, e := range entries {
		t, err := parsePoolPayment(e)
		if err != nil {
			n.rep.skips = append(n.rep.skips, fmt.Sprintf("%s member %q: %v", n.src.Key("payments:all"), e.Member, err))
			continue
		}
		txs = append(txs, t)
		firsts = append(firsts, e.Member[strings.LastIndexByte(e.Member, ':')+1:])
		addU(n.rep.txAmount, t.Amount)
		addU(n.rep.txFee, t.Fee)
	}
	n.rep.txs = len(txs)
	if n.dry {
		return firsts, nil
	}
	added, err := n.store.ImportPoolPayments(ctx, txs)
	n.rep.txsAdded = added
	return firsts, err
}

// blocks imports blocks:matured and lists blocks:candidates, which stay
// with the Node pool's unlocker. It returns the finders.
func (n *nodeImport) blocks(ctx context.Context) ([]string, error) {
	cands, err := n.src.Sorted(ctx, "blocks:candidates")
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		n.rep.candidates = append(n.rep.candidates, fmt.Sprintf("%s height %.0f %q", n.src.Key("blocks:candidates"), c.Score, c.Member))
	}
	matured, err := n.src.Sorted(ctx, "blocks:matured")
	if err != nil {
		return nil, err
	}
	var finders []string
	tag := "import:nodepool"
	for _, e := range matured {
		b, notes, err := parseBlock(e, n.cfg.Coin)
		if err != nil {
			n.rep.skips = append(n.rep.skips, fmt.Sprintf("%s height %.0f member %q: %v; block skipped", n.src.Key("blocks:matured"), e.Score, e.Member, err))
			continue
		}
		n.rep.notes = append(n.rep.notes, notes...)
		finders = append(finders, b.Address)
		if b.Orphaned {
			n.rep.orphaned++
		} else {
			n.rep.confirmed++
			addU(n.rep.rewards, b.Reward)
		}
		if n.dry {
			switch _, err := n.store.BlockByHash(ctx, b.Hash); {
			case err == nil:
				n.rep.blocksKnown++
			case errors.Is(err, storage.ErrUnknownBlock):
				n.rep.blocksAdded++
			default:
				return nil, err
			}
			continue
		}
		added, repeat, err := n.store.ImportBlock(ctx, tag, b)
		switch {
		case err != nil:
			return nil, err
		case added:
			n.rep.blocksAdded++
		case repeat:
			n.rep.blocksKnown++
		default:
			n.rep.skips = append(n.rep.skips, fmt.Sprintf("%s height %d block %s: this pool has its own record of it; block skipped",
				n.src.Key("blocks:matured"), b.Height, b.Hash))
		}
	}
	return finders, nil
}

func (r *importReport) print(w io.Writer, cfg *config.Config) {
	amount := func(v *big.Int) string {
		if v.IsUint64() {
			return fmt.Sprintf("%s (%s %s)", v, cfg.Coin.FormatAmount(v.Uint64()), cfg.Coin.Symbol)
		}
		return v.String()
	}
	verb, added := "imported", "added"
	if r.dry {
		verb, added = "to import", "to add (those present before not counted: dry run)"
	}
	fmt.Fprintf(w, "miners: %d in the source: %d %s, %d imported before (unchanged), %d with nothing to import, %d skipped\n",
		r.miners, r.minersDone, verb, r.minersRepeat, r.minersEmpty, r.miners-r.minersDone-r.minersRepeat-r.minersEmpty)
	fmt.Fprintf(w, "  balances: %d miners, Σ %s atomic units\n", r.withBalance, amount(r.balances))
	fmt.Fprintf(w, "  paid totals: %d miners, Σ %s atomic units\n", r.withPaid, amount(r.paid))
	fmt.Fprintf(w, "  thresholds: %d; payment history entries: %d\n", r.thresholds, r.history)
	if r.dry {
		fmt.Fprintf(w, "pool payments: %d read (Σ sent %s, Σ network fees %s), %s\n", r.txs, amount(r.txAmount), amount(r.txFee), added)
	} else {
		fmt.Fprintf(w, "pool payments: %d read (Σ sent %s, Σ network fees %s), %d added, %d present before\n",
			r.txs, amount(r.txAmount), amount(r.txFee), r.txsAdded, r.txs-r.txsAdded)
	}
	fmt.Fprintf(w, "blocks: %d matured read: %d confirmed (Σ reward %s), %d orphaned; %d %s, %d present before\n",
		r.confirmed+r.orphaned, r.confirmed, amount(r.rewards), r.orphaned, r.blocksAdded, verb, r.blocksKnown)
	fmt.Fprintf(w, "candidates left to the Node pool's unlocker (not imported): %d\n", len(r.candidates))
	for _, c := range r.candidates {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "skipped: %d\n", len(r.skips))
	for _, s := range r.skips {
		fmt.Fprintf(w, "  SKIP %s\n", s)
	}
	fmt.Fprintf(w, "notes: %d\n", len(r.notes))
	for _, s := range r.notes {
		fmt.Fprintf(w, "  %s\n", s)
	}
}
