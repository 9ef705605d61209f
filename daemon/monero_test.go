package daemon

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
)

// moneroAddress is a mainnet standard address (the first wallet in
// cryptonote/testdata/monero_addresses.json); regtest uses mainnet
// prefixes. Mining to it needs no wallet, whose start-up (about 15 s
// here) would be most of this package's test time.
const moneroAddress = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"

// regtestGenesis is the id of monerod's genesis block, which seeds
// RandomX until height 2112 (field notes).
const regtestGenesis = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"

// TestMoneroRegtest runs the Monero client against a real monerod
// --regtest at difficulty 1. One chain serves every subtest, in order;
// the last one kills the daemon.
func TestMoneroRegtest(t *testing.T) {
	const mined = 10
	start := time.Now()
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := md.GenerateBlocks(ctx, mined, moneroAddress, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("regtest ready in %v", time.Since(start).Round(time.Millisecond))
	c := NewMonero("xmr1", "http://"+md.Address(), 5*time.Second, testLogger(t))

	var info *Info
	var last *BlockHeader
	t.Run("info and headers", func(t *testing.T) {
		var err error
		if info, err = c.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if info.Height != mined+1 || info.Difficulty != 1 || !info.Synced {
			t.Fatalf("info %+v, want height %d (genesis + mined), difficulty 1, synced", info, mined+1)
		}
		if last, err = c.LastBlockHeader(ctx); err != nil {
			t.Fatal(err)
		}
		if last.Height != info.Height-1 || last.Hash != info.TopHash || last.Depth != 0 || last.Orphan ||
			last.MajorVersion != 16 || last.Reward == 0 || last.Difficulty != 1 || last.Timestamp == 0 {
			t.Fatalf("last header %+v vs info %+v", last, info)
		}
		byHeight, err := c.BlockHeaderByHeight(ctx, last.Height)
		if err != nil || *byHeight != *last {
			t.Fatalf("by height %+v (%v), want %+v", byHeight, err, last)
		}
		byHash, err := c.BlockHeaderByHash(ctx, last.Hash)
		if err != nil || *byHash != *last {
			t.Fatalf("by hash %+v (%v), want %+v", byHash, err, last)
		}
		parent, err := c.BlockHeaderByHash(ctx, last.PrevHash)
		if err != nil || parent.Height != last.Height-1 || parent.Depth != 1 {
			t.Fatalf("parent %+v (%v)", parent, err)
		}
		genesis, err := c.BlockHeaderByHeight(ctx, 0)
		if err != nil || hex.EncodeToString(genesis.Hash[:]) != regtestGenesis || genesis.Depth != mined {
			t.Fatalf("genesis %+v (%v)", genesis, err)
		}

		_, err = c.BlockHeaderByHeight(ctx, info.Height)
		wantCallError(t, err, "xmr1", "get_block_header_by_height")
		var re *RPCError
		if !errors.As(err, &re) || re.Code != -2 {
			t.Fatalf("height past the tip: %v, want RPC error -2", err)
		}
		_, err = c.BlockHeaderByHash(ctx, [32]byte{1, 2, 3})
		if !errors.As(err, &re) {
			t.Fatalf("unknown hash: %v, want an *RPCError", err)
		}
		t.Logf("unknown hash: %v", err)
	})
	if t.Failed() {
		return
	}

	var tmpl *Template
	t.Run("template", func(t *testing.T) {
		var err error
		tmpl, err = c.GetBlockTemplate(ctx, moneroAddress, 8)
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.Height != info.Height {
			t.Errorf("template height %d, want the chain height %d", tmpl.Height, info.Height)
		}
		if tmpl.Difficulty != 1 || tmpl.WideDifficulty.Uint64() != 1 || !tmpl.WideDifficulty.IsUint64() {
			t.Errorf("difficulty %d wide %v, want 1", tmpl.Difficulty, tmpl.WideDifficulty)
		}
		if tmpl.ReserveSize != 8 || tmpl.ReservedOffset <= 43 || tmpl.ReservedOffset+tmpl.ReserveSize > len(tmpl.Blob) {
			t.Errorf("reserved %d+%d in a %d-byte blob", tmpl.ReservedOffset, tmpl.ReserveSize, len(tmpl.Blob))
		}
		if hex.EncodeToString(tmpl.SeedHash[:]) != regtestGenesis || tmpl.HasNextSeed {
			t.Errorf("seed %x next %x (%v), want the genesis hash and no next seed", tmpl.SeedHash, tmpl.NextSeedHash, tmpl.HasNextSeed)
		}
		if tmpl.PrevHash != last.Hash {
			t.Errorf("prev hash %x, want the tip %x", tmpl.PrevHash, last.Hash)
		}
		if tmpl.ExpectedReward < 30e12 || tmpl.ExpectedReward > 40e12 {
			t.Errorf("expected reward %d, a young regtest chain pays about 35 XMR", tmpl.ExpectedReward)
		}

		_, err = c.GetBlockTemplate(ctx, "4notanaddress", 8)
		wantCallError(t, err, "xmr1", "get_block_template")
		var re *RPCError
		if !errors.As(err, &re) || switchable(err) {
			t.Fatalf("bad address: %v, want the daemon's RPC error", err)
		}
		t.Logf("bad address: %v", err)
	})
	if t.Failed() {
		return
	}

	t.Run("submit", func(t *testing.T) {
		err := c.SubmitBlock(ctx, []byte("not a block"))
		wantCallError(t, err, "xmr1", "submit_block")
		wantRPCError(t, err, -6, "Wrong block blob")

		// At difficulty 1 every nonce solves the block, so the template
		// as it came is a valid block.
		if err := c.SubmitBlock(ctx, tmpl.Blob); err != nil {
			t.Fatal(err)
		}
		b, err := cryptonote.ParseBlock(tmpl.Blob)
		if err != nil {
			t.Fatal(err)
		}
		top, err := c.LastBlockHeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if top.Height != tmpl.Height || top.Hash != b.ID() {
			t.Fatalf("tip after submit %d %x, want %d %x", top.Height, top.Hash, tmpl.Height, b.ID())
		}
	})

	t.Run("unknown method", func(t *testing.T) {
		_, err := c.(*moneroClient).rpc.call(ctx, "no_such_method", nil)
		var re *RPCError
		if !errors.Is(err, ErrMethodNotFound) || !errors.As(err, &re) {
			t.Fatalf("%v, want ErrMethodNotFound carrying the RPC error", err)
		}
	})

	t.Run("failover from a dead daemon", func(t *testing.T) {
		log, hook := captureLogs(t)
		dead := NewMonero("dead", closedAddr(t), time.Second, log)
		fo := NewFailover([]Client{dead, c}, time.Hour, log)
		got, err := fo.GetBlockTemplate(ctx, moneroAddress, 8)
		if err != nil {
			t.Fatal(err)
		}
		if got.Height != tmpl.Height+1 || fo.Active() != "xmr1" {
			t.Fatalf("template height %d from %q", got.Height, fo.Active())
		}
		wantLog(t, hook, "daemon: switching from dead to xmr1: daemon dead: get_block_template: transport:")
	})

	t.Run("timeout", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		hang := blackHole(t)
		slow := NewMonero("slow", hang, timeout, testLogger(t))
		begin := time.Now()
		_, err := slow.Info(ctx)
		took := time.Since(begin)
		if !IsTransport(err) || !errors.Is(err, context.DeadlineExceeded) || took > timeout+time.Second {
			t.Fatalf("silent daemon: %v after %v, want a transport timeout after %v", err, took, timeout)
		}
	})

	t.Run("stopped daemon", func(t *testing.T) {
		md.Kill()
		begin := time.Now()
		_, err := c.Info(ctx)
		took := time.Since(begin)
		wantCallError(t, err, "xmr1", "get_info")
		if !IsTransport(err) || took > time.Second {
			t.Fatalf("stopped daemon: %v after %v, want a quick transport error", err, took)
		}
		t.Logf("stopped daemon: %v (%v)", err, took.Round(time.Millisecond))
	})

	t.Run("restarted daemon is preferred again", func(t *testing.T) {
		log, hook := captureLogs(t)
		standby := newFakeClient("standby")
		fo := NewFailover([]Client{c, standby}, 50*time.Millisecond, log)
		if _, err := fo.Info(ctx); err != nil || fo.Active() != "standby" {
			t.Fatalf("err %v, active %q: the standby should serve while xmr1 is down", err, fo.Active())
		}
		runProber(t, fo)
		if err := md.Restart(1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "xmr1 to be preferred again", func() bool { return fo.Active() == "xmr1" })
		wantLog(t, hook, "daemon: switching from standby to xmr1: xmr1 is back")
		info, err := fo.Info(ctx)
		if err != nil || info.Height != mined+2 { // genesis, mined, and the block submitted above
			t.Fatalf("info after restart %+v (%v)", info, err)
		}
	})
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// blackHole accepts connections and reads requests but never answers, like
// a daemon stuck in a long lock.
func blackHole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					select {
					case <-done:
						return
					default:
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}
