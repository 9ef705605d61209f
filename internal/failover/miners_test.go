package failover

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// The miners: logged-in stratum sessions (the client rxload and rxminer
// use) submitting valid shares at a steady total rate, each submit's answer
// recorded with its time. rxload's submit mode reports only totals, and
// the test needs each answer's time relative to the kill, so the same
// client and the same hashing are driven here.

// miner is one logged-in session with its own address and fixed difficulty.
type miner struct {
	addr  string
	diff  uint64 // the pool's share difficulty for it (its fixed difficulty)
	conn  *client.Conn
	nonce atomic.Uint64
}

// share is a valid share found for a miner's job.
type share struct {
	m     *miner
	jobID string
	nonce [4]byte
	hash  [32]byte
}

// answer is what became of one submitted share.
type answer struct {
	m         *miner
	sent, got time.Time
	err       error // nil: accepted; *proto.Error: answered with an error; else no answer
}

// fleet is the test's miners and every answer they got.
type fleet struct {
	miners []*miner
	seed   [32]byte

	mu      sync.Mutex
	answers []answer
	starved int   // shares that left late because the hashers lagged
	hashErr error // why a hasher stopped
}

// login connects one session per address, logging in as ADDRESS.DIFF
// with the difficulty at the same index of diffs, and checks the pool gave
// each the difficulty it asked for and one RandomX seed.
func login(t *testing.T, ctx context.Context, addr string, addrs []string, diffs []uint64) *fleet {
	t.Helper()
	f := &fleet{}
	opts := client.Options{RequestTimeout: 30 * time.Second, TolerateBadJobs: true}
	for i, d := range diffs {
		m := &miner{addr: addrs[i], diff: d}
		conn, err := client.Dial(ctx, addr, opts)
		if err != nil {
			t.Fatalf("miner %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		params := client.LoginParams{Login: m.addr + "." + strconv.FormatUint(d, 10), Pass: "rig" + strconv.Itoa(i),
			Agent: "rxpool-failover-test", Algo: []string{proto.Algo}}
		if _, err := conn.Login(ctx, params); err != nil {
			t.Fatalf("miner %d login: %v", i, err)
		}
		m.conn = conn
		w, err := client.DecodeJob(conn.Job())
		if err != nil {
			t.Fatalf("miner %d: %v", i, err)
		}
		if got := poolDiff(w.Target64); got != d {
			t.Fatalf("miner %d asked for difficulty %d, its job's target %s stands for %d", i, d, w.Job.Target, got)
		}
		if i == 0 {
			f.seed = w.Seed
		} else if w.Seed != f.seed {
			t.Fatalf("miner %d got seed %x, miner 0 %x", i, w.Seed, f.seed)
		}
		f.miners = append(f.miners, m)
	}
	return f
}

// poolDiff is the share difficulty a job's 32-bit target stands for (the
// pool sends floor(0xFFFFFFFF/diff), which decodes to
// 0xFFFFFFFFFFFFFFFF/(0xFFFFFFFF/t32)).
func poolDiff(target64 uint64) uint64 {
	t32 := ^uint64(0) / target64
	return 0xFFFFFFFF / (0xFFFFFFFF / t32)
}

// hash finds shares for the miners in turn on threads threads (light-mode
// RandomX, as a miner hashes: the job's blob with the nonce at offset 39)
// and sends them to out until ctx ends. out's buffer is the lead the
// hashers keep over the submitter; they wait while it is full, so the CPU
// they take is what the share rate needs. A hasher that fails records why
// (failed).
func (f *fleet) hash(ctx context.Context, threads int, out chan<- share) error {
	cache, err := randomx.NewCache(randomx.GetFlags(), f.seed[:])
	if err != nil {
		return err
	}
	var next atomic.Uint64
	var wg sync.WaitGroup
	fail := func(err error) {
		f.mu.Lock()
		if f.hashErr == nil {
			f.hashErr = err
		}
		f.mu.Unlock()
	}
	for range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			vm, err := randomx.NewVM(randomx.GetFlags(), cache, nil)
			if err != nil {
				fail(err)
				return
			}
			defer vm.Close()
			for ctx.Err() == nil {
				m := f.miners[next.Add(1)%uint64(len(f.miners))]
				sh, err := m.find(ctx, vm)
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				select {
				case out <- sh:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		cache.Close()
	}()
	return nil
}

// find hashes m's current job until a share meets its difficulty.
func (m *miner) find(ctx context.Context, vm *randomx.VM) (share, error) {
	w, err := client.DecodeJob(m.conn.Job())
	if err != nil {
		return share{}, err
	}
	buf := append([]byte(nil), w.Blob...)
	for ctx.Err() == nil {
		i := m.nonce.Add(1) - 1
		n := uint32(i)
		if w.NiceHash { // the pool's byte 42 stays
			n = n&0x00FFFFFF | uint32(w.Blob[client.NonceOffset+3])<<24
		}
		binary.LittleEndian.PutUint32(buf[client.NonceOffset:], n)
		h := vm.Hash(buf)
		if client.MeetsTarget(&h, w.Target64) && cryptonote.CheckHash(&h, m.diff) {
			sh := share{m: m, jobID: w.Job.JobID, hash: h}
			copy(sh.nonce[:], buf[client.NonceOffset:])
			return sh, nil
		}
	}
	return share{}, ctx.Err()
}

// submit sends the shares from in at rate per second in total, open loop
// (share i leaves at start + i/rate whatever the answers do, so a stalled
// pool shows as latency, not as fewer shares), until stop closes; it
// returns once every share sent has its answer or its timeout.
func (f *fleet) submit(ctx context.Context, rate float64, in <-chan share, stop <-chan struct{}) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		select {
		case <-stop:
			wg.Wait()
			return
		case <-time.After(time.Until(due)):
		}
		var sh share
		select {
		case <-stop:
			wg.Wait()
			return
		case sh = <-in:
		}
		if time.Since(due) > time.Second/time.Duration(rate) {
			f.mu.Lock()
			f.starved++
			f.mu.Unlock()
		}
		wg.Go(func() {
			sent := time.Now()
			err := sh.m.conn.Submit(ctx, sh.jobID, sh.nonce, sh.hash)
			f.mu.Lock()
			f.answers = append(f.answers, answer{m: sh.m, sent: sent, got: time.Now(), err: err})
			f.mu.Unlock()
		})
	}
}

