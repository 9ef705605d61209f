package stratum

import (
	"math"
	"time"
)

// VarDiff configures per-miner difficulty retargeting.
type VarDiff struct {
	Enabled      bool
	Min, Max     uint64
	TargetTime   time.Duration // wanted time between shares
	RetargetTime time.Duration // least time between two retargets
	Variance     float64       // tolerated relative deviation, e.g. 0.3
	MaxJump      float64       // largest relative change per retarget, e.g. 0.5
}

// varDiffWindow is how many recent shares the hashrate estimate uses. At
// the usual 30 s target a retarget window (15 s) holds about half a share,
// far too few to judge by; the last 64 shares give a ~13 % standard error
// (1/sqrt(64)), well inside the usual ±30 % band.
const varDiffWindow = 64

// varDiff estimates one miner's hashrate and derives its share difficulty.
//
// The algorithm: keep the last varDiffWindow accepted shares as (time,
// difficulty). The hashrate estimate is the sum of their difficulties (the
// hashes they represent) divided by the time since the window started (the
// time of the share that fell out of it, or the session start). Working in
// hashes rather than share counts keeps the history valid across
// difficulty changes. At most every RetargetTime, the wanted difficulty is
// hashrate × TargetTime; when it lies outside ±Variance of the current one
// (or outside twice the estimate's own noise, 1/sqrt(shares), whichever is
// wider), the difficulty moves half-way towards it (geometric mean), by at
// most ±MaxJump per retarget, within [Min, Max]. With no share at all for longer than the target (a miner whose
// difficulty is far too high), the upper bound diff / elapsed stands in for
// the estimate, so the difficulty comes down instead of waiting forever.
type varDiff struct {
	p            *VarDiff
	w            *shareWindow // allocated with the first share: idle miners hold none
	n, head      int
	since        time.Time // start of the estimate window
	lastRetarget time.Time
}

// shareWindow holds the last varDiffWindow shares' times (unix nanos) and
// difficulties.
type shareWindow struct {
	times [varDiffWindow]int64
	diffs [varDiffWindow]uint64
}

func newVarDiff(p *VarDiff, now time.Time) *varDiff {
	return &varDiff{p: p, since: now, lastRetarget: now}
}

// share records an accepted share of difficulty diff.
func (v *varDiff) share(now time.Time, diff uint64) {
	if v.w == nil {
		v.w = &shareWindow{}
	}
	if v.n == varDiffWindow {
		// The oldest share leaves the window; the window now starts at it.
		v.since = time.Unix(0, v.w.times[v.head])
	} else {
		v.n++
	}
	v.w.times[v.head] = now.UnixNano()
	v.w.diffs[v.head] = diff
	v.head = (v.head + 1) % varDiffWindow
}

// retarget returns the difficulty the miner should get from its next job on,
// and whether it differs from cur.
func (v *varDiff) retarget(now time.Time, cur uint64) (uint64, bool) {
	if !v.p.Enabled || now.Sub(v.lastRetarget) < v.p.RetargetTime {
		return cur, false
	}
	elapsed := now.Sub(v.since).Seconds()
	target := v.p.TargetTime.Seconds()
	if elapsed <= 0 || target <= 0 {
		return cur, false
	}
	var hashes float64
	for i := 0; i < v.n; i++ {
		hashes += float64(v.w.diffs[i])
	}
	if v.n == 0 {
		if elapsed < target*(1+v.p.Variance) {
			return cur, false // too early to tell a slow miner from bad luck
		}
		hashes = float64(cur) // upper bound: not even one share yet
	}
	want := hashes / elapsed * target
	ratio := want / float64(cur)
	// An estimate from n shares is off by about 1/sqrt(n); moving on a
	// deviation smaller than twice that would chase noise.
	band := v.p.Variance
	if v.n > 0 {
		band = math.Max(band, 2/math.Sqrt(float64(v.n)))
	}
	if ratio >= 1-band && ratio <= 1+band {
		v.lastRetarget = now
		return cur, false
	}
	// A retarget fires exactly when the estimate is at an extreme, which is
	// partly noise; moving only half-way (geometrically) towards it keeps a
	// noisy extreme from parking the difficulty outside the band, and a real
	// change is still followed within a few retargets.
	ratio = math.Sqrt(ratio)
	ratio = math.Max(1-v.p.MaxJump, math.Min(1+v.p.MaxJump, ratio))
	next := clampDiff(uint64(math.Round(float64(cur)*ratio)), v.p.Min, v.p.Max)
	v.lastRetarget = now
	return next, next != cur
}

func clampDiff(d, lo, hi uint64) uint64 {
	if d < lo {
		d = lo
	}
	if hi > 0 && d > hi {
		d = hi
	}
	if d == 0 {
		d = 1
	}
	return d
}
