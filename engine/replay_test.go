package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestReplayEqualsLive: the fold of the stored events equals the live
// instance, from the same engine, and from a new engine after the store
// was closed and opened again.
func TestReplayEqualsLive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	eng := newEngine(t, store, nil)

	const genID, loadID = "replay-gen", "replay-load"
	gen, err := eng.Start(ctx, backupkey.KindGenerate, genID, events.SourceOperator, sample(t, evGenerateStarted))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		src events.Source
		p   events.Payload
	}{
		{events.SourceOperator, &events.WriteConfirmed{}},
		{events.SourceEngine, &events.KeyGenerated{KeySetID: keySetA, Threshold: 2, Shares: 3, KCV: "a1b2c3",
			Commitments: []events.ShareCommitment{{Index: 1, Commitment: "c1"}, {Index: 2, Commitment: "c2"}, {Index: 3, Commitment: "c3"}}}},
		{events.SourceReader, &events.CardPresented{Reader: reader, ReaderClass: "class3-pinpad", Serial: "000500000001", Slot: 1}},
		{events.SourceCard, &events.PINRejected{Serial: "000500000001", PIN: "PW3", TriesLeft: 2}},
		{events.SourceCard, &events.PINVerified{Serial: "000500000001", PIN: "PW3", DefaultPIN: true}},
		{events.SourceEngine, &events.ShareWriteRequested{Serial: "000500000001", KeySetID: keySetA, Index: 1}},
		{events.SourceCard, &events.ShareWritten{Serial: "000500000001", KeySetID: keySetA, Index: 1}},
		{events.SourceEngine, &events.StepTimedOut{Step: "insert card 2", Deadline: time.Date(2025, 3, 14, 10, 2, 0, 0, time.UTC)}},
		{events.SourceOperator, &events.StepRetried{Step: "after timeout"}},
		{events.SourceEngine, &events.CardRefused{Serial: "000500000001", Code: "same-card", Message: "insert another card"}},
		{events.SourceEngine, &events.ShareWriteRequested{Serial: "000500000002", KeySetID: keySetA, Index: 2}},
	}
	for _, s := range steps {
		if err := gen.Record(ctx, s.src, s.p); err != nil {
			t.Fatalf("record %s: %v", s.p.EventType(), err)
		}
	}
	// An open step with a deadline far away: it must survive the replay.
	if _, err := gen.BeginStep(ctx, "remove card 000500000001", time.Hour); err != nil {
		t.Fatal(err)
	}
	ld, err := eng.Start(ctx, backupkey.KindLoad, loadID, events.SourceOperator, sample(t, evLoadStarted))
	if err != nil {
		t.Fatal(err)
	}
	record(t, ld, evReadConfirmed, evAborted)

	if gen.Phase() != backupkey.PhaseWriting || gen.Position() != uint64(len(steps)+2) {
		t.Fatalf("live generate: phase %q position %d", gen.Phase(), gen.Position())
	}
	if st := stateOf(t, gen); st.Pending == nil || st.Pending.Index != 2 || st.Written[1] != "000500000001" || st.Timeouts != 1 || st.WrongPINs != 1 {
		t.Fatalf("live generate state %+v does not show the recorded events", st)
	}
	for _, id := range []string{genID, loadID} {
		replayed, err := eng.Replay(ctx, id)
		if err != nil {
			t.Fatalf("Replay(%s): %v", id, err)
		}
		sameInstance(t, "Replay("+id+")", mustGet(t, eng, id), replayed)
	}
	if _, err := eng.Replay(ctx, "replay-nobody"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Replay of an unknown ceremony: %v, want ErrNotFound", err)
	}

	// Stop everything, open the store again, and a new engine rebuilds
	// the same instances from it.
	live := map[string]*engine.Instance{genID: gen, loadID: ld}
	eng.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store2 := openStore(t, dir)
	eng2 := newEngine(t, store2, nil)
	for id, inst := range live {
		sameInstance(t, "after reopen, "+id, inst, mustGet(t, eng2, id))
		replayed, err := eng2.Replay(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sameInstance(t, "after reopen, Replay("+id+")", inst, replayed)
	}
	// The rebuilt instance goes on where the old one stopped.
	if err := mustGet(t, eng2, genID).Record(ctx, events.SourceCard, &events.ShareWritten{Serial: "000500000002", KeySetID: keySetA, Index: 2}); err != nil {
		t.Fatalf("record after reopen: %v", err)
	}
	if err := events.VerifyChain(load(t, store2, genID)); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesBrokenHistory: a stored event the machine does not allow
// fails the rebuild; it is not skipped.
func TestOpenRefusesBrokenHistory(t *testing.T) {
	lines := readGolden(t)
	cases := []struct {
		name  string
		lines [][]byte
	}{
		{"an event missing", append(append([][]byte{}, lines[:3]...), lines[4:]...)},
		{"the first event missing", lines[1:]},
		{"two events swapped", append(append([][]byte{}, lines[:3]...), lines[4], lines[3])},
		{"a transition the machine does not allow", sealedLog(t, evGenerateStarted, evReadConfirmed)},
		{"a data event first", sealedLog(t, evCardPresented, evWriteConfirmed)},
		{"an event after the end", sealedLog(t, evGenerateStarted, evAborted, evCardPresented)},
		{"the first event twice", sealedLog(t, evGenerateStarted, evGenerateStarted)},
		{"a data event the phase does not declare", sealedLog(t, evGenerateStarted, evCardPresented)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The stores only check each event; they hold the broken log.
			// The JetStream store hands Replay each event as it reads it
			// (events.CeremonyReader), the memStore its Load.
			for name, store := range map[string]events.Store{"memStore": &memStore{}, "jetstream": openStore(t, t.TempDir())} {
				last, id := uint64(0), ""
				for _, b := range c.lines {
					e, err := events.Decode(b)
					if err != nil {
						t.Fatal(err)
					}
					if last, err = store.Append(context.Background(), e.CeremonyID, e.ID, last, b); err != nil {
						t.Fatal(err)
					}
					id = e.CeremonyID
				}
				eng, err := engine.New(engine.Config{Store: store, Registry: kinds.Registry(), Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()}})
				if err != nil {
					t.Fatal(err)
				}
				defer eng.Close()
				if err := eng.Open(context.Background()); !errors.Is(err, engine.ErrCorruptHistory) {
					t.Errorf("%s: Open of a broken log: %v, want ErrCorruptHistory", name, err)
				}
				if _, err := eng.Replay(context.Background(), id); !errors.Is(err, engine.ErrCorruptHistory) {
					t.Errorf("%s: Replay of a broken log: %v, want ErrCorruptHistory", name, err)
				}
			}
		})
	}
}

// sealedLog returns the stored bytes of a well-chained generate ceremony
// made of the sample payloads of types, whatever the machine says.
func sealedLog(t *testing.T, types ...string) [][]byte {
	t.Helper()
	reg := kinds.Registry()
	var out [][]byte
	prevHash, prevID := "", ""
	for i, typ := range types {
		_, version, raw, err := reg.Marshal(sample(t, typ))
		if err != nil {
			t.Fatal(err)
		}
		e := events.Envelope{
			ID: fmt.Sprintf("broken-%d", i+1), CeremonyID: "broken", Kind: backupkey.KindGenerate, Type: typ,
			Version: version, Position: uint64(i + 1), Time: time.Date(2025, 3, 14, 10, 0, i, 0, time.UTC),
			Source: events.SourceEngine, CausationID: prevID, Payload: raw,
		}
		events.Seal(&e, prevHash)
		b, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		prevHash, prevID = e.Hash, e.ID
	}
	return out
}
