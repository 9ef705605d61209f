package stratum

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
)

// blockSubmitter sends the blocks miners find to the daemon(s) and records
// them, in the background: the share that found one is answered at once.
type blockSubmitter struct {
	daemon  Daemon
	sink    Sink
	log     logrus.FieldLogger
	refresh func() // asks for a new template (the tip moved)

	// solved holds the parent hash the pool last found a block on. Other
	// shares on templates with that parent are still credited, but they are
	// not submitted: they could only become side-chain siblings of our own
	// block (seen on regtest: seven "blocks" at one height).
	solvedMu sync.Mutex
	solved   [32]byte

	wg sync.WaitGroup // submissions in flight
}

// start submits the block j's share with nonce found, unless another share
// already claimed its parent. The submission outlives the request and the
// server's shutdown (a found block is never dropped), by a minute at most;
// base gives it its values (the RPC observer).
func (b *blockSubmitter) start(base context.Context, j *Job, nonce [4]byte, miner *Miner) {
	if !b.claim(j.template.prevHash) {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(base), time.Minute)
		defer cancel()
		b.submit(ctx, j, nonce, miner, j.diff)
	}()
}

// wait returns once every submission in flight is done.
func (b *blockSubmitter) wait() { b.wg.Wait() }

// claim reports whether a block on parent may be submitted: only the
// first since the last failed submission.
func (b *blockSubmitter) claim(parent [32]byte) bool {
	b.solvedMu.Lock()
	defer b.solvedMu.Unlock()
	if b.solved == parent {
		return false
	}
	b.solved = parent
	return true
}

// unclaim lets another share try after a failed submission.
func (b *blockSubmitter) unclaim(parent [32]byte) {
	b.solvedMu.Lock()
	if b.solved == parent {
		b.solved = [32]byte{}
	}
	b.solvedMu.Unlock()
}

// submit sends a found block to the daemon(s) at once, records the
// candidate whatever the outcome, and triggers a template refresh so miners
// move to the next height. Afterwards it checks that the block made it onto
// the main chain: monerod answers OK for blocks that end up on a side chain.
func (b *blockSubmitter) submit(ctx context.Context, j *Job, nonce [4]byte, miner *Miner, shareDiff uint64) {
	t := j.template
	blob, err := t.block.Block(j.extraNonce[:], nonce)
	hb := append([]byte(nil), j.blob...)
	copy(hb[t.block.NonceOffset():], nonce[:])
	id := cryptonote.BlockID(hb)
	if err == nil {
		err = b.daemon.SubmitBlock(ctx, blob)
	}
	b.refresh()
	nd, _ := t.netDiff.Uint64()
	blk := &Block{
		Height: t.height, Hash: id, PrevHash: t.prevHash,
		Address: miner.Address.Text, Worker: miner.Worker, Scheme: miner.Scheme,
		NetDifficulty: nd, ShareDiff: shareDiff, Reward: t.reward, Time: time.Now(),
	}
	log := b.log.WithFields(logrus.Fields{"height": t.height, "hash": hex.EncodeToString(id[:]), "miner": miner.Address.Text, "worker": miner.Worker})
	if err != nil {
		b.unclaim(t.prevHash)
		blk.SubmitError = err.Error()
		log.Errorf("block submission failed: %v (blob %x)", err, blob)
	} else {
		log.Infof("BLOCK FOUND and submitted")
	}
	if serr := b.sink.Block(ctx, blk); serr != nil {
		log.Errorf("recording block candidate: %v", serr)
	}
	if err == nil {
		b.checkMainChain(ctx, t.height, id, log)
	}
}

// checkMainChain looks the block up by height after a short delay and logs
// whether ours is the main-chain block there. The unlocker makes the final
// decision; this tells the operator early.
func (b *blockSubmitter) checkMainChain(ctx context.Context, height uint64, id [32]byte, log logrus.FieldLogger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(2 * time.Second):
	}
	hdr, err := b.daemon.BlockHeaderByHeight(ctx, height)
	switch {
	case err != nil:
		log.Warnf("could not check the main chain for our block: %v", err)
	case hdr.Hash != id:
		log.Warnf("our block is NOT on the main chain at height %d (main chain has %x): it went to a side chain", height, hdr.Hash)
	default:
		log.Infof("our block is on the main chain")
	}
}
