package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// liveness bounds how long a test waits for something that must happen;
// it is not a measure of speed.
const liveness = 5 * time.Second

func startGenerate(t *testing.T, eng *engine.Engine, id string) *engine.Instance {
	t.Helper()
	inst, err := eng.Start(context.Background(), backupkey.KindGenerate, id, events.SourceOperator, sample(t, evGenerateStarted))
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return inst
}

// lastPayload decodes the last stored event of a ceremony.
func lastPayload(t *testing.T, store events.Store, id string) (events.Envelope, events.Payload) {
	t.Helper()
	envs := load(t, store, id)
	if len(envs) == 0 {
		t.Fatalf("ceremony %s has no events", id)
	}
	e := envs[len(envs)-1]
	p, err := kinds.Registry().DecodePayload(e)
	if err != nil {
		t.Fatal(err)
	}
	return e, p
}

func countType(t *testing.T, store events.Store, id, typ string) int {
	t.Helper()
	n := 0
	for _, e := range load(t, store, id) {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestStepTimesOut: the deadline fires when the clock reaches it, not a
// nanosecond before, and the timeout is recorded before the step's
// context is cancelled.
func TestStepTimesOut(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	inst := startGenerate(t, eng, "step-timeout")

	const timeout = 2 * time.Minute
	sctx, err := inst.BeginStep(ctx, "confirm start", timeout)
	if err != nil {
		t.Fatal(err)
	}
	step, deadline := inst.OpenStep()
	if step != "confirm start" || !deadline.Equal(clock.Now().Add(timeout)) {
		t.Fatalf("OpenStep() = %q, %s; want the step and %s from now", step, deadline, timeout)
	}
	e, p := lastPayload(t, store, "step-timeout")
	if ds, ok := p.(*events.StepDeadlineSet); !ok || ds.Step != "confirm start" || !ds.Deadline.Equal(deadline) || e.Source != events.SourceEngine {
		t.Fatalf("last event %s %#v, want step.deadline_set of the step", e.Type, p)
	}
	if n := clock.armed(); n != 1 {
		t.Fatalf("%d timers armed for one open step, want 1", n)
	}
	pos := inst.Position()

	// Just before the deadline nothing happens.
	clock.Advance(timeout - time.Nanosecond)
	clock.noneFired(t, "a nanosecond before the deadline")
	if sctx.Err() != nil || inst.Position() != pos || clock.armed() != 1 {
		t.Fatalf("a nanosecond before the deadline: context err %v, position %d (want %d), %d timers armed (want 1)", sctx.Err(), inst.Position(), pos, clock.armed())
	}

	clock.Advance(time.Nanosecond)
	clock.waitFired(t, "at the deadline")
	if sctx.Err() == nil {
		t.Fatal("the step context is not cancelled once the timeout is recorded")
	}
	if cause := context.Cause(sctx); !errors.Is(cause, engine.ErrStepTimedOut) {
		t.Fatalf("context.Cause = %v, want ErrStepTimedOut", cause)
	}
	if got := inst.Phase(); got != backupkey.PhaseCreatedPaused {
		t.Fatalf("phase %q after the timeout, want %q", got, backupkey.PhaseCreatedPaused)
	}
	e, p = lastPayload(t, store, "step-timeout")
	to, ok := p.(*events.StepTimedOut)
	if !ok || to.Step != "confirm start" || !to.Deadline.Equal(deadline) || e.Source != events.SourceEngine {
		t.Fatalf("last event %s %#v, want step.timed_out of the step", e.Type, p)
	}
	if !e.Time.Equal(deadline) {
		t.Errorf("timeout recorded at %s, want the clock's time, the deadline %s", e.Time, deadline)
	}
	if s, _ := inst.OpenStep(); s != "" {
		t.Errorf("open step %q after the timeout, want none", s)
	}
	if err := inst.TimerError(); err != nil {
		t.Errorf("TimerError() = %v", err)
	}

	pos = inst.Position()
	if err := inst.EndStep(ctx, "confirm start"); !errors.Is(err, engine.ErrStepTimedOut) {
		t.Fatalf("EndStep after the timeout: %v, want ErrStepTimedOut", err)
	}
	if inst.Position() != pos || countType(t, store, "step-timeout", "step.completed") != 0 {
		t.Error("EndStep after the timeout recorded an event")
	}
	// The paused ceremony resumes with step.retried.
	record(t, inst, evRetried)
	if inst.Phase() != backupkey.PhaseCreated {
		t.Errorf("phase %q after step.retried, want created", inst.Phase())
	}
}

// TestStepCompletedInTime: ending a step stops its timer; the deadline
// passing afterwards records nothing.
func TestStepCompletedInTime(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	inst := startGenerate(t, eng, "step-in-time")

	const timeout = 2 * time.Minute
	sctx, err := inst.BeginStep(ctx, "confirm start", timeout)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(timeout - time.Second)
	if err := inst.EndStep(ctx, "confirm start"); err != nil {
		t.Fatalf("EndStep in time: %v", err)
	}
	e, p := lastPayload(t, store, "step-in-time")
	if sc, ok := p.(*events.StepCompleted); !ok || sc.Step != "confirm start" {
		t.Fatalf("last event %s %#v, want step.completed", e.Type, p)
	}
	if sctx.Err() == nil || errors.Is(context.Cause(sctx), engine.ErrStepTimedOut) {
		t.Errorf("step context after EndStep: err %v cause %v; want cancelled, not timed out", sctx.Err(), context.Cause(sctx))
	}
	if n := clock.armed(); n != 0 {
		t.Fatalf("%d timers still armed after EndStep, want 0", n)
	}
	pos := inst.Position()

	// Move well past the deadline: no timeout may be recorded for a
	// finished step. No timer is armed, so none can be running.
	clock.Advance(3 * timeout)
	clock.noneFired(t, "past the deadline of a completed step")
	if inst.Position() != pos || inst.Phase() != backupkey.PhaseCreated {
		t.Fatalf("after the deadline of a completed step: position %d phase %q, want %d created", inst.Position(), inst.Phase(), pos)
	}
	if n := countType(t, store, "step-in-time", "step.timed_out"); n != 0 {
		t.Fatalf("%d step.timed_out events for a step completed in time", n)
	}
	if err := inst.TimerError(); err != nil {
		t.Errorf("TimerError() = %v", err)
	}
}

func TestBeginStepRejoinsAndSwitches(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	inst := startGenerate(t, eng, "step-switch")

	first, err := inst.BeginStep(ctx, "insert card 1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, deadline := inst.OpenStep()
	// The same step again (e.g. after a restart): no new deadline.
	again, err := inst.BeginStep(ctx, "insert card 1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, at := inst.OpenStep(); !at.Equal(deadline) {
		t.Errorf("re-joining moved the deadline from %s to %s", deadline, at)
	}
	if n := countType(t, store, "step-switch", "step.deadline_set"); n != 1 {
		t.Errorf("%d step.deadline_set events after re-joining, want 1", n)
	}
	if n := clock.armed(); n != 1 {
		t.Errorf("%d timers armed after re-joining, want 1", n)
	}
	// Another step closes the first one and stops its timer.
	if _, err := inst.BeginStep(ctx, "enter PIN 000500000001", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := clock.armed(); n != 1 {
		t.Errorf("%d timers armed after switching steps, want 1", n)
	}
	clock.Advance(time.Hour)
	clock.noneFired(t, "at the closed step's deadline")
	envs := load(t, store, "step-switch")
	if got := []string{envs[len(envs)-2].Type, envs[len(envs)-1].Type}; got[0] != "step.completed" || got[1] != "step.deadline_set" {
		t.Errorf("switching steps stored %v, want step.completed then step.deadline_set", got)
	}
	for name, c := range map[string]context.Context{"first": first, "re-joined": again} {
		if c.Err() == nil || errors.Is(context.Cause(c), engine.ErrStepTimedOut) {
			t.Errorf("%s context of the closed step: err %v cause %v; want cancelled, not timed out", name, c.Err(), context.Cause(c))
		}
	}
	if s, _ := inst.OpenStep(); s != "enter PIN 000500000001" {
		t.Errorf("open step %q", s)
	}
	if err := inst.EndStep(ctx, "insert card 1"); !errors.Is(err, engine.ErrStepTimedOut) {
		t.Errorf("EndStep of a step that is not open: %v, want ErrStepTimedOut", err)
	}
}

// TestStepDeadlineSurvivesRestart: a deadline is an event, so a new
// process re-arms it. The process stops (engine and store closed) before
// the deadline; the clock moves on while nothing runs; the new process
// records the timeout: at once if the deadline passed meanwhile, else
// when the clock reaches it.
func TestStepDeadlineSurvivesRestart(t *testing.T) {
	const timeout = 10 * time.Minute
	cases := []struct {
		name string
		// stopped is how far the clock moves while no engine runs.
		stopped time.Duration
	}{
		{"deadline still ahead at restart", timeout / 2},
		{"deadline passed while stopped", timeout + time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			store := openStore(t, dir)
			clock := newFakeClock()
			eng := newEngine(t, store, clock)
			const id = "step-restart"
			inst := startGenerate(t, eng, id)
			if _, err := inst.BeginStep(ctx, "confirm start", timeout); err != nil {
				t.Fatal(err)
			}
			pos := inst.Position()
			_, deadline := inst.OpenStep()

			eng.Close()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			if n := clock.armed(); n != 0 {
				t.Fatalf("%d timers armed after Close, want 0", n)
			}
			clock.Advance(c.stopped)
			clock.noneFired(t, "while no engine runs")
			if inst.Position() != pos || inst.Phase() != backupkey.PhaseCreated {
				t.Fatalf("the stopped engine recorded something: position %d phase %q", inst.Position(), inst.Phase())
			}

			store2 := openStore(t, dir)
			eng2 := newEngine(t, store2, clock)
			inst2 := mustGet(t, eng2, id)
			if ahead := clock.Until(deadline); ahead > 0 {
				// Re-armed, and it waits for its time.
				if n := clock.armed(); n != 1 {
					t.Fatalf("%d timers armed after Open with the deadline %s ahead, want 1", n, ahead)
				}
				clock.Advance(ahead - time.Nanosecond)
				clock.noneFired(t, "a nanosecond before the re-armed deadline")
				if inst2.Position() != pos || inst2.Phase() != backupkey.PhaseCreated {
					t.Fatalf("before the re-armed deadline: position %d phase %q, want %d created", inst2.Position(), inst2.Phase(), pos)
				}
				clock.Advance(time.Nanosecond)
			}
			clock.waitFired(t, "the re-armed deadline")

			if inst2.Phase() != backupkey.PhaseCreatedPaused || inst2.Position() != pos+1 {
				t.Fatalf("phase %q position %d after the re-armed timeout, want %q %d", inst2.Phase(), inst2.Position(), backupkey.PhaseCreatedPaused, pos+1)
			}
			e, p := lastPayload(t, store2, id)
			to, ok := p.(*events.StepTimedOut)
			if !ok || to.Step != "confirm start" || !to.Deadline.Equal(deadline) {
				t.Fatalf("last event %s %#v, want step.timed_out with the persisted deadline %s", e.Type, p, deadline)
			}
			if want := deadline.Add(max(c.stopped-timeout, 0)); !e.Time.Equal(want) {
				t.Errorf("timeout recorded at %s, want %s", e.Time, want)
			}
			if n := countType(t, store2, id, "step.timed_out"); n != 1 {
				t.Errorf("%d step.timed_out events, want 1", n)
			}
			if err := inst2.TimerError(); err != nil {
				t.Errorf("TimerError() = %v", err)
			}
			if err := events.VerifyChain(load(t, store2, id)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestClosedEngineRecordsNoTimeout: Close stops every deadline timer; a
// deadline that passes afterwards records nothing (the next Open
// handles it).
func TestClosedEngineRecordsNoTimeout(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	clock := newFakeClock()
	eng := newEngine(t, store, clock)
	ids := []string{"step-closed-1", "step-closed-2"}
	for n, id := range ids {
		inst := startGenerate(t, eng, id)
		if _, err := inst.BeginStep(ctx, "confirm start", time.Duration(n+1)*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := clock.armed(); n != len(ids) {
		t.Fatalf("%d timers armed, want %d", n, len(ids))
	}
	eng.Close()
	if n := clock.armed(); n != 0 {
		t.Fatalf("%d timers armed after Close, want 0", n)
	}
	clock.Advance(time.Hour)
	clock.noneFired(t, "after Close")
	for _, id := range ids {
		if n := countType(t, store, id, "step.timed_out"); n != 0 {
			t.Errorf("%s: a closed engine recorded %d timeouts", id, n)
		}
	}
}
