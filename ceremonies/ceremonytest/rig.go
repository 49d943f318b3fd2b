// Package ceremonytest is the station the ceremony kinds' tests run on:
// real components (the JetStream store on disk, emulated cards with image
// files, the scripted PIN pad and a simulated hand, the in-memory HSM),
// the engine on a fake clock, and helpers to start and drive any kind.
// Only tests import it.
package ceremonytest

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
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Rig is a rehearsal station on real components: the JetStream store on
// disk, emulated cards with image files, the scripted PIN pad and a
// simulated hand, the software HSM. Every card has a non-default PIN
// unless made with NewCardPIN, so a secret scan is meaningful. The engine
// runs on a fake clock that survives restarts: step deadlines pass only
// when a test advances it, and a test moves time by days without waiting.
type Rig struct {
	T      *testing.T
	Ctx    context.Context
	Dir    string
	Clock  *clockwork.FakeClock
	Store  *jetstream.Store
	Eng    *engine.Engine
	Views  *kinds.Views
	Reader *cardemu.Reader
	Port   *opgpcard.Reader
	Pad    *pinpad.Scripted
	Hand   *rehearsal.Hand
	HSM    *memhsm.HSM
	Out    *SyncBuffer
	// Slots is the PKCS#11 slot of the station, for the user-card kinds
	// (nil unless a test sets it).
	Slots ceremonies.Slots

	Cards map[string]*cardemu.Card
	PINs  map[string]string
	Nums  map[string]uint32 // the serial number each card was made with
	Next  uint32
}

// SyncBuffer is the station's output, written by the runner and the hand.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Entries a test scripts on the PIN pad.
var (
	OK     = pinpad.Entry{Kind: pinpad.OK}
	Cancel = pinpad.Entry{Kind: pinpad.Cancel}
	Stall  = pinpad.Entry{Kind: pinpad.Stall}
)

// PINEntry is a PIN typed on the pad.
func PINEntry(p string) pinpad.Entry { return pinpad.Entry{Kind: pinpad.PIN, PIN: p} }

// New opens a rig in a temporary directory; everything closes when the
// test ends. The station's output is logged when the test fails.
func New(t *testing.T) *Rig {
	t.Helper()
	// A guard against a hung test, not a performance bound.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cards"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &Rig{T: t, Ctx: ctx, Dir: dir, Clock: clockwork.NewFakeClockAt(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)),
		Cards: map[string]*cardemu.Card{}, PINs: map[string]string{}, Nums: map[string]uint32{}, Out: &SyncBuffer{}, Next: 0x3001}
	r.OpenStore()
	r.Reader, r.Port = rehearsal.NewReader("Test reader 00")
	r.Pad = pinpad.NewScripted(r.Out)
	r.Hand = &rehearsal.Hand{Reader: r.Reader, Card: r.Card, Log: r.Out}
	r.Pad.OnShow = r.Hand.OnShow
	r.HSM = memhsm.New("test-hsm")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("station output:\n%s", r.Out.String())
		}
	})
	return r
}

// OpenStore opens the store and an engine with every kind's views on the
// rig's directory.
func (r *Rig) OpenStore() {
	st, err := jetstream.Open(r.Ctx, jetstream.Config{DataDir: filepath.Join(r.Dir, "data")})
	if err != nil {
		r.T.Fatalf("open store: %v", err)
	}
	views := kinds.NewViews()
	cfg := views.EngineConfig(st)
	cfg.Clock = r.Clock
	eng, err := engine.New(cfg)
	if err != nil {
		r.T.Fatal(err)
	}
	if err := eng.Open(r.Ctx); err != nil {
		r.T.Fatal(err)
	}
	r.Store, r.Eng, r.Views = st, eng, views
	r.T.Cleanup(func() { eng.Close(); st.Close() })
}

// Restart closes the engine and the store and opens them again on the
// same directory, as a new process would.
func (r *Rig) Restart() {
	r.Eng.Close()
	if err := r.Store.Close(); err != nil {
		r.T.Fatal(err)
	}
	r.OpenStore()
}

// NewCard makes an emulated card with a non-default PIN (both slots).
func (r *Rig) NewCard(name string) *cardemu.Card {
	return r.NewCardPIN(name, fmt.Sprintf("%08d", 58173900+int(r.Next)*7919%100000))
}

// NewCardPIN makes an emulated card with pin on both slots.
func (r *Rig) NewCardPIN(name, pin string) *cardemu.Card {
	r.T.Helper()
	c, err := cardemu.Create(filepath.Join(r.Dir, "cards", name+".img"), cardemu.Options{Serial: r.Next, PW1: []byte(pin), PW3: []byte(pin)})
	if err != nil {
		r.T.Fatal(err)
	}
	r.Nums[name] = r.Next
	r.Next++
	r.Cards[name], r.PINs[name] = c, pin
	return c
}

// NewTwin makes a card with the serial of card of (another installation's
// card, or a copied image) and its own PIN.
func (r *Rig) NewTwin(name, of string) *cardemu.Card {
	r.T.Helper()
	pin := "97531864"
	c, err := cardemu.Create(filepath.Join(r.Dir, "cards", name+".img"), cardemu.Options{Serial: r.Nums[of], PW1: []byte(pin), PW3: []byte(pin)})
	if err != nil {
		r.T.Fatal(err)
	}
	r.Cards[name], r.PINs[name], r.Nums[name] = c, pin, r.Nums[of]
	return c
}

// Card is the hand's source of cards.
func (r *Rig) Card(name string) (*cardemu.Card, error) {
	c, ok := r.Cards[name]
	if !ok {
		return nil, fmt.Errorf("no test card %q", name)
	}
	return c, nil
}

// Serial is the serial card name reports.
func (r *Rig) Serial(name string) string { return r.Cards[name].Serial() }

