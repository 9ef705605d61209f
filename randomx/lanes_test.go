package randomx

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// waitPending receives every result and fails the test on an error.
func waitPending(t *testing.T, pending []<-chan asyncResult) {
	t.Helper()
	for _, ch := range pending {
		if r := <-ch; r.err != nil {
			t.Error(r.err)
		}
	}
}

// With the only worker busy, requests queued stranger first and block last
// are hashed block, earned, stranger: honest work never waits behind a
// stranger's, whatever the order they came in.
func TestVerifierLaneOrder(t *testing.T) {
	bl := newBlocker()
	v := newTestVerifier(t, VerifierConfig{Workers: 1, Mode: ModeLight})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pending := []<-chan asyncResult{bl.hashAsync(v, ctx, seedA, blob(0), LaneStranger)}
	<-bl.entered // the only worker is now busy
	// Queued one at a time so the order within a lane is known.
	queue := func(id int, lane Lane, depth func(Stats) int, want int) {
		pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(id), lane))
		waitFor(t, 5*time.Second, fmt.Sprintf("%v queued", lane), func() bool { return depth(v.Stats()) == want })
	}
	stranger := func(st Stats) int { return st.StrangerQueueDepth }
	earned := func(st Stats) int { return st.QueueDepth }
	block := func(st Stats) int { return st.PriorityQueueDepth }
	queue(1, LaneStranger, stranger, 1)
	queue(2, LaneStranger, stranger, 2)
	queue(3, LaneEarned, earned, 1)
	queue(4, LaneEarned, earned, 2)
	queue(5, LaneBlock, block, 1)
	close(bl.release)
	waitPending(t, pending)
	want := "[0/stranger 5/block 3/earned 4/earned 1/stranger 2/stranger]"
	if got := fmt.Sprint(bl.order); got != want {
		t.Errorf("hash order %s, want %s", got, want)
	}
}

// A full stranger lane refuses at once while the earned and block lanes
// still take work.
func TestVerifierStrangerQueueFull(t *testing.T) {
	bl := newBlocker()
	v := newTestVerifier(t, VerifierConfig{Workers: 1, StrangerQueueSize: 1, Mode: ModeLight})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pending := []<-chan asyncResult{bl.hashAsync(v, ctx, seedA, blob(0), LaneEarned)}
	<-bl.entered
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(1), LaneStranger))
	waitFor(t, 5*time.Second, "stranger queued", func() bool { return v.Stats().StrangerQueueDepth == 1 })
	if _, err := v.Hash(ctx, seedA, blob(2), LaneStranger); !errors.Is(err, ErrQueueFull) {
		t.Errorf("stranger beyond its lane: %v", err)
	}
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(3), LaneEarned))
	waitFor(t, 5*time.Second, "earned queued", func() bool { return v.Stats().QueueDepth == 1 })
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(4), LaneBlock))
	waitFor(t, 5*time.Second, "block queued", func() bool { return v.Stats().PriorityQueueDepth == 1 })
	if st := v.Stats(); st.Rejected != 1 || st.StrangerCapacity != 1 || st.InFlight != 1 {
		t.Errorf("stats %+v", st)
	}
	close(bl.release)
	waitPending(t, pending)
	want := "[0/earned 4/block 3/earned 1/stranger]"
	if got := fmt.Sprint(bl.order); got != want {
		t.Errorf("hash order %s, want %s", got, want)
	}
}

func TestVerifierLaneDefaultsAndBadLane(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{Workers: 3, Mode: ModeLight})
	if st := v.Stats(); st.StrangerCapacity != 6 || st.PriorityCapacity != 16 || st.QueueCapacity != 192 {
		t.Errorf("default capacities: %+v", st)
	}
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Hash(context.Background(), seedA, blob(1), numLanes); err == nil || errors.Is(err, ErrQueueFull) {
		t.Errorf("unknown lane: %v", err)
	}
	if got := fmt.Sprint(LaneBlock, LaneEarned, LaneStranger, numLanes); got != "block earned stranger lane(3)" {
		t.Errorf("lane names %q", got)
	}
}
