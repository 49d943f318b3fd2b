package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// openStore opens the real JetStream store on dir and closes it when the
// test ends (Close is idempotent, so a test may close it earlier).
func openStore(t *testing.T, dir string) *jetstream.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open the JetStream store on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the JetStream store: %v", err)
		}
	})
	return s
}

// newEngine builds an engine over store with the Backup Key definitions,
// opens it (replaying the store) and closes it when the test ends.
func newEngine(t *testing.T, store events.Store, clock engine.Clock) *engine.Engine {
	t.Helper()
	eng, err := engine.New(engine.Config{
		Store:       store,
		Registry:    kinds.Registry(),
		Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()},
		Clock:       clock,
	})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatalf("engine Open: %v", err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// epoch is where the tests' fake clocks start.
var epoch = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

// stepClock is a fake clock that moves one second per Now, so that event
// times are deterministic and increasing. Its timers follow it.
type stepClock struct {
	mu sync.Mutex
	*clockwork.FakeClock
}

func newStepClock() *stepClock {
	return &stepClock{FakeClock: clockwork.NewFakeClockAt(epoch)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Advance(time.Second)
	return c.FakeClock.Now()
}

// fakeClock is a clockwork fake clock that keeps track of the timers the
// engine arms on it. Time moves only by Advance; a test waits for a timer
// that fired with waitFired and counts the ones still armed with armed.
type fakeClock struct {
	*clockwork.FakeClock
	fired chan struct{} // a value each time a timer's function has returned

	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	clockwork.Timer
	at      time.Time
	stopped atomic.Bool
}

// Stop records that the engine stopped the timer.
func (t *fakeTimer) Stop() bool {
	t.stopped.Store(true)
	return t.Timer.Stop()
}

func newFakeClock() *fakeClock {
	return &fakeClock{FakeClock: clockwork.NewFakeClockAt(epoch), fired: make(chan struct{}, 16)}
}

// AfterFunc arms a fake timer; like time.AfterFunc, it runs f in its own
// goroutine, at once if d <= 0.
func (c *fakeClock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{at: c.FakeClock.Now().Add(d)}
	tm.Timer = c.FakeClock.AfterFunc(d, func() {
		f()
		c.fired <- struct{}{}
	})
	c.timers = append(c.timers, tm)
	return tm
}

// armed returns how many timers are armed: neither stopped nor due. A
// fake timer fires exactly when Advance reaches its time.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.FakeClock.Now(), 0
	for _, tm := range c.timers {
		if !tm.stopped.Load() && tm.at.After(now) {
			n++
		}
	}
	return n
}

// waitFired waits until the function of a timer that came due has
// returned: by then the engine has recorded the timeout (or found it
// stale). liveness only bounds a hang; nothing waits for time to pass.
func (c *fakeClock) waitFired(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.fired:
	case <-time.After(liveness):
		t.Fatalf("%s: the deadline's timer function did not return within %s", what, liveness)
	}
}

// noneFired fails the test if a timer's function has run since the last
// waitFired.
func (c *fakeClock) noneFired(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.fired:
		t.Fatalf("%s: a deadline timer fired", what)
	default:
	}
}

const (
	keySetA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	reader  = "Virtual PCD 00 00"
	hsm     = "softhsm2:token=backup"
)

// samples is a realistic payload for each event type the tests record,
// by type.
func samples() map[string]events.Payload {
	out := map[string]events.Payload{}
	for _, p := range []events.Payload{
		&events.GenerateStarted{Operator: "alice", Threshold: 2, Shares: 3, Reader: reader, HSM: hsm},
		&events.LoadStarted{Operator: "bob", KeySetID: keySetA, Reader: reader, HSM: hsm},
		&events.WriteConfirmed{},
		&events.ReadConfirmed{},
		&events.HSMKeyLoaded{HSM: hsm, KeySetID: keySetA, KCV: "a1b2c3", Label: "backup-key-aaaaaaaa"},
		&events.KeySetVoided{KeySetID: keySetA, Written: []string{"000500000001"}, Reason: "stopped with 1 of 3 shares written"},
		&events.CeremonyAborted{Reason: "operator cancelled", By: "alice"},
		&events.CeremonyFailed{Reason: "HSM refused the key", Recovery: "fix the HSM, then run a load"},
		&events.StepTimedOut{Step: "insert card 1", Deadline: time.Date(2025, 3, 14, 10, 2, 0, 0, time.UTC)},
		&events.StepRetried{Step: "after timeout"},
		&events.CardPresented{Reader: reader, ReaderClass: "host-pinpad", Serial: "000500000001", Slot: 1},
	} {
		out[p.EventType()] = p
	}
	return out
}