// snapshot is a copy of the answers so far and the hashers' failure.
func (f *fleet) snapshot() ([]answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]answer(nil), f.answers...), f.hashErr
}

// outcome is the miners' view of a run, relative to the kill.
type outcome struct {
	ok, errored, unanswered int
	okPerMiner              map[*miner]uint64 // shares answered OK
	hashesPerMiner          map[*miner]uint64 // Σ difficulty of those
	okHashes                uint64
	messages                map[string]int // error answers by message
	transport               map[string]int // submits with no answer, by error
	firstErr, lastErr       time.Time      // answers with an error
	lastOKBefore            time.Time      // the last OK answer before the first error
	firstOKAfter            time.Time      // the first OK answer to a share sent after the last error
	okAfterKill             int            // OK answers to shares sent after the kill
	slowest                 answer         // the answer that took longest
}

func tally(answers []answer, killed time.Time) *outcome {
	o := &outcome{okPerMiner: map[*miner]uint64{}, hashesPerMiner: map[*miner]uint64{}, messages: map[string]int{}, transport: map[string]int{}}
	for _, a := range answers {
		if a.got.Sub(a.sent) > o.slowest.got.Sub(o.slowest.sent) {
			o.slowest = a
		}
		var pe *proto.Error
		switch {
		case a.err == nil:
			o.ok++
			o.okPerMiner[a.m]++
			o.hashesPerMiner[a.m] += a.m.diff
			o.okHashes += a.m.diff
			if a.sent.After(killed) {
				o.okAfterKill++
			}
		case errors.As(a.err, &pe):
			o.errored++
			o.messages[pe.Message]++
			if !storageDown(a.err) {
				continue // busy: the verifier, not the failover
			}
			if o.firstErr.IsZero() || a.got.Before(o.firstErr) {
				o.firstErr = a.got
			}
			if a.got.After(o.lastErr) {
				o.lastErr = a.got
			}
		default:
			o.unanswered++
			o.transport[a.err.Error()]++
		}
	}
	for _, a := range answers {
		if a.err != nil {
			continue
		}
		if !o.firstErr.IsZero() && a.got.Before(o.firstErr) && a.got.After(o.lastOKBefore) {
			o.lastOKBefore = a.got
		}
		if !o.lastErr.IsZero() && a.sent.After(o.lastErr) && (o.firstOKAfter.IsZero() || a.got.Before(o.firstOKAfter)) {
			o.firstOKAfter = a.got
		}
	}
	return o
}

// recovered counts the OK answers to shares sent after both the last error
// answer and since (the promotion).
func recovered(answers []answer, since time.Time) int {
	var lastErr time.Time
	for _, a := range answers {
		if storageDown(a.err) && a.got.After(lastErr) {
			lastErr = a.got
		}
	}
	n := 0
	for _, a := range answers {
		if a.err == nil && a.sent.After(lastErr) && a.sent.After(since) {
			n++
		}
	}
	return n
}

// storageDown says whether err is the pool's "storage unavailable" answer.
func storageDown(err error) bool {
	var pe *proto.Error
	return errors.As(err, &pe) && pe.Message == proto.ErrMsgStorageDown
}

// rel is t relative to the kill, "-" when t is zero.
func rel(t, killed time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%+.2fs", t.Sub(killed).Seconds())
}

func short(addr string) string {
	if len(addr) > 8 {
		return addr[:8] + "…"
	}
	return addr
}
