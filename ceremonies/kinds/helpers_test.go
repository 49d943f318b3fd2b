package kinds_test

import (
	"context"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

const (
	reader = "Virtual PCD 00 00"
	hsm    = "softhsm2:token=backup"
)

// openStore opens the real JetStream store on dir and closes it when the
// test ends.
func openStore(t *testing.T, dir string) *jetstream.Store {
	t.Helper()
	s, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open the JetStream store on %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newEngine builds an engine over store with every kind and fresh views,
// opens it (replaying the store) and closes it when the test ends.
func newEngine(t *testing.T, store events.Store) (*engine.Engine, *kinds.Views) {
	t.Helper()
	views := kinds.NewViews()
	eng, err := engine.New(views.EngineConfig(store))
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatalf("engine Open: %v", err)
	}
	t.Cleanup(eng.Close)
	return eng, views
}

func startGenerate(t *testing.T, eng *engine.Engine, id string) *engine.Instance {
	t.Helper()
	inst, err := eng.Start(context.Background(), backupkey.KindGenerate, id, events.SourceOperator,
		&events.GenerateStarted{Operator: "alice", Threshold: 2, Shares: 3, Reader: reader, HSM: hsm})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return inst
}