// sample returns the sample payload of typ, failing the test if there is none.
func sample(t *testing.T, typ string) events.Payload {
	t.Helper()
	p, ok := samples()[typ]
	if !ok {
		t.Fatalf("test has no sample payload for %q: add one to samples()", typ)
	}
	return p
}

// record records the sample payload of each type in turn.
func record(t *testing.T, inst *engine.Instance, types ...string) {
	t.Helper()
	for _, typ := range types {
		if err := inst.Record(context.Background(), events.SourceEngine, sample(t, typ)); err != nil {
			t.Fatalf("record %s in phase %q: %v", typ, inst.Phase(), err)
		}
	}
}

// load returns the stored envelopes of one ceremony, checking that the
// stored bytes decode to them.
func load(t *testing.T, store events.Store, id string) []events.Envelope {
	t.Helper()
	recs, err := store.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	out := make([]events.Envelope, 0, len(recs))
	for _, r := range recs {
		d, err := events.Decode(r.Data)
		if err != nil {
			t.Fatalf("Load(%s): stored bytes of position %d do not decode: %v", id, r.Position, err)
		}
		if d.Hash != r.Hash || d.Position != r.Position {
			t.Fatalf("Load(%s): record %d differs from its stored bytes", id, r.Position)
		}
		out = append(out, r.Envelope)
	}
	return out
}

// stateOf returns a copy of a Backup Key instance's folded state.
func stateOf(t *testing.T, inst *engine.Instance) backupkey.State {
	t.Helper()
	var out backupkey.State
	inst.View(func(s engine.State) {
		st, ok := s.(*backupkey.State)
		if !ok {
			t.Fatalf("state is %T, want *backupkey.State", s)
		}
		out = *st
		out.Written = copyMap(st.Written)
		out.Accepted = copyMap(st.Accepted)
	})
	return out
}

func copyMap(m map[int]string) map[int]string {
	out := make(map[int]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sameInstance fails the test unless a and b have the same phase,
// position, state, open step and summary.
func sameInstance(t *testing.T, what string, a, b *engine.Instance) {
	t.Helper()
	if a.Phase() != b.Phase() || a.Position() != b.Position() {
		t.Errorf("%s: phase %q position %d, want %q position %d", what, b.Phase(), b.Position(), a.Phase(), a.Position())
	}
	if sa, sb := stateOf(t, a), stateOf(t, b); !reflect.DeepEqual(sa, sb) {
		t.Errorf("%s: state\n%+v\nwant\n%+v", what, sb, sa)
	}
	as, aat := a.OpenStep()
	bs, bat := b.OpenStep()
	if as != bs || !aat.Equal(bat) {
		t.Errorf("%s: open step %q until %s, want %q until %s", what, bs, bat, as, aat)
	}
	if sa, sb := a.Summary(), b.Summary(); sa.ID != sb.ID || sa.Kind != sb.Kind || sa.Phase != sb.Phase ||
		sa.Events != sb.Events || sa.Ended != sb.Ended || !sa.Started.Equal(sb.Started) || !sa.Updated.Equal(sb.Updated) ||
		sa.OpenStep != sb.OpenStep || !sa.Deadline.Equal(sb.Deadline) {
		t.Errorf("%s: summary %+v, want %+v", what, sb, sa)
	}
}

// isErr reports whether err wraps target, naming both on failure.
func isErr(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return fmt.Errorf("error %v, want one wrapping %q", err, target)
}
