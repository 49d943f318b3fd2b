package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestOptimisticConcurrency: two engines (two processes, say) hold the
// same ceremony and record at once. Exactly one append wins; the other is
// a conflict, after which its instance has the winner's event and a retry
// succeeds.
func TestOptimisticConcurrency(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	const id = "occ-1"
	first := newEngine(t, store, newStepClock())
	if _, err := first.Start(ctx, backupkey.KindGenerate, id, events.SourceOperator, sample(t, evGenerateStarted)); err != nil {
		t.Fatal(err)
	}
	record(t, mustGet(t, first, id), evWriteConfirmed)

	insts := make([]*engine.Instance, 2)
	for i := range insts {
		insts[i] = mustGet(t, newEngine(t, store, newStepClock()), id)
		if insts[i].Position() != 2 || insts[i].Phase() != backupkey.PhaseWriting {
			t.Fatalf("engine %d loaded position %d phase %q, want 2 writing", i, insts[i].Position(), insts[i].Phase())
		}
	}
	serial := func(i int) string { return fmt.Sprintf("00050000000%d", i) }
	errs := make([]error, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, inst := range insts {
		wg.Go(func() {
			<-start
			errs[i] = inst.Record(ctx, events.SourceReader, &events.CardPresented{Reader: reader, ReaderClass: "host-pinpad", Serial: serial(i), Slot: 1})
		})
	}
	close(start)
	wg.Wait()

	winner, loser := 0, 1
	if errs[0] != nil {
		winner, loser = 1, 0
	}
	if errs[winner] != nil {
		t.Fatalf("both records failed: %v; %v", errs[0], errs[1])
	}
	if !errors.Is(errs[loser], events.ErrConflict) {
		t.Fatalf("the second record: %v, want a conflict (both succeeded if nil)", errs[loser])
	}
	var ce *events.ConflictError
	if !errors.As(errs[loser], &ce) || ce.CeremonyID != id {
		t.Errorf("conflict error %v, want a *events.ConflictError for %s", errs[loser], id)
	}
	if got := load(t, store, id); len(got) != 3 {
		t.Fatalf("%d events stored after the race, want 3", len(got))
	}
	// The loser reloaded: it is where the winner is.
	if insts[loser].Position() != insts[winner].Position() || insts[loser].Position() != 3 {
		t.Fatalf("after the conflict: loser at position %d, winner at %d, want both 3", insts[loser].Position(), insts[winner].Position())
	}
	sameInstance(t, "loser after reload", insts[winner], insts[loser])

	// The loser re-decides and retries: it succeeds; now the winner is stale.
	if err := insts[loser].Record(ctx, events.SourceReader, &events.CardPresented{Reader: reader, ReaderClass: "host-pinpad", Serial: serial(loser), Slot: 2}); err != nil {
		t.Fatalf("retry after the conflict: %v", err)
	}
	if err := insts[winner].Record(ctx, events.SourceReader, sample(t, evCardPresented)); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("record on the now stale instance: %v, want a conflict", err)
	}
	if insts[winner].Position() != 4 {
		t.Errorf("stale instance reloaded to position %d, want 4", insts[winner].Position())
	}
	got := load(t, store, id)
	if err := events.VerifyChain(got); err != nil {
		t.Fatalf("hash chain after the race: %v", err)
	}
	if len(got) != 4 {
		t.Fatalf("%d events stored, want 4", len(got))
	}
	reg := kinds.Registry()
	for i, want := range []string{serial(winner), serial(loser)} {
		p, err := reg.DecodePayload(got[2+i])
		if err != nil {
			t.Fatal(err)
		}
		if cp, ok := p.(*events.CardPresented); !ok || cp.Serial != want {
			t.Errorf("event %d = %#v, want card %s", 3+i, p, want)
		}
	}
	// Causation follows the chain that was stored, not the loser's stale view.
	if got[3].CausationID != got[2].ID {
		t.Errorf("retried event caused by %q, want the winner's event %q", got[3].CausationID, got[2].ID)
	}
}

