package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"rxpool/stratum/proto"
)

// One idle connection's reading side and the worker's reports on it.

// idleLine is what an idle session reads from the pool's lines.
type idleLine struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Height uint64 `json:"height"`
	} `json:"params"`
	Error *proto.Error `json:"error"`
}

// readLoop reads until the connection ends: job notifications (the tip
// measurement) and keepalived replies.
func (c *idleConn) readLoop(r *bufio.Reader) {
	for {
		line, err := readLine(r)
		if err != nil {
			c.w.lost(c, err)
			return
		}
		at := time.Now().UnixNano() // before parsing: the line is here
		var m idleLine
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		if m.Method == proto.MethodJob {
			c.job(m.Params.Height, at)
			continue
		}
		if len(m.ID) > 0 && string(m.ID) != "null" {
			if m.Error != nil {
				c.w.keepErrors.Add(1)
			} else {
				c.w.keepReplies.Add(1)
			}
		}
	}
}

// job records a pushed job: the first one at a height other than the one
// the session had when armed is the session's receipt of the new tip.
func (c *idleConn) job(height uint64, at int64) {
	c.height.Store(height)
	c.w.pushes.Add(1)
	if tip := c.armTip.Load(); tip != 0 && height != c.base.Load() && c.gotAt.CompareAndSwap(0, at) {
		c.w.settled()
	}
}

// lost records a closed connection; an armed session that had not got the
// tip yet counts as missing it.
func (w *idleWorker) lost(c *idleConn, err error) {
	c.closed.Store(true)
	if c.armTip.Load() != 0 && c.gotAt.CompareAndSwap(0, -1) {
		w.settled()
	}
	if w.quitting.Load() {
		return
	}
	reason := errReason(err)
	if errors.Is(err, io.EOF) {
		reason = "closed by the pool"
	}
	w.discMu.Lock()
	w.discReasons[reason]++
	w.discMu.Unlock()
}

// settled counts one armed session done with the tip.
func (w *idleWorker) settled() {
	if w.pending.Add(-1) == 0 {
		w.tipMu.Lock()
		k := w.reported + 1
		w.tipMu.Unlock()
		select {
		case w.tipDone <- k:
		default:
		}
	}
}

// arm starts tip k: every open session records its current height and
// waits for a job at another one.
func (w *idleWorker) arm(k int) {
	const big = 1 << 40 // pending never reaches 0 while sessions are armed
	w.pending.Store(big)
	n := int64(0)
	for _, c := range w.conns {
		if c == nil || c.closed.Load() {
			continue
		}
		c.gotAt.Store(0)
		c.base.Store(c.height.Load())
		c.armTip.Store(int32(k))
		n++
	}
	w.emit(&childMsg{Type: "armed", Tip: k, Open: int(n)})
	if w.pending.Add(n-big) == 0 {
		select {
		case w.tipDone <- k:
		default:
		}
	}
}

// report sends tip k's receipts once.
func (w *idleWorker) report(k int) {
	w.tipMu.Lock()
	if k <= w.reported {
		w.tipMu.Unlock()
		return
	}
	w.reported = k
	w.tipMu.Unlock()
	m := &childMsg{Type: "tip", Tip: k}
	heights := map[uint64]bool{}
	for _, c := range w.conns {
		if c == nil || c.armTip.Load() != int32(k) {
			continue
		}
		if at := c.gotAt.Load(); at > 0 {
			m.Receipts = append(m.Receipts, at)
			heights[c.height.Load()] = true
		} else {
			m.Missed++
		}
	}
	for h := range heights {
		m.Heights = append(m.Heights, h)
	}
	w.emit(m)
}

// keepaliveSweep sends keepalived for sessions that sent nothing for the
// keepalive interval, as xmrig does, from one goroutine and one ticker for
// all sessions: each tick looks at one bucket of sessions, so every
// session is looked at about once per interval.
func (w *idleWorker) keepaliveSweep(stop <-chan struct{}) {
	every := w.cfg.keepalive
	tick := min(time.Second, every/2)
	buckets := max(1, int(every/tick))
	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		for i := n % buckets; i < len(w.conns); i += buckets {
			c := w.conns[i]
			if c == nil || c.closed.Load() || now.UnixNano()-c.lastSend.Load() < int64(every-tick) {
				continue
			}
			c.nextID++
			line, _ := proto.AppendRequest(nil, c.nextID, proto.MethodKeepalive, proto.SessionParams{ID: c.session})
			_ = c.nc.SetWriteDeadline(now.Add(5 * time.Second))
			if _, err := c.nc.Write(line); err != nil {
				w.keepErrors.Add(1)
				continue
			}
			c.lastSend.Store(now.UnixNano())
			w.keepSent.Add(1)
		}
	}
}

// closeAll closes every session and waits for the readers; idempotent.
func (w *idleWorker) closeAll() {
	if w.quitting.Swap(true) {
		w.readers.Wait()
		return
	}
	for _, c := range w.conns {
		if c != nil {
			c.nc.Close()
		}
	}
	w.readers.Wait()
}

func (w *idleWorker) stats(typ string) *childMsg {
	m := &childMsg{Type: typ, RSSKiB: rssKiB(os.Getpid()), KeepalivesSent: w.keepSent.Load(),
		KeepaliveReplies: w.keepReplies.Load(), KeepaliveErrors: w.keepErrors.Load(), Pushes: w.pushes.Load()}
	for _, c := range w.conns {
		if c != nil && !c.closed.Load() {
			m.Open++
		}
	}
	w.discMu.Lock()
	for r, n := range w.discReasons {
		if m.DisconnectReasons == nil {
			m.DisconnectReasons = map[string]uint64{}
		}
		m.DisconnectReasons[r] = n
		m.Disconnects += n
	}
	w.discMu.Unlock()
	return m
}

// rssKiB is VmRSS of a process from /proc (0 when unreadable).
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
