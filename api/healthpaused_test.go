package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHealthPaymentsPaused: while the payments process records a pause
// (too few replicas acknowledge the payment journal), /health says
// degraded, still 200, with the reason; once cleared, ok again.
func TestHealthPaymentsPaused(t *testing.T) {
	e := newEnv(t, nil)
	since := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	why := "the relaying step is on 0 of 1 replicas (redis.minReplicaAcks) after waiting 2s"
	if err := e.store.SetPaymentsPaused(ctxT(t), since, why, time.Minute); err != nil {
		t.Fatal(err)
	}
	var h Health
	e.get("/health", http.StatusOK, &h)
	want := "since 2026-12-05T01:00:00Z: " + why
	if h.Status != "degraded" || h.PaymentsPaused != want || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "payments paused "+want) {
		t.Fatalf("health while payments pause: %+v", h)
	}
	if err := e.store.SetPaymentsPaused(ctxT(t), time.Time{}, "", 0); err != nil {
		t.Fatal(err)
	}
	e.api.health = newCache[*Health](time.Second, 1) // a new check, not the cached one
	h = Health{}
	e.get("/health", http.StatusOK, &h)
	if h.Status != "ok" || h.PaymentsPaused != "" || len(h.Reasons) != 0 {
		t.Fatalf("health after the pause: %+v", h)
	}
}
