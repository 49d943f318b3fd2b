package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestExtendStep: an extension moves the open step's deadline later and
// records who asked (WCAG 2.2.1); the step's context survives it, the old
// deadline passes without a timeout, the new one survives a restart and
// fires exactly when the clock reaches it.
func TestExtendStep(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	inst := startGenerate(t, eng, "step-extend")

	sctx, err := inst.BeginStep(ctx, "insert card 1", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, first := inst.OpenStep()
	clock.Advance(time.Minute)
	at, err := inst.ExtendStep(ctx, "insert card 1", 5*time.Minute, "olga")
	if err != nil {
		t.Fatalf("ExtendStep: %v", err)
	}
	if want := first.Add(5 * time.Minute); !at.Equal(want) {
		t.Fatalf("the new deadline is %s, want the old one plus 5 minutes, %s", at, want)
	}
	if _, open := inst.OpenStep(); !open.Equal(at) {
		t.Fatalf("OpenStep deadline %s after the extension, want %s", open, at)
	}
	e, p := lastPayload(t, store, "step-extend")
	if x, ok := p.(*events.StepExtended); !ok || x.Step != "insert card 1" || !x.Deadline.Equal(at) || x.Seconds != 300 || x.By != "olga" || e.Source != events.SourceOperator {
		t.Fatalf("last event %s %#v, want step.extended by olga of 300 s", e.Type, p)
	}
	if n := clock.armed(); n != 1 {
		t.Fatalf("%d timers armed after the extension, want 1 (the old one stopped)", n)
	}
	if sctx.Err() != nil {
		t.Fatalf("the step's context ended with the extension: %v", context.Cause(sctx))
	}

	// The old deadline passes: nothing.
	clock.Advance(time.Minute)
	clock.noneFired(t, "at the old deadline")
	if sctx.Err() != nil || inst.Phase() != backupkey.PhaseCreated {
		t.Fatalf("at the old deadline: context %v, phase %q", sctx.Err(), inst.Phase())
	}

	// Refusals: another step, nothing to add, too much, nobody named.
	for _, c := range []struct {
		step string
		d    time.Duration
		by   string
	}{{"insert card 2", time.Minute, "olga"}, {"insert card 1", 0, "olga"}, {"insert card 1", engine.MaxExtension + time.Second, "olga"},
		{"insert card 1", 1500 * time.Millisecond, "olga"}, {"insert card 1", time.Minute, ""}} {
		if _, err := inst.ExtendStep(ctx, c.step, c.d, c.by); err == nil {
			t.Errorf("ExtendStep(%q, %s, %q) was accepted", c.step, c.d, c.by)
		}
	}
	if _, err := inst.ExtendStep(ctx, "insert card 2", time.Minute, "olga"); !errors.Is(err, engine.ErrNoOpenStep) {
		t.Errorf("extending a step that is not open: %v, want ErrNoOpenStep", err)
	}

	// A restart re-arms the extended deadline.
	eng.Close()
	eng2 := newEngine(t, store, clock)
	inst2, err := eng2.Get("step-extend")
	if err != nil {
		t.Fatal(err)
	}
	if _, open := inst2.OpenStep(); !open.Equal(at) {
		t.Fatalf("after a restart the deadline is %s, want the extended %s", open, at)
	}
	clock.Advance(at.Sub(clock.Now()) - time.Nanosecond)
	clock.noneFired(t, "a nanosecond before the extended deadline")
	clock.Advance(time.Nanosecond)
	clock.waitFired(t, "at the extended deadline")
	if inst2.Phase() != backupkey.PhaseCreatedPaused {
		t.Fatalf("phase %q at the extended deadline, want %q", inst2.Phase(), backupkey.PhaseCreatedPaused)
	}
	if _, err := inst2.ExtendStep(ctx, "insert card 1", time.Minute, "olga"); !errors.Is(err, engine.ErrNoOpenStep) {
		t.Errorf("extending a step that timed out: %v, want ErrNoOpenStep", err)
	}
}
