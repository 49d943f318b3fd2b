package kinds_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// prefix is the store as it was when its last event had stream sequence
// until: a checkpoint taken then.
type prefix struct {
	events.Store
	until uint64
}

func (p prefix) Replay(ctx context.Context, from uint64, fn func(events.Record) error) error {
	return p.Store.Replay(ctx, from, func(r events.Record) error {
		if r.Seq > p.until {
			return nil
		}
		return fn(r)
	})
}

func (p prefix) Load(ctx context.Context, id string) ([]events.Record, error) {
	recs, err := p.Store.Load(ctx, id)
	var out []events.Record
	for _, r := range recs {
		if r.Seq <= p.until {
			out = append(out, r)
		}
	}
	return out, err
}

// projection is everything list, cards and health show, at a fixed time:
// the checkpoint's content and the findings.
func projection(t *testing.T, eng *engine.Engine, views *kinds.Views, stream, hash string) string {
	t.Helper()
	cp := views.Checkpoint(stream, eng, hash)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := json.MarshalIndent(struct {
		CP       kinds.Checkpoint
		Findings any
	}{cp, views.Findings(eng, at)}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The histories: cards, key sets and open effects; accounts and open step
// deadlines; a refused card's PIN verification held across a checkpoint.
var histories = []struct {
	name   string
	record func(t *testing.T, eng *engine.Engine)
}{
	{"cards and key sets", func(t *testing.T, eng *engine.Engine) {
		a := startGenerate(t, eng, "cp-a")
		rec(t, a, &events.WriteConfirmed{})
		rec(t, a, keyGenerated(setA))
		rec(t, a, &events.PINVerified{Serial: cardX, PIN: "PW3", DefaultPIN: true})
		rec(t, a, &events.CardRemoved{Reader: "r", Serial: cardX})
		rec(t, a, &events.ShareWriteRequested{Serial: cardX, KeySetID: setA, Index: 1})
		rec(t, a, &events.ShareWritten{Serial: cardX, KeySetID: setA, Index: 1})
		rec(t, a, &events.CardBlocked{Serial: cardY, PIN: "PW3"})
		rec(t, a, &events.ShareWriteRequested{Serial: cardZ, KeySetID: setA, Index: 2}) // no outcome: a health finding
		b := startGenerate(t, eng, "cp-b")
		rec(t, b, &events.WriteConfirmed{})
		rec(t, b, keyGenerated(setB))
		rec(t, b, &events.ShareWritten{Serial: cardV, KeySetID: setB, Index: 1})
		rec(t, a, &events.ShareWritten{Serial: cardZ, KeySetID: setA, Index: 2})
		rec(t, b, &events.KeySetVoided{KeySetID: setB, Written: []string{cardV}, Reason: "stopped"})
		rec(t, a, &events.ReadConfirmed{})
		rec(t, a, &events.HSMKeyLoaded{HSM: hsm, KeySetID: setA, KCV: setA[:6], Label: "backup-key-a0a0a0a0"})
	}},
	{"accounts and deadlines", func(t *testing.T, eng *engine.Engine) {
		ctx := context.Background()
		for i, name := range []string{"olga", "piet"} {
			if _, err := eng.Start(ctx, account.Kind, "acct-"+name, events.SourceOperator, &account.Changed{Name: name, Change: account.Created, Role: account.Roles[i], Active: true, By: "admin"}); err != nil {
				t.Fatal(err)
			}
		}
		c := startGenerate(t, eng, "cp-c")
		if _, err := c.BeginStep(ctx, "confirm", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Start(ctx, account.Kind, "acct-olga-2", events.SourceOperator, &account.Changed{Name: "olga", Change: account.Disabled, Role: account.Roles[0], By: "admin"}); err != nil {
			t.Fatal(err)
		}
		rec(t, c, &events.WriteConfirmed{})
	}},
	{"a rehearsal and a real station", func(t *testing.T, eng *engine.Engine) {
		r := startGenerate(t, eng, "cp-rehearsal")
		rec(t, r, &events.StationDescribed{HSM: "in-memory HSM (rehearsal)", SoftwareHSM: true, EmulatedCards: true, Cards: "emulated"})
		real := startGenerate(t, eng, "cp-real")
		rec(t, real, &events.StationDescribed{HSM: "SoftHSM2 token", Readers: []events.StationReader{{Name: "r", Class: "host-pinpad"}}, Cards: "in the reader"})
		rec(t, r, &events.WriteConfirmed{})
		rec(t, real, &events.WriteConfirmed{})
	}},
	{"refused card held across", func(t *testing.T, eng *engine.Engine) {
		d := startGenerate(t, eng, "cp-d")
		rec(t, d, &events.WriteConfirmed{})
		rec(t, d, &events.CardBlocked{Serial: cardU, PIN: "PW3"})
		rec(t, d, &events.PINVerified{Serial: cardU, PIN: "PW3"})
		rec(t, d, &events.CardRefused{Serial: cardU, Code: "foreign", Message: "m"})
		rec(t, d, &events.PINVerified{Serial: cardU, PIN: "PW3"})
		rec(t, d, &events.CardRemoved{Reader: "r", Serial: cardU})
	}},
}

// TestCheckpointPlusTailEqualsReplay: for every history and every stream
// sequence s, the read models and ceremony list restored from a
// checkpoint taken at s (through its encoding), with the events after s
// applied, equal those of a replay of the whole stream.
func TestCheckpointPlusTailEqualsReplay(t *testing.T) {
	ctx := context.Background()
	for _, h := range histories {
		t.Run(h.name, func(t *testing.T) {
			store := openStore(t, t.TempDir())
			eng, _ := newEngine(t, store)
			h.record(t, eng)
			last, err := store.LastSeq(ctx)
			if err != nil || last < 5 {
				t.Fatalf("store holds %d events (%v)", last, err)
			}
			lastRec, err := store.RecordAt(ctx, last)
			if err != nil {
				t.Fatal(err)
			}
			fullEng, fullViews := newEngine(t, store)
			want := projection(t, fullEng, fullViews, store.StreamName(), lastRec.Hash)

			for s := uint64(0); s <= last; s++ {
				// The checkpoint at s, as a writer would have made it then.
				views := kinds.NewViews()
				ecfg := views.EngineConfig(prefix{store, s})
				ecfg.Passive = true
				old, err := engine.New(ecfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := old.Open(ctx); err != nil {
					t.Fatal(err)
				}
				data, err := views.Checkpoint(store.StreamName(), old, "h").Encode()
				old.Close()
				if err != nil {
					t.Fatal(err)
				}
				cp, err := kinds.DecodeCheckpoint(data, store.StreamName())
				if err != nil {
					t.Fatalf("at %d: %v", s, err)
				}
				if cp.Seq != s {
					t.Fatalf("checkpoint at %d says %d", s, cp.Seq)
				}
				restored, err := cp.Restore()
				if err != nil {
					t.Fatal(err)
				}
				ecfg = restored.EngineConfig(store)
				ecfg.Passive = true
				eng2, err := engine.New(ecfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := eng2.OpenFrom(ctx, cp.Baseline()); err != nil {
					t.Fatalf("OpenFrom %d: %v", s, err)
				}
				got := projection(t, eng2, restored, store.StreamName(), lastRec.Hash)
				eng2.Close()
				if got != want {
					t.Fatalf("checkpoint at %d of %d, plus the tail:\n%s\nwant (full replay):\n%s", s, last, got, want)
				}
			}
		})
	}
}

// TestCheckpointRefusedWhenForeign: a checkpoint that is damaged, of
// another version, schema or stream, has unknown fields or lacks a part,
// does not decode, with a message saying why.
func TestCheckpointRefusedWhenForeign(t *testing.T) {
	store := openStore(t, t.TempDir())
	eng, views := newEngine(t, store)
	startGenerate(t, eng, "cp-f")
	good, err := views.Checkpoint(store.StreamName(), eng, "h").Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kinds.DecodeCheckpoint(good, store.StreamName()); err != nil {
		t.Fatalf("the good checkpoint: %v", err)
	}
	with := func(part string, data []byte) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range good {
			out[k] = v
		}
		if data == nil {
			delete(out, part)
		} else {
			out[part] = data
		}
		return out
	}
	editMeta := func(f func(m map[string]any)) map[string][]byte {
		var m map[string]any
		if err := json.Unmarshal(good[kinds.PartMeta], &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return with(kinds.PartMeta, b)
	}
	cer := good[kinds.PartCeremonies]
	for _, c := range []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"meta truncated", with(kinds.PartMeta, good[kinds.PartMeta][:len(good[kinds.PartMeta])/2]), "meta does not decode"},
		{"meta garbage", with(kinds.PartMeta, []byte("\x00\x01not json")), "meta does not decode"},
		{"no meta", with(kinds.PartMeta, nil), "no meta part"},
		{"another version", editMeta(func(m map[string]any) { m["version"] = kinds.CheckpointVersion + 1 }), "version"},
		{"another schema", editMeta(func(m map[string]any) { m["schema"] = strings.Repeat("0", 64) }), "another set of kinds"},
		{"another stream", editMeta(func(m map[string]any) { m["stream"] = "OTHER" }), "stream"},
		{"unknown field", editMeta(func(m map[string]any) { m["extra"] = 1 }), "does not decode"},
		{"trailing data", with(kinds.PartMeta, append(append([]byte{}, good[kinds.PartMeta]...), []byte(" {}")...)), "after its end"},
		{"ceremonies truncated", with(kinds.PartCeremonies, cer[:len(cer)-3]), "ceremonies does not decode"},
		{"ceremonies with trailing bytes", with(kinds.PartCeremonies, append(append([]byte{}, cer...), 0)), "after the last ceremony"},
		{"no inventory", with(kinds.PartInventory, nil), "no inventory part"},
		{"inventory garbage", with(kinds.PartInventory, []byte("[1]")), "inventory does not decode"},
	} {
		if _, err := kinds.DecodeCheckpoint(c.data, store.StreamName()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
	// A part not asked for is not read: list reads the ceremonies alone.
	cp, err := kinds.DecodeCheckpoint(with(kinds.PartInventory, nil), store.StreamName(), kinds.PartCeremonies)
	if err != nil || len(cp.Ceremonies) != 1 || cp.Has(kinds.PartInventory) || cp.Complete() {
		t.Fatalf("ceremonies only: %d ceremonies, has inventory %v, complete %v (%v)", len(cp.Ceremonies), cp.Has(kinds.PartInventory), cp.Complete(), err)
	}
	if _, err := cp.Restore(); err == nil {
		t.Error("read models restored from a checkpoint without its inventory")
	}
	if _, err := cp.Encode(); err == nil {
		t.Error("a checkpoint of some parts encoded")
	}
}

// TestSchemaIsKindsAndEventVersions: the checkpoint's schema is a hash of
// the checkpoint version, the kinds and the event types at their current
// versions, and of nothing else: not the build (a new binary whose read
// models fold as before keeps the checkpoint an older one wrote).
func TestSchemaIsKindsAndEventVersions(t *testing.T) {
	h := sha256.New()
	fmt.Fprintf(h, "checkpoint v%d\n", kinds.CheckpointVersion)
	for _, k := range kinds.List() {
		fmt.Fprintf(h, "kind %s\n", k.Name())
	}
	reg := kinds.Registry()
	for _, typ := range reg.Types() {
		v, _ := reg.CurrentVersion(typ)
		fmt.Fprintf(h, "type %s v%d\n", typ, v)
	}
	if want := hex.EncodeToString(h.Sum(nil)); kinds.Schema() != want {
		t.Fatalf("Schema() = %s, want %s (the kinds and event versions alone)", kinds.Schema(), want)
	}
}
