package main

import (
	"context"
	"fmt"
	"path/filepath"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
)

// chainBlocks is the regtest history mined to the pool wallet before the
// pool starts: spendable coinbase outputs (60-block maturity) and enough
// ring members for its first payout (~110 blocks).
const chainBlocks = 130

// moneroChain is monerod --regtest and two monero-wallet-rpc wallets.
type moneroChain struct {
	monerod     *testenv.Monerod
	poolWallet  *testenv.Wallet
	minerWallet *testenv.Wallet
}

// startMonero starts monerod and the wallets and, on the first run, mines
// the history the pool wallet pays from. On error the chain must still be
// stopped.
func startMonero(ctx context.Context, dir string, o options, say func(string, ...any)) (chain, error) {
	c := &moneroChain{}
	// monerod starts at difficulty 1 while the chain is being prepared, so
	// its own miner makes the history in seconds.
	mopts := testenv.MonerodOptions{DataDir: filepath.Join(dir, "monerod"), FixedDifficulty: 1}
	var err error
	if c.monerod, err = testenv.StartMonerod(mopts); err != nil {
		return c, fmt.Errorf("monerod: %w", err)
	}
	say("monerod --regtest on 127.0.0.1:%d", c.monerod.RPCPort)
	wallets := filepath.Join(dir, "wallets")
	if c.poolWallet, err = testenv.StartWallet(c.monerod, wallets, "pool"); err != nil {
		return c, fmt.Errorf("pool wallet: %w", err)
	}
	if c.minerWallet, err = testenv.StartWallet(c.monerod, wallets, "miner"); err != nil {
		return c, fmt.Errorf("miner wallet: %w", err)
	}
	say("wallets: pool %s… (127.0.0.1:%d), miner %s… (127.0.0.1:%d)", c.poolWallet.Address[:12], c.poolWallet.Port, c.minerWallet.Address[:12], c.minerWallet.Port)
	h, err := c.monerod.Height(ctx)
	if err != nil {
		return c, err
	}
	if h < chainBlocks {
		say("preparing the chain: mining %d blocks to the pool wallet (first run only)", chainBlocks-h)
		if _, err := c.monerod.GenerateBlocks(ctx, int(chainBlocks-h), c.poolWallet.Address, say); err != nil {
			return c, fmt.Errorf("preparing the chain: %w", err)
		}
	}
	say("monerod: network difficulty %d from now on", o.difficulty)
	if err := c.monerod.Restart(o.difficulty); err != nil {
		return c, fmt.Errorf("monerod restart: %w", err)
	}
	return c, nil
}

func (c *moneroChain) coin() *cryptonote.Coin { return cryptonote.Monero }
func (c *moneroChain) poolAddress() string    { return c.poolWallet.Address }
func (c *moneroChain) minerAddress() string   { return c.minerWallet.Address }
func (c *moneroChain) minerMode() string      { return "light" }

func (c *moneroChain) describe() string {
	return fmt.Sprintf("monerod --regtest 127.0.0.1:%d (difficulty %d), monero-wallet-rpc pool 127.0.0.1:%d, miner 127.0.0.1:%d",
		c.monerod.RPCPort, c.monerod.Difficulty, c.poolWallet.Port, c.minerWallet.Port)
}

func (c *moneroChain) configure(set func(section, key string, v any)) {
	set("daemon", "port", c.monerod.RPCPort)
	set("walletApi", "port", c.poolWallet.Port)
}

func (c *moneroChain) received(ctx context.Context) (uint64, error) {
	total, _, err := c.minerWallet.Balance(ctx) // refreshes first
	return total, err
}

// otherAddress is "the rest of the network" on regtest.
var otherAddress, _ = testenv.MakeAddress(cryptonote.Monero, 999)

func (c *moneroChain) advance(ctx context.Context) error {
	_, err := c.monerod.GenerateBlocks(ctx, 1, otherAddress, nil)
	return err
}

func (c *moneroChain) mempool(ctx context.Context) (int, error) {
	var info struct {
		TxPoolSize int `json:"tx_pool_size"`
	}
	err := c.monerod.Call(ctx, "get_info", nil, &info)
	return info.TxPoolSize, err
}

func (c *moneroChain) stop() {
	for _, w := range []*testenv.Wallet{c.minerWallet, c.poolWallet} {
		if w != nil {
			w.Stop()
		}
	}
	if c.monerod != nil {
		c.monerod.Stop()
	}
}
