package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// seqRecorder is a projection that remembers what it was fed.
type seqRecorder struct {
	mu    sync.Mutex
	seqs  []uint64
	types []string
}

func (r *seqRecorder) Apply(seq uint64, env events.Envelope, _ events.Payload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, seq)
	r.types = append(r.types, env.Type)
}

func openWith(t *testing.T, store events.Store, p engine.Projection) *engine.Engine {
	t.Helper()
	eng, err := engine.New(engine.Config{Store: store, Registry: kinds.Registry(),
		Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()}, Projections: []engine.Projection{p}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// TestProjectionsSeeEveryEventOnce: a recorded event reaches the
// projections once, with its stream sequence; a new engine's Open feeds
// every stored event in stream order; a refused event never does.
func TestProjectionsSeeEveryEventOnce(t *testing.T) {
	store := &memStore{}
	first := &seqRecorder{}
	eng := openWith(t, store, first)
	inst := startGenerate(t, eng, "proj-1")
	record(t, inst, evWriteConfirmed)
	if err := inst.Record(context.Background(), events.SourceEngine, sample(t, evGenerateStarted)); err == nil {
		t.Fatal("a second opening event was recorded")
	}
	want := []uint64{1, 2}
	if len(first.seqs) != len(want) || first.seqs[0] != 1 || first.seqs[1] != 2 {
		t.Fatalf("projection fed %v (%v), want sequences %v", first.seqs, first.types, want)
	}
	again := &seqRecorder{}
	openWith(t, store, again)
	if len(again.seqs) != 2 || again.seqs[0] != 1 || again.seqs[1] != 2 || again.types[1] != evWriteConfirmed {
		t.Fatalf("Open fed %v (%v), want the 2 stored events in order", again.seqs, again.types)
	}
}

// TestUndeclaredDataEventIsRefused: an event type the phase neither moves
// on nor declares is refused with ErrUndeclared (a share copy's event in
// a PIN change, say), and a stored one fails the rebuild.
func TestUndeclaredDataEventIsRefused(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	eng, err := engine.New(engine.Config{Store: store, Registry: kinds.Registry(), Definitions: kinds.Definitions()})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	pin, err := eng.Start(ctx, "pin-change", "pin-1", events.SourceOperator, &events.PINChangeStarted{Operator: "alice", Reader: reader, Slot: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	before := store.len()
	for _, p := range []events.Payload{
		&events.ShareCopied{Source: "000500000001", Target: "000500000002", KeySetID: keySetA, Index: 1},
		&events.KeyGenerated{KeySetID: keySetA, Threshold: 2, Shares: 3, KCV: "A1B2C3"},
		&events.ShareWritten{Serial: "000500000001", KeySetID: keySetA, Index: 1},
	} {
		err := pin.Record(ctx, events.SourceCard, p)
		var te *engine.TransitionError
		if !errors.Is(err, engine.ErrUndeclared) || !errors.As(err, &te) || te.Phase != "created" || te.Event != p.EventType() {
			t.Errorf("record %s into a PIN change: %v, want a TransitionError wrapping ErrUndeclared naming the phase and event", p.EventType(), err)
		}
	}
	if store.len() != before {
		t.Fatalf("refused events were stored: %d -> %d", before, store.len())
	}
	// A declared data event and the engine's step events are accepted.
	if err := pin.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: "000500000001", PIN: "PW3", TriesLeft: 3}); err != nil {
		t.Fatalf("a declared data event: %v", err)
	}
	if _, err := pin.BeginStep(ctx, "insert card", 60e9); err != nil {
		t.Fatalf("a step deadline: %v", err)
	}
}
