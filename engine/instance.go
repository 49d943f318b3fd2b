package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/looplab/fsm"

	"github.com/ceremony-hsm/ceremony/events"
)

// Instance is one ceremony: its machine, its folded state and where its
// log ends. Safe for concurrent use.
type Instance struct {
	eng *Engine
	def *Definition
	id  string

	mu          sync.Mutex
	machine     *fsm.FSM
	state       State
	position    uint64
	lastSeq     uint64
	lastHash    string
	lastEventID string
	started     time.Time
	updated     time.Time
	open        openStep // the step whose deadline runs, if any
	timerErr    error
	paused      string // the step that timed out, until retried
	tally       map[string]*tallied
}

// tallied is how many events of one type a ceremony has, and the last.
type tallied struct {
	n    int
	last events.Payload
}

func newInstance(e *Engine, d *Definition, id string) *Instance {
	return &Instance{eng: e, def: d, id: id, machine: d.newMachine(), state: d.NewState()}
}

// ID returns the ceremony id.
func (i *Instance) ID() string { return i.id }

// Kind returns the ceremony kind.
func (i *Instance) Kind() string { return i.def.Kind }

// Phase returns the machine's current phase.
func (i *Instance) Phase() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.machine.Current()
}

// Ended reports whether the ceremony is in a terminal phase.
func (i *Instance) Ended() bool { return i.def.IsTerminal(i.Phase()) }

// Position returns the number of events recorded.
func (i *Instance) Position() uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.position
}

// LastHash returns the hash of the ceremony's last event.
func (i *Instance) LastHash() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lastHash
}

// Tally returns how many events of type typ the ceremony has, and the
// last of them (nil when none): a fact every kind has in common (e.g. a
// sign-off) is counted here rather than in each kind's state.
func (i *Instance) Tally(typ string) (int, events.Payload) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if t := i.tally[typ]; t != nil {
		return t.n, t.last
	}
	return 0, nil
}

// View calls fn with the state under the instance lock. fn must not keep
// the state or call back into the instance.
func (i *Instance) View(fn func(State)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	fn(i.state)
}

// Read calls fn with inst's state as an S under the instance lock; a state
// of another type is an error naming both (ErrStateType), never a panic.
// fn must not keep the state or call back into the instance.
func Read[S State](inst *Instance, fn func(S)) error {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	s, ok := inst.state.(S)
	if !ok {
		var want S
		return fmt.Errorf("engine: ceremony %s (%s): state %T, want %T: %w", inst.id, inst.def.Kind, inst.state, want, ErrStateType)
	}
	fn(s)
	return nil
}

