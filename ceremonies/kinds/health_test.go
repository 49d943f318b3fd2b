package kinds_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// ceremonyKinds names the kind of each test ceremony.
var ceremonyKinds = map[string]string{"gen": backupkey.KindGenerate, "gen2": backupkey.KindGenerate, "load": backupkey.KindLoad, "pin": pinchange.Kind}

// feed applies payloads to the views as stored events of one ceremony
// would (pure: no store).
func feed(v *kinds.Views, ceremony string, seq *uint64, ps ...events.Payload) {
	for _, p := range ps {
		*seq++
		env := events.Envelope{CeremonyID: ceremony, Kind: ceremonyKinds[ceremony], Type: p.EventType(), Time: time.Unix(int64(*seq), 0)}
		v.Apply(*seq, env, p)
	}
}

func findings(v *kinds.Views) string {
	var b strings.Builder
	for _, f := range v.Health.Findings(time.Unix(1000, 0), nil, v.Inventory, nil) {
		b.WriteString(f.Severity + " | " + f.Subject + " | " + f.What + "\n")
	}
	return b.String()
}

func TestHealthFindings(t *testing.T) {
	e := kinds.NewViews()
	var seq uint64
	set := &events.KeyGenerated{KeySetID: "ks1", Threshold: 2, Shares: 3, KCV: "AAAAAA"}
	feed(e, "gen", &seq, set,
		&events.PINVerified{Serial: "c1", PIN: "PW3", DefaultPIN: true},
		&events.ShareWritten{Serial: "c1", KeySetID: "ks1", Index: 1},
		&events.ShareWritten{Serial: "c2", KeySetID: "ks1", Index: 2},
		&events.ShareWriteRequested{Serial: "c3", KeySetID: "ks1", Index: 3},
		&events.HSMKeyLoaded{HSM: "hsm-a", KeySetID: "ks1", KCV: "AAAAAA"},
	)
	got := findings(e)
	for _, want := range []string{
		"warning | card c1 | still on the factory default PIN (PW3)",
		"warning | card c3 | a write to its backup slot has no known outcome",
		"warning | ceremony gen | writing share 3 to card c3 has no recorded outcome",
		"warning | key set ks1 | exactly 2 usable distinct shares for a threshold of 2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// The write's outcome closes two findings; a blocked card makes the set critical.
	feed(e, "gen", &seq, &events.ShareWritten{Serial: "c3", KeySetID: "ks1", Index: 3})
	if got := findings(e); strings.Contains(got, "no recorded outcome") || strings.Contains(got, "exactly 2") {
		t.Fatalf("closed findings still open:\n%s", got)
	}
	feed(e, "load", &seq, &events.CardBlocked{Serial: "c2", PIN: "PW3"}, &events.CardBlocked{Serial: "c3", PIN: "PW3"})
	if got := findings(e); !strings.HasPrefix(got, "critical | key set ks1 | only 1 usable distinct shares") {
		t.Fatalf("want the critical finding first:\n%s", got)
	}
	// Replaying the same stream sequences changes nothing.
	before := findings(e)
	e.Apply(5, events.Envelope{CeremonyID: "gen", Kind: backupkey.KindGenerate, Type: "backupkey.share_write_requested"}, &events.ShareWriteRequested{Serial: "c9", Index: 1})
	if findings(e) != before {
		t.Fatal("an event applied twice changed the findings")
	}
	// A PIN change and the default flag; a newer live set supersedes ks1 and
	// an HSM still holding ks1's key disagrees with it.
	feed(e, "pin", &seq, &events.PINChanged{Serial: "c1", PIN: "PW3"})
	feed(e, "gen2", &seq, &events.KeyGenerated{KeySetID: "ks2", Threshold: 2, Shares: 2, KCV: "BBBBBB"},
		&events.ShareWritten{Serial: "d1", KeySetID: "ks2", Index: 1},
		&events.ShareWritten{Serial: "d2", KeySetID: "ks2", Index: 2},
		&events.HSMKeyLoaded{HSM: "hsm-b", KeySetID: "ks2", KCV: "BBBBBB"})
	got = findings(e)
	for _, want := range []string{"superseded by key set ks2", "critical | HSM hsm-a | holds the Backup Key with KCV AAAAAA, the live key set ks2 has KCV BBBBBB"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "card c1 | still on the factory default") {
		t.Errorf("the PIN change did not clear the default flag:\n%s", got)
	}
}

// unreadable is a Leaser whose leases cannot be read (a pure unit test of
// health's use of engine.LeaseReader).
type unreadable struct{ *engine.Leases }

func (unreadable) Lookup(string) (string, bool, error) {
	return "", false, errors.New("nats: timeout")
}

// TestUnreadableLeasesAreNotOrphans: when the runner leases cannot be
// read, health says so and calls no open ceremony orphaned.
func TestUnreadableLeasesAreNotOrphans(t *testing.T) {
	store := openStore(t, t.TempDir())
	views := kinds.NewViews()
	cfg := views.EngineConfig(store)
	for _, l := range []engine.Leaser{engine.NewLeases(), unreadable{engine.NewLeases()}} {
		cfg.Leases = l
		eng, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(eng.Close)
		if err := eng.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(unreadable); !ok {
			startGenerate(t, eng, "gen-open")
		}
		var got strings.Builder
		for _, f := range views.Findings(eng, time.Now()) {
			got.WriteString(f.Subject + " | " + f.What + "\n")
		}
		_, bad := l.(unreadable)
		if orphan := strings.Contains(got.String(), "no process is running it"); orphan == bad {
			t.Errorf("leases unreadable %v: findings\n%s", bad, got.String())
		}
		if said := strings.Contains(got.String(), "leases | the runner leases could not be read (nats: timeout)"); said != bad {
			t.Errorf("leases unreadable %v: findings\n%s", bad, got.String())
		}
		views = kinds.NewViews()
		cfg = views.EngineConfig(store)
	}
}
