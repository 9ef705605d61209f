package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"rxpool/config"
)

const blocksUsage = `usage: pool [-config FILE] blocks settle-lost HASH NOTE
  blocks settle-lost HASH NOTE  record how you settled a credited block that left the main chain
                                (BLOCK LOST AFTER CREDIT); the audit then lists it as settled`

// blocksCommand holds the operator's actions on block records.
func blocksCommand(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) < 3 || args[0] != "settle-lost" {
		fmt.Fprintln(stderr, blocksUsage)
		return 2
	}
	store := openStore(cfg, "blocks", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(context.Background())
	hash := strings.ToLower(args[1])
	first, err := store.SettleLostBlock(context.Background(), hash, strings.Join(args[2:], " "))
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "blocks settle-lost:", err)
		return 1
	case !first:
		fmt.Fprintf(stdout, "block %s was settled before; the first note stays\n", hash)
	default:
		fmt.Fprintf(stdout, "block %s settled\n", hash)
	}
	return 0
}
