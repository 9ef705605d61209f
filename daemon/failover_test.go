package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClient is a scripted Client for the failover logic.
type fakeClient struct {
	name string

	mu        sync.Mutex
	err       error // every call fails with it while set
	tmplErr   error // GetBlockTemplate only
	submitErr error // SubmitBlock only
	notSynced bool
	calls     map[string]int
	submitted [][]byte
}

func newFakeClient(name string) *fakeClient {
	return &fakeClient{name: name, calls: map[string]int{}}
}

func (c *fakeClient) Name() string { return c.name }

func (c *fakeClient) set(fn func(c *fakeClient)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

func (c *fakeClient) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// enter records a call and returns the error it should fail with.
func (c *fakeClient) enter(ctx context.Context, method string, extra error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
	if err := ctx.Err(); err != nil {
		return &Error{Daemon: c.name, Method: method, Err: err}
	}
	if c.err != nil {
		return c.err
	}
	return extra
}

func (c *fakeClient) GetBlockTemplate(ctx context.Context, _ string, reserveSize int) (*Template, error) {
	c.mu.Lock()
	extra := c.tmplErr
	c.mu.Unlock()
	if err := c.enter(ctx, "template", extra); err != nil {
		return nil, err
	}
	return &Template{Blob: []byte(c.name), ReserveSize: reserveSize}, nil
}

func (c *fakeClient) SubmitBlock(ctx context.Context, blob []byte) error {
	c.mu.Lock()
	extra := c.submitErr
	c.submitted = append(c.submitted, blob)
	c.mu.Unlock()
	return c.enter(ctx, "submit", extra)
}

func (c *fakeClient) header(ctx context.Context, method string) (*BlockHeader, error) {
	if err := c.enter(ctx, method, nil); err != nil {
		return nil, err
	}
	return &BlockHeader{Hash: [32]byte{c.name[0]}}, nil
}

func (c *fakeClient) LastBlockHeader(ctx context.Context) (*BlockHeader, error) {
	return c.header(ctx, "last")
}

func (c *fakeClient) BlockHeaderByHeight(ctx context.Context, _ uint64) (*BlockHeader, error) {
	return c.header(ctx, "height")
}

func (c *fakeClient) BlockHeaderByHash(ctx context.Context, _ [32]byte) (*BlockHeader, error) {
	return c.header(ctx, "hash")
}

func (c *fakeClient) Info(ctx context.Context) (*Info, error) {
	if err := c.enter(ctx, "info", nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &Info{Height: 10, Synced: !c.notSynced}, nil
}

func downErr(name string) error {
	return &Error{Daemon: name, Method: "x", Err: &TransportError{Err: errors.New("connection refused")}}
}

func notReadyErr(name string) error {
	return &Error{Daemon: name, Method: "x", Err: fmt.Errorf("%w: Daemon must be synced", ErrNotReady)}
}

func rejectErr(name string) error {
	return &Error{Daemon: name, Method: "submit", Err: &RPCError{Code: -7, Message: "Block not accepted"}}
}

// from tells which fake served a template: from(t)(fo.GetBlockTemplate(…)).
func from(t *testing.T) func(*Template, error) string {
	return func(tmpl *Template, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return string(tmpl.Blob)
	}
}

// runProber starts fo's prober and stops it at cleanup, waiting for it so
// that it never logs after the test ended.
func runProber(t *testing.T, fo *Failover) {
	ctx, cancel := context.WithCancel(context.Background())
	fo.Run(ctx)
	t.Cleanup(func() { cancel(); <-fo.done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailoverSwitchesAndReturns(t *testing.T) {
	a, b := newFakeClient("A"), newFakeClient("B")
	log, hook := captureLogs(t)
	fo := NewFailover([]Client{a, b}, 20*time.Millisecond, log)
	ctx := context.Background()

	if got := from(t)(fo.GetBlockTemplate(ctx, "addr", 8)); got != "A" || fo.Active() != "A" {
		t.Fatalf("served by %s, active %s: the first daemon is preferred", got, fo.Active())
	}
	a.set(func(c *fakeClient) { c.err = downErr("A") })
	if got := from(t)(fo.GetBlockTemplate(ctx, "addr", 8)); got != "B" || fo.Active() != "B" {
		t.Fatalf("served by %s, active %s, want B", got, fo.Active())
	}
	wantLog(t, hook, "daemon: switching from A to B: daemon A: x: transport: connection refused")
	// A is skipped from now on, not retried on every call.
	for range 3 {
		from(t)(fo.GetBlockTemplate(ctx, "addr", 8))
	}
	if n := a.count("template"); n != 2 {
		t.Fatalf("A tried %d times, want 2 (once healthy, once failing)", n)
	}

	runProber(t, fo)
	time.Sleep(100 * time.Millisecond) // several probes while A is still down
	if fo.Active() != "B" {
		t.Fatalf("active %s while A is down", fo.Active())
	}
	a.set(func(c *fakeClient) { c.err = nil })
	waitFor(t, "A to be preferred again", func() bool { return fo.Active() == "A" })
	wantLog(t, hook, "daemon: switching from B to A: A is back")
	if got := from(t)(fo.GetBlockTemplate(ctx, "addr", 8)); got != "A" {
		t.Fatalf("served by %s after A came back", got)
	}
}

func TestFailoverProbeNeedsTemplates(t *testing.T) {
	// Pastellad's /info can say synced while getblocktemplate refuses: a
	// daemon is back only when it serves templates again.
	a, b := newFakeClient("A"), newFakeClient("B")
	log, hook := captureLogs(t)
	fo := NewFailover([]Client{a, b}, 10*time.Millisecond, log)
	a.set(func(c *fakeClient) { c.tmplErr = notReadyErr("A") })
	if got := from(t)(fo.GetBlockTemplate(context.Background(), "addr", 8)); got != "B" {
		t.Fatalf("served by %s", got)
	}
	wantLog(t, hook, "daemon: switching from A to B: daemon A: x: daemon not ready: Daemon must be synced")
	runProber(t, fo)
	waitFor(t, "probes", func() bool { return a.count("template") >= 4 })
	if fo.Active() != "B" {
		t.Fatal("A restored while its templates still fail")
	}
	a.set(func(c *fakeClient) { c.notSynced = true; c.tmplErr = nil })
	n := a.count("info")
	waitFor(t, "probes", func() bool { return a.count("info") >= n+3 })
	if fo.Active() != "B" {
		t.Fatal("A restored while it says it is not synced")
	}
	a.set(func(c *fakeClient) { c.notSynced = false })
	waitFor(t, "A back", func() bool { return fo.Active() == "A" })
}

func TestFailoverRefusalDoesNotSwitch(t *testing.T) {
	a, b := newFakeClient("A"), newFakeClient("B")
	fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
	refusal := &Error{Daemon: "A", Method: "template", Err: &RPCError{Code: -4, Message: "bad address"}}
	a.set(func(c *fakeClient) { c.tmplErr = refusal })
	_, err := fo.GetBlockTemplate(context.Background(), "addr", 8)
	if err != refusal {
		t.Fatalf("got %v, want A's refusal as it is", err)
	}
	if b.count("template") != 0 || fo.Active() != "A" {
		t.Fatal("a refusal the next daemon would repeat moved the failover on")
	}
}

func TestFailoverCallerCancelIsNotTheDaemonsFault(t *testing.T) {
	a, b := newFakeClient("A"), newFakeClient("B")
	fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fo.LastBlockHeader(ctx)
	if !errors.Is(err, context.Canceled) || fo.Active() != "A" || b.count("last") != 0 {
		t.Fatalf("err %v, active %s, B calls %d", err, fo.Active(), b.count("last"))
	}
}

func TestFailoverAllDown(t *testing.T) {
	a, b := newFakeClient("A"), newFakeClient("B")
	log, hook := captureLogs(t)
	fo := NewFailover([]Client{a, b}, time.Hour, log)
	ctx := context.Background()
	a.set(func(c *fakeClient) { c.err = downErr("A") })
	b.set(func(c *fakeClient) { c.err = notReadyErr("B") })
	_, err := fo.Info(ctx)
	if !IsTransport(err) || !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "daemon A") || !strings.Contains(err.Error(), "daemon B") {
		t.Fatalf("all down: %v, want both daemons' errors", err)
	}
	if fo.Active() != "" {
		t.Fatalf("active %q with every daemon down", fo.Active())
	}
	wantLog(t, hook, "daemon: B failed and no daemon is healthy")

	// With none healthy every call still tries them all, in order.
	b.set(func(c *fakeClient) { c.err = nil })
	if _, err := fo.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if a.count("info") != 2 || fo.Active() != "B" {
		t.Fatalf("A tried %d times, active %q", a.count("info"), fo.Active())
	}
	wantLog(t, hook, "daemon: B is back, using it")
}

func TestFailoverSubmitReachesEveryDaemon(t *testing.T) {
	blob := []byte("block")
	t.Run("both accept", func(t *testing.T) {
		a, b := newFakeClient("A"), newFakeClient("B")
		fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
		if err := fo.SubmitBlock(context.Background(), blob); err != nil {
			t.Fatal(err)
		}
		if a.count("submit") != 1 || b.count("submit") != 1 || string(b.submitted[0]) != "block" {
			t.Fatalf("submits A %d B %d", a.count("submit"), b.count("submit"))
		}
	})
	t.Run("one accepts", func(t *testing.T) {
		a, b := newFakeClient("A"), newFakeClient("B")
		fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
		a.set(func(c *fakeClient) { c.submitErr = rejectErr("A") })
		if err := fo.SubmitBlock(context.Background(), blob); err != nil {
			t.Fatalf("accepted by B, yet %v", err)
		}
		if fo.Active() != "A" {
			t.Fatal("a rejected block is no reason to switch")
		}
	})
	t.Run("all reject", func(t *testing.T) {
		a, b := newFakeClient("A"), newFakeClient("B")
		fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
		a.set(func(c *fakeClient) { c.submitErr = rejectErr("A") })
		b.set(func(c *fakeClient) { c.submitErr = rejectErr("B") })
		err := fo.SubmitBlock(context.Background(), blob)
		wantRPCError(t, err, -7, "Block not accepted")
		if !strings.Contains(err.Error(), "daemon A") || !strings.Contains(err.Error(), "daemon B") {
			t.Fatalf("want both daemons' messages: %v", err)
		}
	})
	t.Run("unreachable one is marked down", func(t *testing.T) {
		a, b := newFakeClient("A"), newFakeClient("B")
		log, hook := captureLogs(t)
		fo := NewFailover([]Client{a, b}, time.Hour, log)
		a.set(func(c *fakeClient) { c.err = downErr("A") })
		if err := fo.SubmitBlock(context.Background(), blob); err != nil {
			t.Fatal(err)
		}
		if fo.Active() != "B" {
			t.Fatalf("active %s", fo.Active())
		}
		wantLog(t, hook, "daemon: switching from A to B")
		wantLog(t, hook, "block accepted elsewhere, but: daemon A")
	})
	t.Run("unhealthy ones are the last resort", func(t *testing.T) {
		a, b := newFakeClient("A"), newFakeClient("B")
		fo := NewFailover([]Client{a, b}, time.Hour, testLogger(t))
		a.set(func(c *fakeClient) { c.err = downErr("A") })
		from(t)(fo.GetBlockTemplate(context.Background(), "addr", 8)) // marks A down
		a.set(func(c *fakeClient) { c.err = nil })
		b.set(func(c *fakeClient) { c.err = downErr("B") })
		if err := fo.SubmitBlock(context.Background(), blob); err != nil {
			t.Fatalf("A (marked down, but working) should have taken the block: %v", err)
		}
		if a.count("submit") != 1 || fo.Active() != "A" {
			t.Fatalf("A submits %d, active %q", a.count("submit"), fo.Active())
		}
	})
}

func TestFailoverConcurrentUse(t *testing.T) {
	a, b := newFakeClient("A"), newFakeClient("B")
	fo := NewFailover([]Client{a, b}, time.Millisecond, testLogger(t))
	runProber(t, fo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					down := i%40 == 0
					a.set(func(c *fakeClient) {
						c.err = nil
						if down {
							c.err = downErr("A")
						}
					})
				}
				// B never fails, so every call must succeed.
				var err error
				switch i % 3 {
				case 0:
					_, err = fo.GetBlockTemplate(context.Background(), "addr", 8)
				case 1:
					err = fo.SubmitBlock(context.Background(), []byte{1})
				default:
					_, err = fo.BlockHeaderByHeight(context.Background(), 1)
					_ = fo.Active()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFailoverEmpty(t *testing.T) {
	fo := NewFailover(nil, time.Hour, testLogger(t))
	if _, err := fo.Info(context.Background()); !errors.Is(err, ErrNoDaemon) {
		t.Fatal(err)
	}
	if err := fo.SubmitBlock(context.Background(), []byte{1}); !errors.Is(err, ErrNoDaemon) {
		t.Fatal(err)
	}
	if fo.Active() != "" {
		t.Fatal(fo.Active())
	}
}

// TestHasTransactionNeedsADaemonThatCanTell: Pastellad cannot be asked
// for a transaction, and "cannot tell" must never read as "has not" (a
// payout is dropped on that).
func TestHasTransactionNeedsADaemonThatCanTell(t *testing.T) {
	f := NewFailover([]Client{NewPastella("pas", "http://127.0.0.1:1", time.Second, nil)}, time.Second, nil)
	if has, err := f.HasTransaction(t.Context(), strings.Repeat("ab", 32)); has || !errors.Is(err, ErrNoTxLookup) {
		t.Fatalf("HasTransaction without a daemon that can tell: %v %v, want ErrNoTxLookup", has, err)
	}
	down := NewFailover([]Client{NewMonero("xmr", "http://127.0.0.1:1", time.Second, nil)}, time.Second, nil)
	if has, err := down.HasTransaction(t.Context(), strings.Repeat("ab", 32)); has || err == nil {
		t.Fatalf("HasTransaction with monerod down: %v %v, want an error", has, err)
	}
}
