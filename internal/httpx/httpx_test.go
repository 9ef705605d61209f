package httpx

import (
	"context"
	"errors"
	"testing"
)

func TestObserverTravelsWithTheContext(t *testing.T) {
	Observe(context.Background(), Call{Name: "nobody"}) // no observer: no-op

	var got []Call
	ctx := WithObserver(context.Background(), func(c Call) { got = append(got, c) })
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	boom := errors.New("boom")
	Observe(child, Call{Service: "daemon", Name: "a", Method: "get_info", Err: boom})
	if len(got) != 1 || got[0].Name != "a" || got[0].Err != boom {
		t.Fatalf("observed %+v", got)
	}

	// An inner observer replaces the outer one for its calls only.
	var inner int
	Observe(WithObserver(ctx, func(Call) { inner++ }), Call{})
	if inner != 1 || len(got) != 1 {
		t.Fatalf("inner %d, outer %d", inner, len(got))
	}
}