// TestParallelCeremonies records 8 ceremonies in parallel, 50 events each,
// while others read the engine; every log is contiguous and its hash chain
// verifies.
func TestParallelCeremonies(t *testing.T) {
	const ceremonies, perCeremony = 8, 50
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, nil)

	kinds := []events.Payload{
		&events.CardPresented{Reader: reader, ReaderClass: "class3-pinpad", Serial: "000500000001", Slot: 1},
		&events.PINRetriesRead{Serial: "000500000001", PIN: "PW3", TriesLeft: 3},
		&events.PINVerified{Serial: "000500000001", PIN: "PW3", DefaultPIN: true},
		&events.CardRemoved{Reader: reader, Serial: "000500000001"},
	}
	opening := sample(t, evGenerateStarted)
	errs := make(chan error, ceremonies)
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				_ = eng.Ceremonies()
			}
		}
	})
	var wg sync.WaitGroup
	for c := range ceremonies {
		wg.Go(func() {
			id := fmt.Sprintf("par-%d", c)
			inst, err := eng.Start(ctx, backupkey.KindGenerate, id, events.SourceOperator, opening)
			if err != nil {
				errs <- fmt.Errorf("%s: start: %w", id, err)
				return
			}
			if err := inst.Record(ctx, events.SourceOperator, &events.WriteConfirmed{}); err != nil {
				errs <- fmt.Errorf("%s: write confirmed: %w", id, err)
				return
			}
			for i := 2; i < perCeremony; i++ { // writing: cards come and go
				if err := inst.Record(ctx, events.SourceCard, kinds[i%len(kinds)]); err != nil {
					errs <- fmt.Errorf("%s: event %d: %w", id, i+1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for c := range ceremonies {
		id := fmt.Sprintf("par-%d", c)
		recs, err := store.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != perCeremony {
			t.Fatalf("%s: %d events stored, want %d", id, len(recs), perCeremony)
		}
		envs := load(t, store, id)
		for i, r := range recs {
			if r.Position != uint64(i+1) {
				t.Errorf("%s: event %d at position %d", id, i+1, r.Position)
			}
			if i > 0 && r.Seq <= recs[i-1].Seq {
				t.Errorf("%s: stream sequence %d after %d", id, r.Seq, recs[i-1].Seq)
			}
		}
		if err := events.VerifyChain(envs); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if inst := mustGet(t, eng, id); inst.Position() != perCeremony {
			t.Errorf("%s: instance at position %d, want %d", id, inst.Position(), perCeremony)
		}
	}
	var total int
	if err := store.Replay(ctx, 1, func(events.Record) error { total++; return nil }); err != nil {
		t.Fatal(err)
	}
	if total != ceremonies*perCeremony {
		t.Errorf("stream holds %d events, want %d", total, ceremonies*perCeremony)
	}
	if got := len(eng.Ceremonies()); got != ceremonies {
		t.Errorf("Ceremonies() lists %d, want %d", got, ceremonies)
	}
}

// TestConcurrentRecordsOnOneInstance: an instance serialises its records,
// so goroutines sharing it never conflict with each other.
func TestConcurrentRecordsOnOneInstance(t *testing.T) {
	const goroutines, each = 4, 10
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, nil)
	inst, err := eng.Start(ctx, backupkey.KindLoad, "one-inst", events.SourceOperator, sample(t, evLoadStarted))
	if err != nil {
		t.Fatal(err)
	}
	record(t, inst, evReadConfirmed) // reading: cards are presented
	presented := sample(t, evCardPresented)
	errs := make(chan error, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := inst.Record(ctx, events.SourceReader, presented); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	envs := load(t, store, "one-inst")
	if len(envs) != 2+goroutines*each || inst.Position() != uint64(len(envs)) {
		t.Fatalf("%d events stored, instance at %d; want %d", len(envs), inst.Position(), 2+goroutines*each)
	}
	if err := events.VerifyChain(envs); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, eng *engine.Engine, id string) *engine.Instance {
	t.Helper()
	inst, err := eng.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return inst
}
