package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"rxpool/config"
	"rxpool/stratum"
)

const bansUsage = `usage: pool [-config FILE] bans [lift ADDRESS]
  bans               list the addresses banned now, pool-wide (an IPv4 address or an IPv6 /64)
  bans lift ADDRESS  lift the ban of ADDRESS (its IPv6 /64) in every stratum process within a second`

// bansCommand lists or lifts the pool-wide bans the stratum processes
// share through Redis.
func bansCommand(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	store := openStore(cfg, "bans", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(context.Background())
	ctx := context.Background()
	switch {
	case len(args) == 0:
		active, err := store.ActiveBans(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "bans:", err)
			return 1
		}
		groups := make([]string, 0, len(active))
		for g := range active {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			fmt.Fprintf(stdout, "%s\tuntil %s (%s left)\n", g, active[g].UTC().Format(time.RFC3339), time.Until(active[g]).Round(time.Second))
		}
		fmt.Fprintf(stdout, "%d banned\n", len(active))
		return 0
	case len(args) == 2 && args[0] == "lift":
		a, err := netip.ParseAddr(args[1])
		if err != nil {
			if p, perr := netip.ParsePrefix(args[1]); perr == nil && p.Addr().Is6() && p.Bits() <= 64 {
				a, err = p.Addr(), nil
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "bans lift: %q is not an IP address (or an IPv6 /64)\n", args[1])
			return 2
		}
		g := stratum.AddrGroup(a.String())
		if err := store.PublishBan(ctx, stratum.BanNotice{Group: g}); err != nil {
			fmt.Fprintln(stderr, "bans lift:", err)
			return 1
		}
		fmt.Fprintf(stdout, "ban of %s lifted in every stratum process\n", g)
		return 0
	default:
		fmt.Fprintln(stderr, bansUsage)
		return 2
	}
}
