package stratum

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// simulate drives one varDiff with a miner of fixed hashrate: shares arrive
// as a Poisson process with rate hashrate/difficulty, and the server's idle
// retarget tick runs every RetargetTime, all on a fake clock.
func simulate(p *VarDiff, hashrate float64, start uint64, dur time.Duration, seed int64, visit func(now time.Time, diff uint64, changed bool)) {
	rng := rand.New(rand.NewSource(seed))
	now := time.Unix(1_700_000_000, 0)
	end := now.Add(dur)
	vd := newVarDiff(p, now)
	diff := start
	nextShare := func() time.Time {
		return now.Add(time.Duration(rng.ExpFloat64() * float64(diff) / hashrate * float64(time.Second)))
	}
	share := nextShare()
	tick := now.Add(p.RetargetTime)
	for now.Before(end) {
		isShare := share.Before(tick)
		if isShare {
			now = share
			vd.share(now, diff)
		} else {
			now = tick
			tick = tick.Add(p.RetargetTime)
		}
		next, changed := vd.retarget(now, diff)
		diff = next
		visit(now, diff, changed)
		if isShare || changed {
			// A new difficulty takes effect with the next job; the memoryless
			// share process lets us redraw the next arrival.
			share = nextShare()
		}
	}
}

func TestVarDiffConverges(t *testing.T) {
	p := &VarDiff{Enabled: true, Min: 100, Max: 100_000_000, TargetTime: 30 * time.Second,
		RetargetTime: 15 * time.Second, Variance: 0.3, MaxJump: 0.5}
	cases := []struct {
		name     string
		hashrate float64
		start    uint64
	}{
		{"fast miner on a low port", 5000, 1000},
		{"slow miner on a high port", 50, 500_000},
		{"rig on the right port", 800, 25_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ideal := tc.hashrate * p.TargetTime.Seconds()
			inBand := func(d uint64) bool { return math.Abs(float64(d)/ideal-1) <= p.Variance }
			for seed := int64(1); seed <= 20; seed++ {
				retargets, settledAt := 0, -1
				var inside, total time.Duration
				var last time.Time
				var lastDiff uint64 = tc.start
				simulate(p, tc.hashrate, tc.start, 6*time.Hour, seed, func(now time.Time, diff uint64, changed bool) {
					if changed {
						retargets++
					}
					if settledAt < 0 && inBand(diff) {
						settledAt = retargets
						last = now
					}
					if settledAt >= 0 {
						dt := now.Sub(last)
						total += dt
						if inBand(lastDiff) {
							inside += dt
						}
						last = now
					}
					lastDiff = diff
				})
				if settledAt < 0 || settledAt > 15 {
					t.Fatalf("seed %d: did not reach ±%.0f%% of the ideal %.0f within 15 retargets (settled after %d)", seed, p.Variance*100, ideal, settledAt)
				}
				// Shares are a Poisson process: a 64-share estimate is off by
				// ~12 %, so a strict "always in band" cannot hold; two thirds
				// of the time (typically 85-95 %) can.
				if frac := float64(inside) / float64(total); frac < 0.65 {
					t.Fatalf("seed %d: difficulty within the band only %.0f%% of the time after settling", seed, frac*100)
				}
			}
		})
	}
}

func TestVarDiffRespectsBoundsAndJumps(t *testing.T) {
	p := &VarDiff{Enabled: true, Min: 1000, Max: 4000, TargetTime: 30 * time.Second,
		RetargetTime: 15 * time.Second, Variance: 0.3, MaxJump: 0.5}
	now := time.Unix(1_700_000_000, 0)
	vd := newVarDiff(p, now)
	// 40 shares in 20 s at difficulty 1000: the estimate wants 60000.
	for i := 0; i < 40; i++ {
		now = now.Add(500 * time.Millisecond)
		vd.share(now, 1000)
	}
	d, changed := vd.retarget(now, 1000)
	if !changed || d != 1500 {
		t.Fatalf("first retarget = %d (changed %v), want 1500: a jump is capped at +50%%", d, changed)
	}
	if d2, _ := vd.retarget(now.Add(time.Second), d); d2 != d {
		t.Fatalf("retargeted again after 1 s (%d); RetargetTime is 15 s", d2)
	}
	for i := 0; i < 5; i++ {
		now = now.Add(15 * time.Second)
		d, _ = vd.retarget(now, d)
	}
	if d != 4000 {
		t.Fatalf("difficulty %d, want the maximum 4000", d)
	}
	// Silence: the difficulty comes down, but not below the minimum.
	quiet := newVarDiff(p, now)
	for i := 0; i < 20; i++ {
		now = now.Add(15 * time.Second)
		d, _ = quiet.retarget(now, d)
	}
	if d != 1000 {
		t.Fatalf("after silence difficulty %d, want the minimum 1000", d)
	}
	off := newVarDiff(&VarDiff{}, now)
	if d, changed := off.retarget(now.Add(time.Hour), 1234); changed || d != 1234 {
		t.Fatalf("disabled vardiff changed the difficulty to %d", d)
	}
}
