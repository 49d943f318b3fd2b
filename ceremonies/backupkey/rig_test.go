package backupkey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// rig is a rehearsal station on real components: the JetStream store on
// disk, emulated cards with image files, the scripted PIN pad, the
// software HSM. Every card has a non-default PIN unless made with
// defaultPIN, so a secret scan is meaningful. The engine runs on a fake
// clock that survives restarts: step deadlines pass only when a test
// advances it.
type rig struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	clock  *clockwork.FakeClock
	store  *jetstream.Store
	eng    *engine.Engine
	views  *kinds.Views
	reader *cardemu.Reader
	port   *opgpcard.Reader
	pad    *pinpad.Scripted
	hand   *rehearsal.Hand
	hsm    *memhsm.HSM
	out    *syncBuffer

	cards map[string]*cardemu.Card
	pins  map[string]string
	nums  map[string]uint32 // the serial number each card was made with
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
	// A guard against a hung test, not a performance bound: the memory
	// test scans the process's memory several times and took 55 s under
	// -race on a loaded 2-core machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cards"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ctx: ctx, dir: dir, clock: clockwork.NewFakeClockAt(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)), cards: map[string]*cardemu.Card{}, pins: map[string]string{}, nums: map[string]uint32{}, out: &syncBuffer{}, next: 0x3001}
	r.openStore()
	r.reader, r.port = rehearsal.NewReader("Test reader 00")
	r.pad = pinpad.NewScripted(r.out)
	r.hand = &rehearsal.Hand{Reader: r.reader, Card: r.card, Log: r.out}
	r.pad.OnShow = r.hand.OnShow
	r.hsm = memhsm.New("test-hsm")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("station output:\n%s", r.out.String())
		}
	})
	return r
}