// Station is the rig's station with step deadlines of timeout.
func (r *Rig) Station(timeout time.Duration) *ceremonies.Station {
	return &ceremonies.Station{Pad: r.Pad, Reader: r.Port, HSM: r.HSM, Slots: r.Slots, StepTimeout: timeout}
}

// Env is what a runner gets: the rig's engine, inventory and station
// (step deadlines of 10 s of the fake clock), crypto/rand, the output.
func (r *Rig) Env() ceremonies.Env {
	return ceremonies.Env{Engine: r.Eng, Inventory: r.Views.Inventory, Station: r.Station(10 * time.Second), Rand: rand.Reader,
		Say: func(s string) { fmt.Fprintln(r.Out, "  > "+s) }}
}

// Script sets what the hand inserts at each "Insert n. card" and what the
// operator presses.
func (r *Rig) Script(plan []string, entries ...pinpad.Entry) {
	r.Hand.Choose = rehearsal.Plan(plan...)
	r.Pad.Push(entries...)
}

// PIN is card name's PIN typed on the pad.
func (r *Rig) PIN(name string) pinpad.Entry { return PINEntry(r.PINs[name]) }

// CardSteps returns, for each card, OK at "Insert n. card" then its PIN.
func (r *Rig) CardSteps(names ...string) []pinpad.Entry {
	var out []pinpad.Entry
	for _, n := range names {
		out = append(out, OK, r.PIN(n))
	}
	return out
}

// Start starts a ceremony of kind k through its Start (as the CLI does):
// its parameters checked, its first events recorded.
func (r *Rig) Start(k ceremonies.Kind, id string, params ceremonies.Params, operator string) *engine.Instance {
	r.T.Helper()
	if k.Start.Check != nil {
		if err := k.Start.Check(params); err != nil {
			r.T.Fatalf("check params of %s: %v", k.Name(), err)
		}
	}
	info := ceremonies.StartInfo{Operator: operator, Reader: r.Port.Name(), HSM: r.HSM.Name(), Inventory: r.Views.Inventory}
	if r.Slots != nil {
		info.Slot = r.Slots.Name()
	}
	first, err := k.Start.Begin(params, info)
	if err != nil {
		r.T.Fatalf("begin %s: %v", k.Name(), err)
	}
	inst, err := r.Eng.Start(r.Ctx, k.Name(), id, events.SourceOperator, first[0])
	if err != nil {
		r.T.Fatal(err)
	}
	for _, p := range first[1:] {
		if err := inst.Record(r.Ctx, events.SourceOperator, p); err != nil {
			r.T.Fatal(err)
		}
	}
	return inst
}

// Run drives inst with kind k's runner on env, the hand and the pad
// scripted by plan and entries, and fails the test on a runner or a hand
// error.
func (r *Rig) Run(k ceremonies.Kind, env ceremonies.Env, inst *engine.Instance, plan []string, entries ...pinpad.Entry) {
	r.T.Helper()
	r.Script(plan, entries...)
	runner, err := k.NewRunner(env)
	if err != nil {
		r.T.Fatal(err)
	}
	if err := runner.Run(r.Ctx, inst); err != nil {
		r.T.Fatalf("%s %s: %v", k.Name(), inst.ID(), err)
	}
	if err := r.Hand.Err(); err != nil {
		r.T.Fatalf("hand: %v", err)
	}
}

// Ceremony starts a ceremony of kind k (Start) and runs it (Run) on the
// rig's Env.
func (r *Rig) Ceremony(k ceremonies.Kind, id string, params ceremonies.Params, operator string, plan []string, entries ...pinpad.Entry) *engine.Instance {
	r.T.Helper()
	inst := r.Start(k, id, params, operator)
	r.Run(k, r.Env(), inst, plan, entries...)
	return inst
}

// WantPhase fails the test unless inst is in phase want.
func WantPhase(t *testing.T, inst *engine.Instance, want string) {
	t.Helper()
	if got := inst.Phase(); got != want {
		t.Fatalf("ceremony %s phase %q, want %q", inst.ID(), got, want)
	}
}

// Types returns the event types of a ceremony, in order.
func (r *Rig) Types(id string) []string {
	recs, err := r.Store.Load(r.Ctx, id)
	if err != nil {
		r.T.Fatal(err)
	}
	var out []string
	for _, rec := range recs {
		out = append(out, rec.Type)
	}
	return out
}

// Payloads returns the decoded payloads of one type in a ceremony.
func Payloads[T events.Payload](r *Rig, id string) []T {
	recs, err := r.Store.Load(r.Ctx, id)
	if err != nil {
		r.T.Fatal(err)
	}
	var out []T
	reg := kinds.Registry()
	for _, rec := range recs {
		p, err := reg.DecodePayload(rec.Envelope)
		if err != nil {
			r.T.Fatal(err)
		}
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// Findings renders the open health findings at the engine's clock.
func (r *Rig) Findings() string {
	var b strings.Builder
	for _, f := range r.Views.Findings(r.Eng, r.Clock.Now()) {
		b.WriteString(f.Severity + " | " + f.Subject + " | " + f.What + "\n")
	}
	return b.String()
}

// ScanStore fails the test when any PIN appears in the stored events.
func (r *Rig) ScanStore() {
	r.T.Helper()
	for _, c := range r.Eng.Ceremonies() {
		recs, err := r.Store.Load(r.Ctx, c.ID)
		if err != nil {
			r.T.Fatal(err)
		}
		for _, rec := range recs {
			raw := string(rec.Data)
			for name, pin := range r.PINs {
				if strings.Contains(raw, pin) {
					r.T.Errorf("the PIN of card %s is in an event of %s: %s", name, c.ID, rec.Type)
				}
			}
		}
	}
}
