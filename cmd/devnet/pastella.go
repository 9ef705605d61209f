package main

import (
	"context"
	"fmt"
	"path/filepath"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
)

// pastellaChain is a private single-node Pastellad and two
// Pastella-Wallet-API processes (the API holds one wallet at a time), all
// under the loopback guard (testenv finds the programs and the guard at
// $RXPOOL_PASTELLA_BIN and $RXPOOL_PASTELLA_GUARD, else ../shared/pastella).
//
// The chain needs no history before the pool starts: Pastella has no ring
// members to wait for, and a coinbase is spendable after 10 blocks, before
// the unlocker credits it (depth 10), so the pool pays from its own blocks.
// Nor can it be made quickly: Pastellad has no generateblocks RPC and no
// fixed-difficulty flag, and starts at difficulty 1000, which rxminer in
// fast mode meets every few seconds. So the pool's own miner finds the
// blocks that mature the earlier ones.
type pastellaChain struct {
	daemon      *testenv.Pastellad
	poolWallet  *testenv.PastellaWallet
	minerWallet *testenv.PastellaWallet
}

// startPastella starts Pastellad and the wallets, creating the wallet files
// on the first run and opening them after. On error the chain must still be
// stopped.
func startPastella(ctx context.Context, dir string, o options, say func(string, ...any)) (chain, error) {
	c := &pastellaChain{}
	var err error
	if c.daemon, err = testenv.StartPastellad(testenv.PastelladOptions{DataDir: filepath.Join(dir, "pastellad")}); err != nil {
		return c, fmt.Errorf("Pastellad: %w", err)
	}
	info, err := c.daemon.Info(ctx)
	if err != nil {
		return c, fmt.Errorf("Pastellad: %w", err)
	}
	say("Pastellad on 127.0.0.1:%d: height %d, network difficulty %d", c.daemon.RPCPort, info.Height, info.Difficulty)
	wallets := filepath.Join(dir, "wallets")
	if c.poolWallet, err = testenv.StartPastellaWallet(c.daemon, wallets, "pool"); err != nil {
		return c, fmt.Errorf("pool wallet: %w", err)
	}
	if c.minerWallet, err = testenv.StartPastellaWallet(c.daemon, wallets, "miner"); err != nil {
		return c, fmt.Errorf("miner wallet: %w", err)
	}
	say("wallets: pool %s… (127.0.0.1:%d), miner %s… (127.0.0.1:%d)", c.poolWallet.Address[:12], c.poolWallet.Port, c.minerWallet.Address[:12], c.minerWallet.Port)
	return c, nil
}

func (c *pastellaChain) coin() *cryptonote.Coin { return cryptonote.Pastella }
func (c *pastellaChain) poolAddress() string    { return c.poolWallet.Address }
func (c *pastellaChain) minerAddress() string   { return c.minerWallet.Address }

// minerMode is fast: at difficulty 1000 light mode needs ~15 s a block on
// two cores, fast mode a few seconds on one.
func (c *pastellaChain) minerMode() string { return "fast" }

func (c *pastellaChain) describe() string {
	return fmt.Sprintf("Pastellad 127.0.0.1:%d, Pastella-Wallet-API pool 127.0.0.1:%d, miner 127.0.0.1:%d (API key %s / %s)",
		c.daemon.RPCPort, c.poolWallet.Port, c.minerWallet.Port, c.poolWallet.APIKey, c.minerWallet.APIKey)
}

func (c *pastellaChain) configure(set func(section, key string, v any)) {
	set("daemon", "port", c.daemon.RPCPort)
	set("walletApi", "port", c.poolWallet.Port)
	set("walletApi", "apiKey", c.poolWallet.APIKey)
	// Relative to the Wallet-API's working directory, where the file is.
	set("walletApi", "walletFile", c.poolWallet.File)
	set("walletApi", "walletPassword", c.poolWallet.Password)
}

func (c *pastellaChain) received(ctx context.Context) (uint64, error) {
	total, _, err := c.minerWallet.SyncedBalance(ctx)
	return total, err
}

// advance costs a 2 GiB RandomX dataset in this process (built once).
func (c *pastellaChain) advance(ctx context.Context) error {
	_, err := c.daemon.MineBlocks(ctx, 1, testenv.PastellaBurnAddress, nil)
	return err
}

func (c *pastellaChain) mempool(ctx context.Context) (int, error) {
	var info struct {
		TxPoolSize int `json:"tx_pool_size"`
	}
	err := getJSON(ctx, c.daemon.URL()+"/info", &info)
	return info.TxPoolSize, err
}

func (c *pastellaChain) stop() {
	for _, w := range []*testenv.PastellaWallet{c.minerWallet, c.poolWallet} {
		if w != nil {
			w.Stop()
		}
	}
	if c.daemon != nil {
		c.daemon.Stop()
	}
}
