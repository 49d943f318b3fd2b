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

func TestStepTimesOut(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, nil)
	inst := startGenerate(t, eng, "step-timeout")

	sctx, err := inst.BeginStep(ctx, "confirm start", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	step, deadline := inst.OpenStep()
	if step != "confirm start" || deadline.IsZero() {
		t.Fatalf("OpenStep() = %q, %s; want the step and its deadline", step, deadline)
	}
	e, p := lastPayload(t, store, "step-timeout")
	if ds, ok := p.(*events.StepDeadlineSet); !ok || ds.Step != "confirm start" || !ds.Deadline.Equal(deadline) || e.Source != events.SourceEngine {
		t.Fatalf("last event %s %#v, want step.deadline_set of the step", e.Type, p)
	}

	select {
	case <-sctx.Done():
	case <-time.After(liveness):
		t.Fatalf("the step context was not cancelled within %s of a 50ms deadline", liveness)
	}
	if cause := context.Cause(sctx); !errors.Is(cause, engine.ErrStepTimedOut) {
		t.Fatalf("context.Cause = %v, want ErrStepTimedOut", cause)
	}
	// The timeout is recorded before the context is cancelled.
	if got := inst.Phase(); got != backupkey.PhaseCreatedPaused {
		t.Fatalf("phase %q after the timeout, want %q", got, backupkey.PhaseCreatedPaused)
	}
	e, p = lastPayload(t, store, "step-timeout")
	to, ok := p.(*events.StepTimedOut)
	if !ok || to.Step != "confirm start" || !to.Deadline.Equal(deadline) || e.Source != events.SourceEngine {
		t.Fatalf("last event %s %#v, want step.timed_out of the step", e.Type, p)
	}
	if e.Time.Before(deadline) {
		t.Errorf("timeout recorded at %s, before the deadline %s", e.Time, deadline)
	}
	if s, _ := inst.OpenStep(); s != "" {
		t.Errorf("open step %q after the timeout, want none", s)
	}
	if err := inst.TimerError(); err != nil {
		t.Errorf("TimerError() = %v", err)
	}

	pos := inst.Position()
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

func TestStepCompletedInTime(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, nil)
	inst := startGenerate(t, eng, "step-in-time")

	const timeout = 200 * time.Millisecond
	sctx, err := inst.BeginStep(ctx, "confirm start", timeout)
	if err != nil {
		t.Fatal(err)
	}
	_, deadline := inst.OpenStep()
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
	pos := inst.Position()

	// Wait past the deadline: no timeout may be recorded for a finished step.
	time.Sleep(time.Until(deadline) + 3*timeout)

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
	eng := newEngine(t, store, nil)
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
	// Another step closes the first one.
	if _, err := inst.BeginStep(ctx, "enter PIN 000500000001", time.Hour); err != nil {
		t.Fatal(err)
	}
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
// the deadline; the new one records the timeout.
func TestStepDeadlineSurvivesRestart(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		// passed: the deadline passes while nothing runs.
		passed bool
	}{
		{"deadline still ahead at restart", 300 * time.Millisecond, false},
		{"deadline passed while stopped", 100 * time.Millisecond, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			store := openStore(t, dir)
			eng := newEngine(t, store, nil)
			const id = "step-restart"
			inst := startGenerate(t, eng, id)
			if _, err := inst.BeginStep(ctx, "confirm start", c.timeout); err != nil {
				t.Fatal(err)
			}
			pos := inst.Position()
			_, deadline := inst.OpenStep()

			eng.Close()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) && !c.passed {
				t.Fatalf("test setup: the process took until after the %s deadline to stop", c.timeout)
			}
			if c.passed {
				time.Sleep(time.Until(deadline) + 50*time.Millisecond)
			}
			if inst.Position() != pos || inst.Phase() != backupkey.PhaseCreated {
				t.Fatalf("the stopped engine recorded something: position %d phase %q", inst.Position(), inst.Phase())
			}

			store2 := openStore(t, dir)
			eng2 := newEngine(t, store2, nil)
			inst2 := mustGet(t, eng2, id)
			waitFor(t, liveness, "the re-armed timeout", func() bool { return inst2.Phase() == backupkey.PhaseCreatedPaused })

			if inst2.Position() != pos+1 {
				t.Fatalf("position %d after the re-armed timeout, want %d", inst2.Position(), pos+1)
			}
			e, p := lastPayload(t, store2, id)
			to, ok := p.(*events.StepTimedOut)
			if !ok || to.Step != "confirm start" || !to.Deadline.Equal(deadline) {
				t.Fatalf("last event %s %#v, want step.timed_out with the persisted deadline %s", e.Type, p, deadline)
			}
			if e.Time.Before(deadline) {
				t.Errorf("timeout recorded at %s, before the deadline %s", e.Time, deadline)
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

// TestClosedEngineRecordsNoTimeout: after Close, a deadline that passes
// records nothing; the next Open handles it.
func TestClosedEngineRecordsNoTimeout(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, nil)
	inst := startGenerate(t, eng, "step-closed")
	if _, err := inst.BeginStep(ctx, "confirm start", 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	pos := inst.Position()
	_, deadline := inst.OpenStep()
	eng.Close()
	time.Sleep(time.Until(deadline) + 200*time.Millisecond)
	if got := len(load(t, store, "step-closed")); uint64(got) != pos || inst.Position() != pos {
		t.Fatalf("a closed engine recorded a timeout: %d events stored, want %d", got, pos)
	}
}
