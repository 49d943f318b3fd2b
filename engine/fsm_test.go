package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

const (
	evGenerateStarted = "backupkey.generate_started"
	evLoadStarted     = "backupkey.load_started"
	evWriteConfirmed  = "backupkey.write_confirmed"
	evReadConfirmed   = "backupkey.read_confirmed"
	evKeyLoaded       = "hsm.key_loaded"
	evKeySetVoided    = "backupkey.key_set_voided"
	evAborted         = "ceremony.aborted"
	evFailed          = "ceremony.failed"
	evTimedOut        = "step.timed_out"
	evRetried         = "step.retried"
	evCardPresented   = "card.presented"
)

// machineCase is a definition and, for each of its phases, the events
// (after the first) that lead there from the start.
type machineCase struct {
	def   *engine.Definition
	paths map[string][]string
}

func machineCases() []machineCase {
	return []machineCase{
		{backupkey.GenerateDefinition(), map[string][]string{
			backupkey.PhaseCreated:       {},
			backupkey.PhaseCreatedPaused: {evTimedOut},
			backupkey.PhaseWriting:       {evWriteConfirmed},
			backupkey.PhaseWritingPaused: {evWriteConfirmed, evTimedOut},
			backupkey.PhaseReading:       {evWriteConfirmed, evReadConfirmed},
			backupkey.PhaseReadingPaused: {evWriteConfirmed, evReadConfirmed, evTimedOut},
			backupkey.PhaseCompleted:     {evWriteConfirmed, evReadConfirmed, evKeyLoaded},
			backupkey.PhaseAborted:       {evAborted},
			backupkey.PhaseFailed:        {evFailed},
			backupkey.PhaseVoid:          {evWriteConfirmed, evKeySetVoided},
		}},
		{backupkey.LoadDefinition(), map[string][]string{
			backupkey.PhaseCreated:       {},
			backupkey.PhaseCreatedPaused: {evTimedOut},
			backupkey.PhaseReading:       {evReadConfirmed},
			backupkey.PhaseReadingPaused: {evReadConfirmed, evTimedOut},
			backupkey.PhaseCompleted:     {evReadConfirmed, evKeyLoaded},
			backupkey.PhaseAborted:       {evAborted},
			backupkey.PhaseFailed:        {evFailed},
		}},
	}
}

