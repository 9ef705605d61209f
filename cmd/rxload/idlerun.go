package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The idle-connection run: open every connection, then push tips and time
// how fast each job reaches every connection.

func idleRun(ctx context.Context, cfg *idleConfig, log *logger, stderr io.Writer) (*IdleResult, error) {
	res := &IdleResult{}
	c := &res.Config
	c.Pool, c.Login, c.N, c.Procs, c.Keepalive = cfg.pool, cfg.login, cfg.n, cfg.procs, cfg.keepalive.String()
	c.Notify, c.Tips, c.Concurrency = cfg.notify, cfg.tips, cfg.concurrency
	for _, ip := range cfg.src {
		c.Src = append(c.Src, ip.String())
	}
	if err := checkLimits(cfg, log); err != nil {
		return nil, err
	}
	if cfg.poolPID > 0 {
		before := rssKiB(cfg.poolPID)
		if before == 0 {
			return nil, fmt.Errorf("-pool-pid %d: cannot read VmRSS from /proc/%d/status", cfg.poolPID, cfg.poolPID)
		}
		res.PoolRSS = &struct {
			PID        int     `json:"pid"`
			BeforeKiB  int64   `json:"before_kib"`
			AfterKiB   int64   `json:"after_kib"`
			KiBPerConn float64 `json:"kib_per_conn"`
			Settle     string  `json:"settle"`
		}{PID: cfg.poolPID, BeforeKiB: before, Settle: cfg.settle.String()}
	}

	procs, err := startWorkers(ctx, cfg, log, stderr)
	defer func() {
		if procs != nil {
			finals := stopWorkers(context.WithoutCancel(ctx), procs, log)
			for _, m := range finals {
				res.Keepalive.Sent += m.KeepalivesSent
				res.Keepalive.Replies += m.KeepaliveReplies
				res.Keepalive.Errors += m.KeepaliveErrors
				res.Pushes += m.Pushes
				res.Disconnects += m.Disconnects
				res.OpenAtEnd += m.Open
				for r, n := range m.DisconnectReasons {
					if res.DisconnectReasons == nil {
						res.DisconnectReasons = map[string]uint64{}
					}
					res.DisconnectReasons[r] += n
				}
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	log.printf("%d sessions over %d process(es), %d source address(es)", cfg.n, len(procs), max(1, len(cfg.src)))

	// Logins.
	var (
		first, last int64
		lats        []time.Duration
	)
	l := &res.Login
	for _, p := range procs {
		m, err := p.expect(ctx, "login", 0, time.Time{}, log)
		if err != nil {
			return res, err
		}
		l.Attempted += m.Attempted
		l.LoggedIn += m.LoggedIn
		for r, n := range m.Failures {
			if l.Failures == nil {
				l.Failures = map[string]int{}
			}
			l.Failures[r] += n
			l.Failed += n
		}
		if first == 0 || m.Start < first {
			first = m.Start
		}
		last = max(last, m.End)
		for _, us := range m.LatencyUS {
			lats = append(lats, time.Duration(us)*time.Microsecond)
		}
	}
	if last > first {
		l.Seconds = float64(last-first) / 1e9
		l.PerS = float64(l.LoggedIn) / l.Seconds
	}
	l.Latency = summarize(lats)
	log.printf("%d/%d logged in in %.2f s (%.0f/s); failures %v", l.LoggedIn, l.Attempted, l.Seconds, l.PerS, l.Failures)
	if l.LoggedIn == 0 {
		return res, fmt.Errorf("no session logged in: %v", l.Failures)
	}

	// Idle: the pool's and our memory per connection.
	select {
	case <-time.After(cfg.settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if res.PoolRSS != nil {
		res.PoolRSS.AfterKiB = rssKiB(cfg.poolPID)
		res.PoolRSS.KiBPerConn = float64(res.PoolRSS.AfterKiB-res.PoolRSS.BeforeKiB) / float64(l.LoggedIn)
		log.printf("pool RSS %d → %d KiB: %.1f KiB per idle connection", res.PoolRSS.BeforeKiB, res.PoolRSS.AfterKiB, res.PoolRSS.KiBPerConn)
	}
	for _, p := range procs {
		_ = p.send("stats")
	}
	for _, p := range procs {
		m, err := p.expect(ctx, "stats", 0, time.Now().Add(30*time.Second), log)
		if err != nil {
			return res, fmt.Errorf("worker %d stats: %w", p.idx, err)
		}
		res.Generator.RSSKiB += m.RSSKiB
		res.Generator.Open += m.Open
	}
	res.Generator.KiBPerConn = float64(res.Generator.RSSKiB) / float64(l.LoggedIn)

	// New tips.
	for k := 1; k <= cfg.tips; k++ {
		t, err := measureTip(ctx, cfg, procs, k, log)
		if err != nil {
			return res, err
		}
		res.Tips = append(res.Tips, *t)
		if k < cfg.tips {
			time.Sleep(500 * time.Millisecond)
		}
	}
	return res, nil
}

// measureTip arms every worker for tip k, runs the notify command (or
// waits for the tip to come by itself) and gathers when each session got
// its first job at the new height.
func measureTip(ctx context.Context, cfg *idleConfig, procs []*workerProc, k int, log *logger) (*TipResult, error) {
	t := &TipResult{Tip: k}
	for _, p := range procs {
		if err := p.send(fmt.Sprintf("arm %d", k)); err != nil {
			return nil, fmt.Errorf("worker %d: %w", p.idx, err)
		}
	}
	for _, p := range procs {
		m, err := p.expect(ctx, "armed", k, time.Now().Add(30*time.Second), log)
		if err != nil {
			return nil, fmt.Errorf("worker %d arming tip %d: %w", p.idx, k, err)
		}
		t.Armed += m.Open
	}
	var notifyStart, notifyEnd time.Time
	if cfg.notify != "" {
		cmd := exec.CommandContext(ctx, "sh", "-c", cfg.notify)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		notifyStart = time.Now()
		err := cmd.Run()
		notifyEnd = time.Now()
		t.NotifySeconds = notifyEnd.Sub(notifyStart).Seconds()
		if err != nil {
			t.NotifyError = fmt.Sprintf("%v: %.300s", err, strings.TrimSpace(out.String()))
			log.printf("tip %d: notify command: %s", k, t.NotifyError)
		}
	} else {
		log.printf("tip %d: waiting up to %v for a new tip", k, cfg.tipTimeout)
	}
	deadline := time.Now().Add(cfg.tipTimeout)
	var receipts []int64
	heights := map[uint64]bool{}
	for _, p := range procs {
		m, err := p.expect(ctx, "tip", k, deadline, log)
		if errors.Is(err, errExpectTimeout) {
			_ = p.send(fmt.Sprintf("report %d", k))
			m, err = p.expect(ctx, "tip", k, time.Now().Add(30*time.Second), log)
		}
		if err != nil {
			return nil, fmt.Errorf("worker %d tip %d: %w", p.idx, k, err)
		}
		receipts = append(receipts, m.Receipts...)
		t.Missed += m.Missed
		for _, h := range m.Heights {
			heights[h] = true
		}
	}
	t.Received = len(receipts)
	for h := range heights {
		t.Heights = append(t.Heights, h)
	}
	slices.Sort(t.Heights)
	if len(receipts) > 0 {
		first, last := slices.Min(receipts), slices.Max(receipts)
		delays := make([]time.Duration, len(receipts))
		for i, r := range receipts {
			delays[i] = time.Duration(r - first)
		}
		t.DelayFromFirst = summarize(delays)
		t.FirstToLast = ms(time.Duration(last - first))
		if !notifyEnd.IsZero() {
			a, b := ms(time.Duration(first-notifyEnd.UnixNano())), ms(time.Duration(first-notifyStart.UnixNano()))
			t.FirstAfterNotify, t.FirstAfterNotifyStart = &a, &b
		}
	}
	log.printf("tip %d (heights %v): %d/%d sessions got it, %d missed; first→last %.1f ms, p50 %.1f ms, p99 %.1f ms",
		k, t.Heights, t.Received, t.Armed, t.Missed, t.FirstToLast, t.DelayFromFirst.P50, t.DelayFromFirst.P99)
	return t, nil
}
