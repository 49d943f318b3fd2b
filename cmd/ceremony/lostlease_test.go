package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// TestLostLeaseStopsAWaitingRun: a generate waiting at a prompt, through
// 'ceremony serve', whose runner lease is dropped from the lease bucket
// (as when it expires and another process may take it) stops at once,
// saying it lost the lease, and records nothing more; it does not wait
// for the operator's next key.
func TestLostLeaseStopsAWaitingRun(t *testing.T) {
	s := newSite(t)
	s.serve(t)
	gen := s.start("generate", "--operator", "alice", "--quorum", "2-of-3", "--id", "gen-lost", "--cards-dir", s.cardsDir)
	gen.waitFor(t, "Write New Key")
	_, before := s.runCLI(t, "events", "gen-lost", "--json")

	svc, err := readService(s.dataDir)
	if err != nil || svc == nil {
		t.Fatalf("the service file: %v", err)
	}
	nkey, err := nats.NkeyOptionFromSeed(svc.NkeyFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(svc.URL, nkey)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), jetstream.LeaseBucket(jetstream.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(t.Context(), base64.RawURLEncoding.EncodeToString([]byte(engine.RunnerLease("gen-lost")))); err != nil {
		t.Fatalf("drop the runner lease: %v", err)
	}

	gen.waitFor(t, "lost the lease on ceremony gen-lost: another process may run it; stopped")
	if code := gen.exit(t); code == exitOK {
		t.Fatalf("the generate that lost its lease ended well:\n%s", gen.output())
	}
	if _, after := s.runCLI(t, "events", "gen-lost", "--json"); strings.Count(after, "\n") != strings.Count(before, "\n") {
		t.Fatalf("events recorded after the lease was lost:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
