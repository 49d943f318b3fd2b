package cardreset_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// rig is a station on real components: the JetStream store on disk,
// emulated cards with image files, the scripted PIN pad and a simulated
// hand, the in-memory HSM; the engine runs on a fake clock, so a test
// moves time by days without waiting.
type rig struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	clock *clockwork.FakeClock
	store *jetstream.Store
	eng   *engine.Engine
	views *kinds.Views
	port  *opgpcard.Reader
	pad   *pinpad.Scripted
	hand  *rehearsal.Hand
	hsm   *memhsm.HSM
	out   *syncBuffer
	cards map[string]*cardemu.Card
	pins  map[string]string
	next  uint32
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cards"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ctx: ctx, dir: dir, clock: clockwork.NewFakeClockAt(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)),
		cards: map[string]*cardemu.Card{}, pins: map[string]string{}, out: &syncBuffer{}, next: 0x4001}
	st, err := jetstream.Open(ctx, jetstream.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	r.views = kinds.NewViews()
	cfg := r.views.EngineConfig(st)
	cfg.Clock = r.clock
	if r.eng, err = engine.New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.eng.Open(ctx); err != nil {
		t.Fatal(err)
	}
	r.store = st
	t.Cleanup(func() { r.eng.Close(); st.Close() })
	var reader *cardemu.Reader
	reader, r.port = rehearsal.NewReader("Test reader 00")
	r.pad = pinpad.NewScripted(r.out)
	r.hand = &rehearsal.Hand{Reader: reader, Card: r.card, Log: r.out}
	r.pad.OnShow = r.hand.OnShow
	r.hsm = memhsm.New("test-hsm")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("station output:\n%s", r.out.String())
		}
	})
	return r
}

// newCard makes an emulated card with a non-default PIN on both slots.
func (r *rig) newCard(name string) {
	r.t.Helper()
	pin := fmt.Sprintf("%08d", 60417300+int(r.next)*7919%100000)
	if _, err := cardemu.Create(filepath.Join(r.dir, "cards", name+".img"), cardemu.Options{Serial: r.next, PW1: []byte(pin), PW3: []byte(pin)}); err != nil {
		r.t.Fatal(err)
	}
	c, err := cardemu.Open(filepath.Join(r.dir, "cards", name+".img"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.next++
	r.cards[name], r.pins[name] = c, pin
}

func (r *rig) card(name string) (*cardemu.Card, error) {
	c, ok := r.cards[name]
	if !ok {
		return nil, fmt.Errorf("no test card %q", name)
	}
	return c, nil
}

func (r *rig) serial(name string) string { return r.cards[name].Serial() }

var ok = pinpad.Entry{Kind: pinpad.OK}
var cancelKey = pinpad.Entry{Kind: pinpad.Cancel}

func (r *rig) pin(name string) pinpad.Entry { return pinpad.Entry{Kind: pinpad.PIN, PIN: r.pins[name]} }

func (r *rig) env() ceremonies.Env {
	return ceremonies.Env{Engine: r.eng, Inventory: r.views.Inventory, Rand: rand.Reader,
		Station: &ceremonies.Station{Pad: r.pad, Reader: r.port, HSM: r.hsm, StepTimeout: time.Minute},
		Say:     func(s string) { fmt.Fprintln(r.out, "  > "+s) }}
}

// generate writes a 2-of-3 key set to cards c1..c3 and loads it.
func (r *rig) generate() string {
	r.t.Helper()
	names := []string{"c1", "c2", "c3"}
	inst, err := r.eng.Start(r.ctx, backupkey.KindGenerate, "gen", events.SourceOperator, &events.GenerateStarted{
		Operator: "alice", Threshold: 2, Shares: 3, Reader: r.port.Name(), HSM: r.hsm.Name()})
	if err != nil {
		r.t.Fatal(err)
	}
	plan := append(append([]string(nil), names...), "c1", "c2")
	entries := []pinpad.Entry{ok}
	for _, n := range names {
		entries = append(entries, ok, r.pin(n))
	}
	entries = append(entries, ok, ok, r.pin("c1"), ok, r.pin("c2"))
	r.hand.Choose = rehearsal.Plan(plan...)
	r.pad.Push(entries...)
	if err := (&backupkey.Runner{Env: r.env()}).Run(r.ctx, inst); err != nil {
		r.t.Fatalf("generate: %v", err)
	}
	if inst.Phase() != backupkey.PhaseCompleted {
		r.t.Fatalf("generate ended %s", inst.Phase())
	}
	var id string
	inst.View(func(s engine.State) { id = s.(*backupkey.State).KeySetID })
	return id
}

// reset starts a card reset through the kind's Start (as the CLI does)
// and runs it with the given cards and keys.
func (r *rig) reset(id string, params ceremonies.Params, plan []string, entries ...pinpad.Entry) *engine.Instance {
	r.t.Helper()
	k := cardreset.CardResetKind()
	if err := k.Start.Check(params); err != nil {
		r.t.Fatalf("check params: %v", err)
	}
	first, err := k.Start.Begin(params, ceremonies.StartInfo{Operator: "carol", Reader: r.port.Name(), Inventory: r.views.Inventory})
	if err != nil {
		r.t.Fatalf("begin: %v", err)
	}
	inst, err := r.eng.Start(r.ctx, cardreset.Kind, id, events.SourceOperator, first[0])
	if err != nil {
		r.t.Fatal(err)
	}
	r.hand.Choose = rehearsal.Plan(plan...)
	r.pad.Push(entries...)
	runner, err := k.NewRunner(r.env())
	if err != nil {
		r.t.Fatal(err)
	}
	if err := runner.Run(r.ctx, inst); err != nil {
		r.t.Fatalf("card reset %s: %v", id, err)
	}
	if err := r.hand.Err(); err != nil {
		r.t.Fatalf("hand: %v", err)
	}
	return inst
}

// client talks to one of the rig's cards in a reader of its own (the
// card must not be in the station's reader); pull takes it out.
func (r *rig) client(name string) (cl *openpgp.Client, pull func()) {
	r.t.Helper()
	r.hand.Reader.Remove()
	rd := cardemu.NewReader("Test bench")
	if err := rd.Insert(r.cards[name]); err != nil {
		r.t.Fatal(err)
	}
	cl = openpgp.NewClient(rd.Transport())
	if err := cl.Select(); err != nil {
		r.t.Fatal(err)
	}
	return cl, rd.Remove
}

// payloads returns the decoded payloads of one type in a ceremony.
func payloads[T events.Payload](r *rig, id string) []T {
	recs, err := r.store.Load(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []T
	reg := kinds.Registry()
	for _, rec := range recs {
		p, err := reg.DecodePayload(rec.Envelope)
		if err != nil {
			r.t.Fatal(err)
		}
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// findings renders the open health findings at the engine's clock.
func (r *rig) findings() string {
	var b strings.Builder
	for _, f := range r.views.Findings(r.eng, r.clock.Now()) {
		b.WriteString(f.Severity + " | " + f.Subject + " | " + f.What + "\n")
	}
	return b.String()
}

// scanStore fails the test when any PIN appears in the stored events.
func (r *rig) scanStore() {
	r.t.Helper()
	for _, c := range r.eng.Ceremonies() {
		recs, err := r.store.Load(r.ctx, c.ID)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, rec := range recs {
			raw := string(rec.Data)
			for name, pin := range r.pins {
				if strings.Contains(raw, pin) {
					r.t.Errorf("the PIN of card %s is in an event of %s: %s", name, c.ID, rec.Type)
				}
			}
		}
	}
}