func (r *rig) openStore() {
	st, err := jetstream.Open(r.ctx, jetstream.Config{DataDir: filepath.Join(r.dir, "data")})
	if err != nil {
		r.t.Fatalf("open store: %v", err)
	}
	views := kinds.NewViews()
	cfg := views.EngineConfig(st)
	cfg.Clock = r.clock
	eng, err := engine.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := eng.Open(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	r.store, r.eng, r.views = st, eng, views
	r.t.Cleanup(func() { eng.Close(); st.Close() })
}

// restart closes the engine and the store and opens them again on the
// same directory, as a new process would.
func (r *rig) restart() {
	r.eng.Close()
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.openStore()
}

// newCard makes an emulated card with a non-default PIN (both slots).
func (r *rig) newCard(name string) *cardemu.Card {
	return r.newCardPIN(name, fmt.Sprintf("%08d", 58173900+int(r.next)*7919%100000))
}

func (r *rig) newCardPIN(name, pin string) *cardemu.Card {
	r.t.Helper()
	c, err := cardemu.Create(filepath.Join(r.dir, "cards", name+".img"), cardemu.Options{Serial: r.next, PW1: []byte(pin), PW3: []byte(pin)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.nums[name] = r.next
	r.next++
	r.cards[name], r.pins[name] = c, pin
	return c
}

// newTwin makes a card with the serial of card of (another installation's
// card, or a copied image) and its own PIN.
func (r *rig) newTwin(name, of string) *cardemu.Card {
	r.t.Helper()
	pin := "97531864"
	c, err := cardemu.Create(filepath.Join(r.dir, "cards", name+".img"), cardemu.Options{Serial: r.nums[of], PW1: []byte(pin), PW3: []byte(pin)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.cards[name], r.pins[name], r.nums[name] = c, pin, r.nums[of]
	return c
}

func (r *rig) card(name string) (*cardemu.Card, error) {
	c, ok := r.cards[name]
	if !ok {
		return nil, fmt.Errorf("no test card %q", name)
	}
	return c, nil
}

func (r *rig) station(timeout time.Duration) *ceremonies.Station {
	return &ceremonies.Station{Pad: r.pad, Reader: r.port, HSM: r.hsm, StepTimeout: timeout}
}

// script sets what the hand inserts at each "Insert n. card" and what the
// operator presses.
func (r *rig) script(plan []string, entries ...pinpad.Entry) {
	r.hand.Choose = rehearsal.Plan(plan...)
	r.pad.Push(entries...)
}

var ok = pinpad.Entry{Kind: pinpad.OK}
var cancelKey = pinpad.Entry{Kind: pinpad.Cancel}
var stall = pinpad.Entry{Kind: pinpad.Stall}

func (r *rig) pin(name string) pinpad.Entry { return pinpad.Entry{Kind: pinpad.PIN, PIN: r.pins[name]} }

func pinEntry(p string) pinpad.Entry { return pinpad.Entry{Kind: pinpad.PIN, PIN: p} }

// cardSteps returns, for each card, OK at "Insert n. card" then its PIN.
func (r *rig) cardSteps(names ...string) []pinpad.Entry {
	var out []pinpad.Entry
	for _, n := range names {
		out = append(out, ok, r.pin(n))
	}
	return out
}

func (r *rig) startGenerate(id string, q backupkey.Quorum) *engine.Instance {
	r.t.Helper()
	inst, err := r.eng.Start(r.ctx, backupkey.KindGenerate, id, events.SourceOperator, &events.GenerateStarted{
		Operator: "alice", Threshold: q.Threshold, Shares: q.Shares, Reader: r.port.Name(), HSM: r.hsm.Name()})
	if err != nil {
		r.t.Fatal(err)
	}
	return inst
}

func (r *rig) startLoad(id, keySet string) *engine.Instance {
	r.t.Helper()
	inst, err := r.eng.Start(r.ctx, backupkey.KindLoad, id, events.SourceOperator, &events.LoadStarted{
		Operator: "bob", KeySetID: keySet, Reader: r.port.Name(), HSM: r.hsm.Name()})
	if err != nil {
		r.t.Fatal(err)
	}
	return inst
}

func (r *rig) runner(resumed bool) *backupkey.Runner {
	return &backupkey.Runner{Env: ceremonies.Env{Engine: r.eng, Inventory: r.views.Inventory, Station: r.station(10 * time.Second), Rand: rand.Reader,
		Say: func(s string) { fmt.Fprintln(r.out, "  > "+s) }, Resumed: resumed}}
}

// run drives inst to its end and checks the hand met no error.
func (r *rig) run(inst *engine.Instance) {
	r.t.Helper()
	if err := r.runner(false).Run(r.ctx, inst); err != nil {
		r.t.Fatalf("run %s: %v", inst.ID(), err)
	}
	if err := r.hand.Err(); err != nil {
		r.t.Fatalf("hand: %v", err)
	}
}

// generate runs a whole generate ceremony: write every card, read back.
func (r *rig) generate(id string, q backupkey.Quorum, write, read []string) *engine.Instance {
	r.t.Helper()
	inst := r.startGenerate(id, q)
	r.script(append(append([]string(nil), write...), read...), append(append([]pinpad.Entry{ok}, r.cardSteps(write...)...), append([]pinpad.Entry{ok}, r.cardSteps(read...)...)...)...)
	r.run(inst)
	wantPhase(r.t, inst, backupkey.PhaseCompleted)
	return inst
}

func wantPhase(t *testing.T, inst *engine.Instance, want string) {
	t.Helper()
	if got := inst.Phase(); got != want {
		t.Fatalf("ceremony %s phase %q, want %q", inst.ID(), got, want)
	}
}

// types returns the event types of a ceremony, in order.
func (r *rig) types(id string) []string {
	recs, err := r.store.Load(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, rec := range recs {
		out = append(out, rec.Type)
	}
	return out
}

// payloads returns the decoded payloads of one type.
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

func (r *rig) keySetOf(inst *engine.Instance) string {
	var id string
	inst.View(func(s engine.State) { id = s.(*backupkey.State).KeySetID })
	return id
}

// readDO reads a card's backup slot directly, as a test tool.
func (r *rig) readDO(name string) []byte {
	r.t.Helper()
	c, done := r.withCard(name)
	defer done()
	b, err := c.ReadPrivateDO(0x0104)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// writeDO writes a card's backup slot directly, as a test tool.
func (r *rig) writeDO(name string, data []byte) {
	r.t.Helper()
	c, done := r.withCard(name)
	defer done()
	if err := c.WritePrivateDO(0x0104, data); err != nil {
		r.t.Fatal(err)
	}
}

// withCard puts the card alone into a scratch reader and verifies PW3.
func (r *rig) withCard(name string) (*openpgp.Client, func()) {
	r.t.Helper()
	rd := cardemu.NewReader("scratch")
	if err := rd.Insert(r.cards[name]); err != nil {
		r.t.Fatal(err)
	}
	c := openpgp.NewClient(rd.Transport())
	if err := c.Select(); err != nil {
		r.t.Fatal(err)
	}
	if err := c.Verify(openpgp.PW3, []byte(r.pins[name])); err != nil {
		r.t.Fatal(err)
	}
	return c, rd.Remove
}
