package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

// TestOpenFromRearmsOpenSteps: an engine opened from a baseline (a
// projection checkpoint) with no event after it loads, when it is not
// passive, each ceremony whose summary has an open step, and re-arms its
// deadline: the timeout that passed while no engine ran is recorded. A
// ceremony with no open step stays known by its summary only until
// OpenCeremony loads it. A passive engine loads neither and records
// nothing.
func TestOpenFromRearmsOpenSteps(t *testing.T) {
	const timeout = 10 * time.Minute
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	waiting := startGenerate(t, eng, "waiting")
	if _, err := waiting.BeginStep(ctx, "confirm start", timeout); err != nil {
		t.Fatal(err)
	}
	pos := waiting.Position()
	startGenerate(t, eng, "idle")
	last, err := store.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := engine.Baseline{Seq: last, Ceremonies: eng.Ceremonies()}
	eng.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(timeout + time.Hour)

	store2 := openStore(t, dir)
	openFrom := func(passive bool) *engine.Engine {
		e, err := engine.New(engine.Config{Store: store2, Registry: kinds.Registry(), Clock: clock, Passive: passive,
			Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		if err := e.OpenFrom(ctx, base); err != nil {
			t.Fatal(err)
		}
		return e
	}

	passive := openFrom(true)
	for _, id := range []string{"waiting", "idle"} {
		if _, err := passive.Get(id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("passive engine: Get(%s) = %v, want ErrNotFound (known by its summary only)", id, err)
		}
	}
	clock.noneFired(t, "on a passive engine")

	active := openFrom(false)
	inst := mustGet(t, active, "waiting")
	clock.waitFired(t, "the re-armed deadline")
	if inst.Phase() != backupkey.PhaseCreatedPaused || inst.Position() != pos+1 {
		t.Fatalf("phase %q position %d after the re-armed timeout, want %q %d", inst.Phase(), inst.Position(), backupkey.PhaseCreatedPaused, pos+1)
	}
	if n := countType(t, store2, "waiting", "step.timed_out"); n != 1 {
		t.Errorf("%d step.timed_out events, want 1", n)
	}
	if _, err := active.Get("idle"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Get(idle) = %v, want ErrNotFound: it has no open step", err)
	}
	if len(active.Ceremonies()) != 2 {
		t.Errorf("Ceremonies lists %d, want 2", len(active.Ceremonies()))
	}
	idle, err := active.OpenCeremony(ctx, "idle")
	if err != nil || idle.Position() != 1 {
		t.Fatalf("OpenCeremony(idle): %v", err)
	}
}
