package engine_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// goldenV1 is the committed schema v1 log (see events/golden_test.go).
var goldenV1 = filepath.Join("..", "testdata", "events", "v1", "backupkey-generate.jsonl")

const (
	goldenCeremony = "bkg-20250314-01"
	goldenKeySet   = "3f1c9a7e5b2d4c6a8e0f1a2b3c4d5e6f"
	goldenKCV      = "5e1a9c"
)

func readGolden(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open(goldenV1)
	if err != nil {
		t.Fatalf("golden v1 event log: %v", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("golden v1 event log is empty")
	}
	return lines
}

// goldenPhases walks the golden log's event types and returns the phase
// after each event, from the ceremony's rules as written in ARCHITECTURE.md,
// independent of the engine.
func goldenPhases(t *testing.T, lines [][]byte) []string {
	t.Helper()
	phase := ""
	out := make([]string, len(lines))
	for i, line := range lines {
		e, err := events.Decode(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		switch e.Type {
		case "backupkey.generate_started":
			phase = backupkey.PhaseCreated
		case "backupkey.write_confirmed":
			phase = backupkey.PhaseWriting
		case "backupkey.read_confirmed":
			phase = backupkey.PhaseReading
		case "step.timed_out":
			phase += "_paused"
		case "step.retried":
			phase = strings.TrimSuffix(phase, "_paused")
		case "hsm.key_loaded":
			phase = backupkey.PhaseCompleted
		}
		out[i] = phase
	}
	return out
}

func TestGoldenV1ReplaysThroughTheMachine(t *testing.T) {
	lines := readGolden(t)
	want := goldenPhases(t, lines)
	first, err := events.Decode(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	// The fake clock stands still at the ceremony's start, so the re-armed
	// deadlines of a cut log are minutes away and never fire.
	clock := clockwork.NewFakeClockAt(first.Time)
	for n := 1; n <= len(lines); n++ {
		store := memStoreOf(t, lines[:n])
		eng := newEngine(t, store, clock)
		inst, err := eng.Get(goldenCeremony)
		if err != nil {
			t.Fatalf("first %d events: %v", n, err)
		}
		if got := inst.Phase(); got != want[n-1] {
			t.Errorf("first %d events: phase %q, want %q", n, got, want[n-1])
		}
		if got := inst.Position(); got != uint64(n) {
			t.Errorf("first %d events: position %d, want %d", n, got, n)
		}
		if store.len() != n {
			t.Errorf("first %d events: Open appended %d events", n, store.len()-n)
		}
		eng.Close()
	}
}

func TestGoldenV1FoldsIntoStateAndProjections(t *testing.T) {
	lines := readGolden(t)
	store := memStoreOf(t, lines)
	views := kinds.NewViews()
	cfg := views.EngineConfig(store)
	cfg.Clock = newStepClock()
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	inst, err := eng.Get(goldenCeremony)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Phase() != backupkey.PhaseCompleted || !inst.Ended() || inst.Kind() != backupkey.KindGenerate {
		t.Fatalf("phase %q ended %v kind %q; want a completed %s", inst.Phase(), inst.Ended(), inst.Kind(), backupkey.KindGenerate)
	}
	st := stateOf(t, inst)
	wantWritten := map[int]string{1: "000500001234", 2: "000500001235", 3: "000500001236"}
	if st.Operator != "alice" || st.Threshold != 2 || st.Shares != 3 || st.KeySetID != goldenKeySet || st.KCV != goldenKCV ||
		!st.Generated || !st.Reconstructed || st.LoadPending || st.Pending != nil ||
		!reflect.DeepEqual(st.Written, wantWritten) || st.Timeouts != 1 || st.Refusals != 2 || st.WrongPINs != 1 {
		t.Errorf("folded state = %+v", st)
	}
	ks, ok := views.Inventory.KeySet(goldenKeySet)
	if !ok {
		t.Fatalf("key set %s unknown to the projections", goldenKeySet)
	}
	wantHolders := map[int][]string{1: {"000500001234"}, 2: {"000500001235"}, 3: {"000500001236"}}
	if ks.Status != inventory.KeySetLive || ks.KCV != goldenKCV || ks.Threshold != 2 || ks.Shares != 3 ||
		len(ks.Commitments) != 3 || !reflect.DeepEqual(ks.Holders, wantHolders) || ks.Ceremony != goldenCeremony {
		t.Errorf("key set = %+v", ks)
	}
	for serial, wantDefault := range map[string]bool{"000500001234": true, "000500001235": false, "000500001236": true} {
		c, ok := views.Inventory.Card(serial)
		if !ok {
			t.Errorf("card %s unknown to the registry", serial)
			continue
		}
		if c.DefaultPIN["PW3"] != wantDefault || c.KeySetID != goldenKeySet || c.Uncertain || c.Void {
			t.Errorf("card %s = %+v; want default PIN %v, holding a share of %s", serial, c, wantDefault, goldenKeySet)
		}
	}
	// The completed ceremony takes no more events.
	before := store.len()
	err = inst.Record(context.Background(), events.SourceReader, sample(t, "card.presented"))
	if err := isErr(err, engine.ErrEnded); err != nil {
		t.Error(err)
	}
	if store.len() != before {
		t.Error("a refused event was stored")
	}
}