// phasesOf returns every phase a definition names, sorted.
func phasesOf(d *engine.Definition) []string {
	set := map[string]bool{d.Initial: true}
	for _, tr := range d.Transitions {
		set[tr.To] = true
		for _, f := range tr.From {
			set[f] = true
		}
	}
	for _, p := range d.Terminal {
		set[p] = true
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// machineEvents returns the first event and every transition event, sorted.
func machineEvents(d *engine.Definition) []string {
	set := map[string]bool{d.First: true}
	for _, tr := range d.Transitions {
		set[tr.Event] = true
	}
	var out []string
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// edge returns the target of (event, from) in d, if the definition lists it.
func edge(d *engine.Definition, event, from string) (string, bool) {
	for _, tr := range d.Transitions {
		if tr.Event != event {
			continue
		}
		for _, f := range tr.From {
			if f == from {
				return tr.To, true
			}
		}
	}
	return "", false
}

// startIn starts a ceremony of d with id and drives it into phase.
func startIn(t *testing.T, eng *engine.Engine, mc machineCase, id, phase string) *engine.Instance {
	t.Helper()
	inst, err := eng.Start(context.Background(), mc.def.Kind, id, events.SourceOperator, sample(t, mc.def.First))
	if err != nil {
		t.Fatalf("start %s: %v", mc.def.Kind, err)
	}
	record(t, inst, mc.paths[phase]...)
	if got := inst.Phase(); got != phase {
		t.Fatalf("test setup: path to %q ends in %q", phase, got)
	}
	return inst
}

// TestEveryTransition records every transition event in every phase of
// each Backup Key machine: it is allowed exactly when the definition lists
// (event, phase), and a refused event is an error that stores nothing.
func TestEveryTransition(t *testing.T) {
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, newStepClock())
	ctx := context.Background()
	n := 0
	for _, mc := range machineCases() {
		var listed []string
		for p := range mc.paths {
			listed = append(listed, p)
		}
		sort.Strings(listed)
		if fmt.Sprint(listed) != fmt.Sprint(phasesOf(mc.def)) {
			t.Fatalf("%s: the test drives into phases %v, the definition has %v", mc.def.Kind, listed, phasesOf(mc.def))
		}
		for _, phase := range phasesOf(mc.def) {
			for _, ev := range machineEvents(mc.def) {
				t.Run(mc.def.Kind+"/"+phase+"/"+ev, func(t *testing.T) {
					n++
					id := fmt.Sprintf("fsm-%d", n)
					inst := startIn(t, eng, mc, id, phase)
					pos := inst.Position()
					stored := len(load(t, store, id))

					err := inst.Record(ctx, events.SourceOperator, sample(t, ev))

					to, allowed := edge(mc.def, ev, phase)
					switch {
					case allowed && !mc.def.IsTerminal(phase):
						if err != nil {
							t.Fatalf("%s in %q: %v; the definition allows it", ev, phase, err)
						}
						if inst.Phase() != to || inst.Position() != pos+1 {
							t.Fatalf("after %s in %q: phase %q position %d, want %q position %d", ev, phase, inst.Phase(), inst.Position(), to, pos+1)
						}
						if got := load(t, store, id); len(got) != stored+1 || got[len(got)-1].Type != ev {
							t.Fatalf("after %s: %d events stored, want %d ending with it", ev, len(got), stored+1)
						}
						if mc.def.IsTerminal(to) != inst.Ended() {
							t.Errorf("Ended() = %v in %q", inst.Ended(), to)
						}
						return
					case mc.def.IsTerminal(phase):
						if !errors.Is(err, engine.ErrEnded) {
							t.Fatalf("%s in terminal %q: %v, want ErrEnded", ev, phase, err)
						}
					default:
						if !errors.Is(err, engine.ErrNotAllowed) {
							t.Fatalf("%s in %q: %v, want ErrNotAllowed", ev, phase, err)
						}
					}
					var te *engine.TransitionError
					if !errors.As(err, &te) || te.Phase != phase || te.Event != ev || te.CeremonyID != id {
						t.Errorf("error %v (%T), want a *TransitionError naming %s, %q and %s", err, err, ev, phase, id)
					}
					if inst.Phase() != phase || inst.Position() != pos {
						t.Errorf("after a refused %s: phase %q position %d, want %q position %d", ev, inst.Phase(), inst.Position(), phase, pos)
					}
					if got := len(load(t, store, id)); got != stored {
						t.Errorf("a refused %s was stored: %d events, want %d", ev, got, stored)
					}
				})
			}
		}
	}
}

// TestDataEvents: an event that is no transition changes no phase; it is
// allowed in the live phases that declare it (a paused phase takes what
// the phase it pauses declares), refused with ErrUndeclared in the others
// and with ErrEnded once the ceremony has ended.
func TestDataEvents(t *testing.T) {
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, newStepClock())
	ctx := context.Background()
	n := 0
	for _, mc := range machineCases() {
		for _, phase := range phasesOf(mc.def) {
			t.Run(mc.def.Kind+"/"+phase, func(t *testing.T) {
				n++
				id := fmt.Sprintf("data-%d", n)
				inst := startIn(t, eng, mc, id, phase)
				pos := inst.Position()
				err := inst.Record(ctx, events.SourceReader, sample(t, evCardPresented))
				if mc.def.IsTerminal(phase) {
					if !errors.Is(err, engine.ErrEnded) {
						t.Fatalf("card.presented in terminal %q: %v, want ErrEnded", phase, err)
					}
					if got := len(load(t, store, id)); uint64(got) != pos || inst.Position() != pos {
						t.Fatalf("a refused card.presented was stored (%d events, position %d, want %d)", got, inst.Position(), pos)
					}
					return
				}
				if !slices.Contains(mc.def.DataEvents(phase), evCardPresented) {
					if !errors.Is(err, engine.ErrUndeclared) {
						t.Fatalf("card.presented in %q, which does not declare it: %v, want ErrUndeclared", phase, err)
					}
					if got := len(load(t, store, id)); uint64(got) != pos {
						t.Fatalf("a refused card.presented was stored")
					}
					return
				}
				if err != nil {
					t.Fatalf("card.presented in %q: %v", phase, err)
				}
				if inst.Phase() != phase || inst.Position() != pos+1 {
					t.Fatalf("after card.presented: phase %q position %d, want %q position %d", inst.Phase(), inst.Position(), phase, pos+1)
				}
			})
		}
	}
}

// TestFirstEvent: a ceremony opens only with its definition's First event;
// a refused start stores nothing and leaves no instance behind.
func TestFirstEvent(t *testing.T) {
	store := openStore(t, t.TempDir())
	eng := newEngine(t, store, newStepClock())
	ctx := context.Background()
	cases := []struct {
		name  string
		kind  string
		id    string
		first events.Payload
		want  error // nil: started
	}{
		{"generate opens with generate_started", backupkey.KindGenerate, "first-ok-g", sample(t, evGenerateStarted), nil},
		{"load opens with load_started", backupkey.KindLoad, "first-ok-l", sample(t, evLoadStarted), nil},
		{"a data event", backupkey.KindGenerate, "first-data", sample(t, evCardPresented), engine.ErrNotAllowed},
		{"a transition event", backupkey.KindGenerate, "first-trans", sample(t, evWriteConfirmed), engine.ErrNotAllowed},
		{"an abort", backupkey.KindLoad, "first-abort", sample(t, evAborted), engine.ErrNotAllowed},
		{"the other kind's first event", backupkey.KindGenerate, "first-other", sample(t, evLoadStarted), engine.ErrNotAllowed},
		{"the other kind's first event (load)", backupkey.KindLoad, "first-other-l", sample(t, evGenerateStarted), engine.ErrNotAllowed},
		{"unknown kind", "share-copy", "first-kind", sample(t, evGenerateStarted), engine.ErrUnknownKind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inst, err := eng.Start(ctx, c.kind, c.id, events.SourceOperator, c.first)
			stored := load(t, store, c.id)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				if inst.Phase() != backupkey.PhaseCreated || inst.Position() != 1 || len(stored) != 1 {
					t.Fatalf("after Start: phase %q position %d, %d stored", inst.Phase(), inst.Position(), len(stored))
				}
				if got, err := eng.Get(c.id); err != nil || got != inst {
					t.Fatalf("Get(%s) = %v, %v; want the started instance", c.id, got, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Start: %v, want %q", err, c.want)
			}
			if len(stored) != 0 {
				t.Errorf("a refused start stored %d events", len(stored))
			}
			if _, err := eng.Get(c.id); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Get after a refused start: %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("the first event cannot come again", func(t *testing.T) {
		inst := startIn(t, eng, machineCases()[0], "first-again", backupkey.PhaseCreated)
		err := inst.Record(ctx, events.SourceOperator, sample(t, evGenerateStarted))
		if !errors.Is(err, engine.ErrNotAllowed) || inst.Position() != 1 {
			t.Fatalf("second generate_started: %v, position %d; want ErrNotAllowed, position 1", err, inst.Position())
		}
	})
	t.Run("an existing id", func(t *testing.T) {
		_, err := eng.Start(ctx, backupkey.KindGenerate, "first-ok-g", events.SourceOperator, sample(t, evGenerateStarted))
		if !errors.Is(err, engine.ErrExists) {
			t.Fatalf("Start of an existing id: %v, want ErrExists", err)
		}
		if got := len(load(t, store, "first-ok-g")); got != 1 {
			t.Errorf("%d events stored, want 1", got)
		}
	})
	t.Run("an id that cannot name a ceremony", func(t *testing.T) {
		for _, id := range []string{"", "a.b", "a b", "a>"} {
			if _, err := eng.Start(ctx, backupkey.KindGenerate, id, events.SourceOperator, sample(t, evGenerateStarted)); err == nil {
				t.Errorf("Start(%q) accepted the id", id)
			}
		}
	})
	t.Run("an unregistered payload type", func(t *testing.T) {
		inst := startIn(t, eng, machineCases()[0], "first-unreg", backupkey.PhaseCreated)
		if err := inst.Record(ctx, events.SourceOperator, unregistered{}); !errors.Is(err, events.ErrUnknownType) {
			t.Fatalf("Record of an unregistered type: %v, want ErrUnknownType", err)
		}
		if inst.Position() != 1 || len(load(t, store, "first-unreg")) != 1 {
			t.Error("an unregistered event was stored")
		}
	})
}

type unregistered struct{}

func (unregistered) EventType() string { return "test.unregistered" }
