package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// fakeTimeout is the client timeout against fakes: long enough never to
// fire by accident under -race, short enough for the hang tests.
const fakeTimeout = 2 * time.Second

// logWriter sends log lines to t.Log, so they show with the failing test.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(logWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

// wantCallError checks that err is a *Error naming daemon and method, and
// returns it.
func wantCallError(t *testing.T, err error, daemon, method string) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *daemon.Error", err, err)
	}
	if ce.Daemon != daemon || ce.Method != method {
		t.Fatalf("error names daemon %q method %q, want %q %q (%v)", ce.Daemon, ce.Method, daemon, method, err)
	}
	return ce
}

func wantRPCError(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var re *RPCError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *RPCError", err)
	}
	if re.Code != code || re.Message != msg {
		t.Fatalf("RPC error %d %q, want %d %q", re.Code, re.Message, code, msg)
	}
}

// captureLogs is testLogger with a hook that keeps every entry.
func captureLogs(t testing.TB) (*logrus.Logger, *test.Hook) {
	l := testLogger(t)
	return l, test.NewLocal(l)
}

// wantLog fails unless some entry's message contains s.
func wantLog(t *testing.T, hook *test.Hook, s string) {
	t.Helper()
	var got []string
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, s) {
			return
		}
		got = append(got, e.Level.String()+": "+e.Message)
	}
	t.Fatalf("no log message contains %q; got:\n%s", s, strings.Join(got, "\n"))
}
