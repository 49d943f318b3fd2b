package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/engine"
)

// twoConnections opens a JetStream store with a loopback listener and a
// second store that reaches it over TCP: two writers, as two processes.
func twoConnections(t *testing.T) (*jetstream.Store, *jetstream.Store) {
	t.Helper()
	dir := t.TempDir()
	seed := filepath.Join(dir, "user.nk")
	if _, err := jetstream.CreateNkeySeed(seed); err != nil {
		t.Fatal(err)
	}
	a, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir, Listen: "127.0.0.1:0", NkeySeedFile: seed})
	if err != nil {
		t.Fatal(err)
	}
	b, err := jetstream.Open(t.Context(), jetstream.Config{Remote: jetstream.Remote{URLs: []string{a.ClientURL()}}, NkeySeedFile: seed})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); a.Close() })
	return a, b
}

// eventually polls cond (a liveness bound, not a speed assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollowSeesOtherWriters: an engine that follows the stream loads the
// ceremonies another writer starts and applies its later events, and its
// projections get every stored event once, its own included.
func TestFollowSeesOtherWriters(t *testing.T) {
	storeA, storeB := twoConnections(t)
	seenA := &seqRecorder{}
	a := openWith(t, storeA, seenA)
	b := openWith(t, storeB, &seqRecorder{})
	ctx, cancel := context.WithCancel(t.Context())
	followed := make(chan error, 1)
	go func() { followed <- a.Follow(ctx) }()

	instB := startGenerate(t, b, "fol-other")
	startGenerate(t, a, "fol-own")
	record(t, instB, evWriteConfirmed)

	eventually(t, "engine A loads the ceremony engine B started, with its 2 events", func() bool {
		inst, err := a.Get("fol-other")
		return err == nil && inst.Summary().Events == 2
	})
	last, err := storeA.LastSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "engine A's projection fed every stored event", func() bool {
		seenA.mu.Lock()
		defer seenA.mu.Unlock()
		return len(seenA.seqs) >= int(last)
	})
	seenA.mu.Lock()
	got := slices.Clone(seenA.seqs)
	seenA.mu.Unlock()
	slices.Sort(got)
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("engine A's projection was fed sequences %v, want 1..%d once each", seenA.seqs, last)
		}
	}
	if uint64(len(got)) != last {
		t.Fatalf("engine A's projection was fed %v, want 1..%d once each", seenA.seqs, last)
	}
	// The followed instance is the one a replay of the store builds.
	instA, err := a.Get("fol-other")
	if err != nil {
		t.Fatal(err)
	}
	sameInstance(t, "followed vs replayed", instA, mustReplay(t, b, "fol-other"))

	cancel()
	if err := <-followed; err != nil {
		t.Fatalf("Follow after its context ended: %v", err)
	}
	if err := a.Follow(t.Context()); err == nil {
		t.Error("a second Follow on one engine was accepted")
	}
}

// TestOpenCeremonyLoadsOneCeremony: a command about one ceremony loads
// its events only; the projections see nothing.
func TestOpenCeremonyLoadsOneCeremony(t *testing.T) {
	store := &memStore{}
	eng := openWith(t, store, &seqRecorder{})
	record(t, startGenerate(t, eng, "one-a"), evWriteConfirmed)
	startGenerate(t, eng, "one-b")

	seen := &seqRecorder{}
	one, err := engine.New(engine.Config{Store: store, Registry: eng.Registry(), Definitions: definitionsOf(t, eng), Projections: []engine.Projection{seen}})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	inst, err := one.OpenCeremony(t.Context(), "one-a")
	if err != nil {
		t.Fatal(err)
	}
	if inst.Summary().Events != 2 || len(one.Ceremonies()) != 1 || len(seen.seqs) != 0 {
		t.Fatalf("OpenCeremony: %d events, %d ceremonies loaded, projection fed %v; want 2, 1, nothing", inst.Summary().Events, len(one.Ceremonies()), seen.seqs)
	}
	if _, err := one.OpenCeremony(t.Context(), "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("OpenCeremony of an unknown id: %v, want ErrNotFound", err)
	}
	if err := one.Follow(t.Context()); !errors.Is(err, engine.ErrCannotFollow) {
		t.Fatalf("Follow on a store that cannot follow: %v, want ErrCannotFollow", err)
	}
}

func mustReplay(t *testing.T, eng *engine.Engine, id string) *engine.Instance {
	t.Helper()
	inst, err := eng.Replay(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func definitionsOf(t *testing.T, eng *engine.Engine) []*engine.Definition {
	t.Helper()
	var out []*engine.Definition
	for _, k := range eng.Kinds() {
		d, err := eng.Definition(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
