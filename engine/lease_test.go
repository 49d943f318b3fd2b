package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

func TestLeases(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()

	type op struct {
		do       string // "acquire", "release", "release-all"
		resource string
		cer      string
		wantErr  bool
	}
	steps := []op{
		{"acquire", "reader:Virtual PCD 00 00", "cer-a", false},
		{"acquire", "reader:Virtual PCD 00 00", "cer-a", false}, // re-acquire
		{"acquire", "reader:Virtual PCD 00 00", "cer-b", true},  // held by cer-a
		{"acquire", "card:000500000001", "cer-a", false},
		{"acquire", "hsm:softhsm2", "cer-b", false},
		{"acquire", "hsm:softhsm2", "cer-a", true},
		{"release", "hsm:softhsm2", "cer-a", false}, // not the holder: no effect
		{"acquire", "hsm:softhsm2", "cer-a", true},
		{"release-all", "", "cer-a", false},
		{"acquire", "reader:Virtual PCD 00 00", "cer-b", false}, // free now
		{"acquire", "card:000500000001", "cer-c", false},
		{"release", "card:000500000001", "cer-c", false},
	}
	for i, s := range steps {
		var err error
		switch s.do {
		case "acquire":
			err = l.Acquire(s.resource, s.cer)
		case "release":
			l.Release(s.resource, s.cer)
		case "release-all":
			l.ReleaseAll(s.cer)
		}
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d: %s %q for %s: err %v, want error %v", i+1, s.do, s.resource, s.cer, err, s.wantErr)
		}
		if err != nil && !errors.Is(err, engine.ErrLeased) {
			t.Fatalf("step %d: %v, want ErrLeased", i+1, err)
		}
	}
	want := map[string]string{"reader:Virtual PCD 00 00": "cer-b", "hsm:softhsm2": "cer-b", "card:000500000001": ""}
	for res, holder := range want {
		h, ok := l.Holder(res)
		if h != holder || ok != (holder != "") {
			t.Errorf("Holder(%q) = %q, %v; want %q", res, h, ok, holder)
		}
	}
}

func TestLeaseConflictNamesTheHolder(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()
	if err := l.Acquire("card:000500000001", "bkg-20250314-01"); err != nil {
		t.Fatal(err)
	}
	err := l.Acquire("card:000500000001", "bkl-20250315-02")
	if !errors.Is(err, engine.ErrLeased) {
		t.Fatalf("Acquire of a held card: %v, want ErrLeased", err)
	}
	for _, part := range []string{"card:000500000001", "bkg-20250314-01", "finish or abort"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not say %q", err, part)
		}
	}
}

func TestLeasesOneWinner(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()
	const n = 16
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = l.Acquire("reader:shared", string(rune('a'+i)))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, engine.ErrLeased) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d ceremonies got the same reader, want 1", won)
	}
}

// lostKeeper is a Leaser whose runner lease of one ceremony is lost (a
// pure unit test of the engine's refusal; the JetStream leases' loss is
// tested in adapters/jetstream).
type lostKeeper struct {
	*engine.Leases
	lostID string
}

func (k lostKeeper) Check(resource, id string) error {
	if id == k.lostID && resource == engine.RunnerLease(id) {
		return fmt.Errorf("%w: it expired and was taken", engine.ErrLeaseLost)
	}
	return nil
}

// TestLostLeaseStopsRecording: once the runner lease is lost, the
// ceremony records nothing more, with a message naming the ceremony;
// other ceremonies go on.
func TestLostLeaseStopsRecording(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng, err := engine.New(engine.Config{Store: store, Registry: kinds.Registry(),
		Definitions: []*engine.Definition{backupkey.GenerateDefinition()}, Leases: lostKeeper{engine.NewLeases(), "gen-lost"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	if err := eng.Open(ctx); err != nil {
		t.Fatal(err)
	}
	start := &events.GenerateStarted{Operator: "alice", Threshold: 2, Shares: 3, Reader: "r", HSM: "h"}
	if _, err := eng.Start(ctx, backupkey.KindGenerate, "gen-ok", events.SourceOperator, start); err != nil {
		t.Fatal(err)
	}
	before, _ := store.LastSeq(ctx)
	_, err = eng.Start(ctx, backupkey.KindGenerate, "gen-lost", events.SourceOperator, start)
	if !errors.Is(err, engine.ErrLeaseLost) || !strings.Contains(err.Error(), "lost the lease on ceremony gen-lost: another process may run it; stopped") {
		t.Fatalf("record with a lost lease: %v", err)
	}
	if after, _ := store.LastSeq(ctx); after != before {
		t.Fatalf("the stream grew from %d to %d: a runner without its lease appended", before, after)
	}
	inst, _ := eng.Get("gen-ok")
	if err := inst.Record(ctx, events.SourceOperator, &events.WriteConfirmed{}); err != nil {
		t.Fatalf("another ceremony: %v", err)
	}
}

// TestWatchLeaseCancelsOnLoss: a watched runner lease that is lost cancels
// the context with the lost-lease error as its cause, so a runner waiting
// at a prompt stops at once; a lease kept cancels nothing until stop; a
// Leaser that cannot lose leases gives the context back as it is.
func TestWatchLeaseCancelsOnLoss(t *testing.T) {
	l := lostKeeper{engine.NewLeases(), "gen-lost"}
	lost, stopLost := engine.WatchLease(t.Context(), l, engine.RunnerLease("gen-lost"), "gen-lost")
	defer stopLost()
	select {
	case <-lost.Done():
	case <-time.After(time.Minute): // a liveness bound
		t.Fatal("the lost lease did not cancel the watched context")
	}
	if cause := context.Cause(lost); !errors.Is(cause, engine.ErrLeaseLost) || !strings.Contains(cause.Error(), "lost the lease on ceremony gen-lost") {
		t.Fatalf("cause %v, want the lost lease of gen-lost", cause)
	}
	kept, stopKept := engine.WatchLease(t.Context(), l, engine.RunnerLease("gen-ok"), "gen-ok")
	time.Sleep(600 * time.Millisecond) // two looks at the lease
	if err := kept.Err(); err != nil {
		t.Fatalf("a kept lease cancelled the context: %v", err)
	}
	stopKept()
	if cause := context.Cause(kept); !errors.Is(cause, context.Canceled) {
		t.Fatalf("after stop: %v, want context.Canceled", cause)
	}
	plain := engine.NewLeases()
	if ctx, stop := engine.WatchLease(t.Context(), plain, engine.RunnerLease("gen-1"), "gen-1"); ctx != t.Context() {
		t.Fatal("a Leaser that cannot lose leases got a watch")
	} else {
		stop()
	}
}