// CeremonySummary is one row of the ceremony list.
type CeremonySummary struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Phase    string    `json:"phase"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Events   uint64    `json:"events"`
	Ended    bool      `json:"ended"`
	OpenStep string    `json:"open_step,omitempty"`
	Deadline time.Time `json:"deadline,omitempty"`
}

// Record turns p into the ceremony's next event: it checks the machine,
// appends to the store with the expected last sequence, then applies the
// event. On a conflict (another writer appended first) the instance
// reloads what was appended and returns the *events.ConflictError: the
// caller re-decides. The event's causation id is the previous event's id.
func (i *Instance) Record(ctx context.Context, src events.Source, p events.Payload) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.recordLocked(ctx, src, p)
}

func (i *Instance) recordLocked(ctx context.Context, src events.Source, p events.Payload) error {
	typ := p.EventType()
	phase := i.machine.Current()
	if i.def.IsTerminal(phase) && !i.def.isAnnotation(typ) {
		return &TransitionError{CeremonyID: i.id, Phase: phase, Event: typ, Err: ErrEnded}
	}
	if _, err := i.eng.reg.CurrentVersion(typ); err != nil {
		return fmt.Errorf("engine: ceremony %s: record: %w", i.id, err)
	}
	if phase == preStart && typ != i.def.First {
		return &TransitionError{CeremonyID: i.id, Phase: phase, Event: typ, Err: ErrNotAllowed}
	}
	switch {
	case i.def.isTransition(typ):
		if !i.machine.Can(typ) {
			return &TransitionError{CeremonyID: i.id, Phase: phase, Event: typ, Err: ErrNotAllowed}
		}
	case i.def.isAnnotation(typ):
	case !i.def.acceptsData(phase, typ):
		return &TransitionError{CeremonyID: i.id, Phase: phase, Event: typ, Err: ErrUndeclared}
	}
	_, version, raw, err := i.eng.reg.Marshal(p)
	if err != nil {
		return err
	}
	env := events.Envelope{
		ID:          i.eng.newID(),
		CeremonyID:  i.id,
		Kind:        i.def.Kind,
		Type:        typ,
		Version:     version,
		Position:    i.position + 1,
		Time:        i.eng.clock.Now().UTC(),
		Source:      src,
		CausationID: i.lastEventID,
		Payload:     raw,
	}
	events.Seal(&env, i.lastHash)
	sealed, err := events.EncodeSealed(env)
	if err != nil {
		return err
	}
	if err := i.eng.checkRunnerLease(i.id); err != nil {
		return err
	}
	var seq uint64
	if sa, ok := i.eng.store.(events.SealedAppender); ok {
		seq, err = sa.AppendSealed(ctx, i.lastSeq, sealed) // no decode again
	} else {
		seq, err = i.eng.store.Append(ctx, i.id, env.ID, i.lastSeq, sealed.Bytes())
	}
	if err != nil {
		if errors.Is(err, events.ErrConflict) {
			if rerr := i.reloadLocked(ctx); rerr != nil {
				return fmt.Errorf("%w (and reloading failed: %v)", err, rerr)
			}
		}
		return fmt.Errorf("engine: ceremony %s: record %s: %w", i.id, typ, err)
	}
	if err := i.applyLocked(ctx, env, p, seq); err != nil {
		// The machine allowed it a moment ago; this is a bug, not bad input.
		return fmt.Errorf("engine: ceremony %s: apply %s after append: %w", i.id, typ, err)
	}
	i.eng.projectOnce(seq, env, p)
	i.armLocked()
	return nil
}

// applyLocked folds one stored event: machine first, then state.
func (i *Instance) applyLocked(ctx context.Context, env events.Envelope, p events.Payload, seq uint64) error {
	phase := i.machine.Current()
	if i.def.IsTerminal(phase) && !i.def.isAnnotation(env.Type) {
		// Record refuses these (ErrEnded); a stored one is a broken history.
		return fmt.Errorf("%s after the ceremony ended in phase %q", env.Type, phase)
	}
	after := phase
	switch {
	case i.def.isTransition(env.Type):
		if err := i.machine.Event(ctx, env.Type); err != nil {
			return fmt.Errorf("%s in phase %q: %w", env.Type, phase, err)
		}
		after = i.machine.Current()
	case phase == preStart:
		return fmt.Errorf("%s cannot open a %s ceremony (want %s)", env.Type, i.def.Kind, i.def.First)
	case i.def.isAnnotation(env.Type):
	case !i.def.acceptsData(phase, env.Type):
		return fmt.Errorf("%s in phase %q: %w", env.Type, phase, ErrUndeclared)
	}
	i.state.Apply(env, p)
	if i.tally == nil {
		i.tally = map[string]*tallied{}
	}
	if t := i.tally[env.Type]; t != nil {
		t.n, t.last = t.n+1, p
	} else {
		i.tally[env.Type] = &tallied{n: 1, last: p}
	}
	if i.position == 0 {
		i.started = env.Time
	}
	i.position = env.Position
	i.lastSeq = seq
	i.lastHash = env.Hash
	i.lastEventID = env.ID
	i.updated = env.Time
	i.trackStepLocked(p)
	if i.def.IsTerminal(after) {
		i.open = openStep{}
	}
	return nil
}

// reloadLocked applies the events other writers appended since ours.
func (i *Instance) reloadLocked(ctx context.Context) error {
	recs, err := i.eng.store.Load(ctx, i.id)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Position <= i.position {
			continue
		}
		p, err := i.eng.reg.DecodePayload(r.Envelope)
		if err != nil {
			return err
		}
		if err := i.applyLocked(ctx, r.Envelope, p, r.Seq); err != nil {
			return err
		}
		i.eng.projectOnce(r.Seq, r.Envelope, p)
	}
	i.armLocked()
	return nil
}

// Refresh applies events appended by other processes (e.g. an abort).
func (i *Instance) Refresh(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.reloadLocked(ctx)
}

// Summary returns the ceremony list row of this instance.
func (i *Instance) Summary() CeremonySummary {
	i.mu.Lock()
	defer i.mu.Unlock()
	return CeremonySummary{
		ID: i.id, Kind: i.def.Kind, Phase: i.machine.Current(),
		Started: i.started, Updated: i.updated, Events: i.position,
		Ended: i.def.IsTerminal(i.machine.Current()), OpenStep: i.open.step, Deadline: i.open.at,
	}
}
