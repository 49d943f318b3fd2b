package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/passwords"
	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// The console's rehearsal station: an emulated reader per ceremony, the
// rehearsal cards of --console-cards-dir and an in-memory HSM. Every
// ceremony it runs is a rehearsal and says so in its reader's and HSM's
// names, which its events and report record. A station with a PC/SC
// reader and a PKCS#11 HSM is a consoleStation too (consolestation.go).
const (
	consoleReader = "Console emulated reader (rehearsal)"
	consoleHSM    = "in-memory HSM (rehearsal)"
	rehearsalMark = kinds.RehearsalMark
)

// console is the web console's backend (web.Backend) on the service's
// store: an engine following the stream, the read models, the runs it
// drives, the password file and the export signing key.
type console struct {
	ctx    context.Context // the service's: runs outlive requests
	a      *app
	pw     *passwords.File
	signer *keyfile.Signer
	cards  []*cardemu.Card // the rehearsal station's emulated cards
	// station is what the ceremonies run on.
	station *consoleStation
	feed    *feed
	log     *log.Logger
	// stepTimeout is the deadline of each step that waits for a person.
	stepTimeout time.Duration

	// dualControl names the kinds whose start waits for a second
	// operator's approval before the first card step (serve
	// --dual-control; consoleapproval.go).
	dualControl map[string]bool

	mu   sync.Mutex
	runs map[string]*liveRun

	// tlog is the station's transparency log (nil without an audit key),
	// read for GET /api/v1/checkpoint; serve writes the checkpoints.
	tlog   *translog.Log
	tlogMu sync.Mutex // one Sync at a time
}

// liveRun is one ceremony this console drives.
type liveRun struct {
	pad       *web.Pad
	reader    *cardemu.Reader // the emulated reader (nil on a real station)
	cards     []*cardemu.Card
	desk      *web.Desk
	approvals *web.Approvals
	cancel    context.CancelFunc
	done      bool // the run returned (guarded by console.mu)
}

func (r *liveRun) Bench() web.Bench {
	b := web.Bench{}
	for i := range r.cards {
		b.Cards = append(b.Cards, cardName(i))
	}
	if c := r.reader.Card(); c != nil {
		for i, rc := range r.cards {
			if rc == c {
				b.InReader = cardName(i)
			}
		}
	}
	return b
}

func (r *liveRun) Insert(name string) error {
	for i, c := range r.cards {
		if cardName(i) == name {
			if r.reader.Card() != nil {
				r.reader.Remove()
			}
			return r.reader.Insert(c)
		}
	}
	return &web.UsageError{Msg: fmt.Sprintf("no emulated card %q: this station has %v", name, r.Bench().Cards)}
}

func (r *liveRun) Pull() error {
	if r.reader.Card() == nil {
		return &web.UsageError{Msg: "the reader is empty: nothing to pull"}
	}
	r.reader.Remove()
	return nil
}

// feed is a projection that passes every stored event to the streams
// watching; a watcher too slow for its buffer is dropped (its browser
// reconnects with Last-Event-ID and misses nothing).
type feed struct {
	mu   sync.Mutex
	subs map[chan web.Event]bool
}

func (f *feed) Apply(seq uint64, env events.Envelope, _ events.Payload) {
	e := toWebEvent(events.Record{Seq: seq, Envelope: env})
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

func (f *feed) subscribe() (chan web.Event, func()) {
	ch := make(chan web.Event, 256)
	f.mu.Lock()
	f.subs[ch] = true
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		if f.subs[ch] {
			delete(f.subs, ch)
			close(ch)
		}
		f.mu.Unlock()
	}
}

func toWebEvent(r events.Record) web.Event {
	return web.Event{Seq: r.Seq, CeremonyID: r.CeremonyID, Position: r.Position, Type: r.Type, Source: string(r.Source),
		Time: r.Time, Payload: r.Payload, Hash: r.Hash}
}

// newConsole builds the backend on an open store: the engine replays the
// stream and follows it until ctx ends.
func newConsole(ctx context.Context, a *app, fd *feed, dataDir string, station *consoleStation, stepTimeout time.Duration, logger *log.Logger) (*console, error) {
	signer, made, err := keyfile.LoadOrCreate(filepath.Join(dataDir, "console-export.key"))
	if err != nil {
		return nil, fmt.Errorf("the console's export signing key: %w", err)
	}
	if made {
		logger.Printf("serve: made the console's export signing key %s", filepath.Join(dataDir, "console-export.key"))
	}
	var cards []*cardemu.Card
	if station.rehearsal() {
		if cards, _, err = rehearsalCards(station.cardsDir, 3); err != nil {
			return nil, fmt.Errorf("the console's emulated cards in %s: %w", station.cardsDir, err)
		}
	}
	tl, err := openTranslog(translog.Dir(filepath.Join(dataDir, translog.DirName)), a.store.StreamName())
	if err != nil {
		return nil, fmt.Errorf("the station's checkpoints: %w", err)
	}
	return &console{ctx: ctx, a: a, pw: passwords.Open(filepath.Join(dataDir, passwordDBName)), signer: signer,
		cards: cards, station: station, feed: fd, log: logger, stepTimeout: stepTimeout, runs: map[string]*liveRun{}, tlog: tl}, nil
}

func (c *console) Kinds() []web.KindInfo {
	out := []web.KindInfo{}
	for _, k := range kinds.List() {
		if k.Start == nil || !k.Needs.Cards || k.Needs.Slots || k.Needs.Credential {
			continue // the console's station has cards and an HSM, no PKCS#11 slot
		}
		ki := web.KindInfo{Name: k.Name(), Command: k.Start.Command, Short: k.Start.Short}
		for _, p := range k.Start.Params {
			ki.Params = append(ki.Params, web.Param{Name: p.Name, Default: p.Default, Usage: p.Usage, Int: p.Int})
		}
		out = append(out, ki)
	}
	return out
}

func (c *console) summary(s engine.CeremonySummary) web.Ceremony {
	w := web.Ceremony{ID: s.ID, Kind: s.Kind, Phase: s.Phase, Started: s.Started, Updated: s.Updated, Events: int(s.Events),
		Ended: s.Ended, OpenStep: s.OpenStep, Deadline: s.Deadline}
	c.mu.Lock()
	_, w.Live = c.runs[s.ID]
	c.mu.Unlock()
	return w
}

// Ceremonies lists every ceremony from the engine's summaries and the
// read models alone: a ceremony known from the projection checkpoint is
// not loaded to be listed. A rehearsal is one whose ceremony.station says
// so (kinds.Views.Rehearsal), or one running on this console's rehearsal
// station.
func (c *console) Ceremonies() []web.Ceremony {
	out := []web.Ceremony{}
	for _, s := range c.a.eng.Ceremonies() {
		w := c.summary(s)
		w.Rehearsal = c.a.views.Rehearsal(s.ID) || c.onRehearsalStation(s.ID)
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// instance returns ceremony id, loaded from its own events when the
// engine knows it from the projection checkpoint only (app.load).
func (c *console) instance(id string) (*engine.Instance, error) {
	inst, err := c.a.load(c.ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("no ceremony %q: the list shows them: %w", id, web.ErrNotFound)
	}
	return inst, err
}

// onRehearsalStation reports whether ceremony id runs here on the
// console's rehearsal station (an emulated reader).
func (c *console) onRehearsalStation(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[id]
	return r != nil && r.reader != nil
}

func (c *console) Ceremony(id string) (web.Detail, error) {
	inst, err := c.instance(id)
	if err != nil {
		return web.Detail{}, err
	}
	d := web.Detail{Ceremony: c.summary(inst.Summary())}
	k, err := kinds.Lookup(inst.Kind())
	if err != nil {
		return web.Detail{}, err
	}
	facts, err := k.Facts(inst)
	if err != nil {
		return web.Detail{}, err
	}
	d.Rehearsal = c.a.views.Rehearsal(id)
	for _, f := range facts {
		d.Facts = append(d.Facts, web.Row{Name: f.Name, Value: f.Value})
		d.Rehearsal = d.Rehearsal || strings.Contains(f.Value, rehearsalMark)
	}
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	if r != nil {
		v := r.pad.View()
		d.Pad = &v
		if r.reader != nil {
			b := r.Bench()
			d.Station, d.Rehearsal = &b, true
		}
	}
	d.PausedStep = inst.PausedStep()
	d.Resumable = c.resumable(c.ctx, inst) == ""
	d.ServerTime = time.Now().UTC()
	return d, nil
}

func (c *console) Events(ctx context.Context, id string) ([]web.Event, error) {
	recs, err := c.a.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no ceremony %q: %w", id, web.ErrNotFound)
	}
	out := make([]web.Event, len(recs))
	for i, r := range recs {
		out[i] = toWebEvent(r)
	}
	return out, nil
}

// Watch subscribes first, then sends what is stored after after, then
// the live events not sent yet: nothing is missed or sent twice.
func (c *console) Watch(ctx context.Context, id string, after uint64, fn func(web.Event) error) error {
	ch, unsub := c.feed.subscribe()
	defer unsub()
	recs, err := c.a.store.Load(ctx, id)
	if err != nil {
		return err
	}
	last := after
	for _, r := range recs {
		if r.Seq > last {
			if err := fn(toWebEvent(r)); err != nil {
				return err
			}
			last = r.Seq
		}
	}
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return errors.New("the stream fell behind: reconnect (Last-Event-ID resumes)")
			}
			if e.CeremonyID == id && e.Seq > last {
				if err := fn(e); err != nil {
					return err
				}
				last = e.Seq
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (c *console) Start(_ context.Context, who web.Actor, kind string, params map[string]string) (string, error) {
	k, err := kinds.Lookup(kind)
	if err != nil || k.Start == nil {
		return "", &web.UsageError{Msg: fmt.Sprintf("kind %q cannot be started here: GET /api/v1/kinds lists those that can", kind)}
	}
	ok := false
	for _, ki := range c.Kinds() {
		ok = ok || ki.Name == kind
	}
	if !ok {
		return "", &web.UsageError{Msg: fmt.Sprintf("kind %q needs a PKCS#11 slot this console's station does not have: start it with 'ceremony %s'", kind, k.Start.Command)}
	}
	p := ceremonies.Params{}
	for _, sp := range k.Start.Params {
		p[sp.Name] = sp.Default
	}
	for name, v := range params {
		if _, known := p[name]; !known {
			return "", &web.UsageError{Msg: fmt.Sprintf("parameter %q: %s takes %v", name, kind, paramNames(k))}
		}
		p[name] = v
	}
	if k.Start.Check != nil {
		if err := k.Start.Check(p); err != nil {
			return "", usageForWeb(err)
		}
	}
	id := k.Start.IDPrefix + "-" + engine.RandomID()[:8]
	rs, err := c.station.take(id)
	if err != nil {
		return "", err
	}
	first, err := k.Start.Begin(p, ceremonies.StartInfo{Operator: who.Name, Reader: rs.port.Name(), HSM: rs.hsm.Name(), Inventory: c.a.views.Inventory})
	if err != nil {
		rs.free()
		return "", usageForWeb(err)
	}
	inst, err := c.a.eng.Start(c.ctx, k.Name(), id, events.SourceOperator, first[0])
	if err != nil {
		rs.free()
		return "", err
	}
	// The station after the first event, as every start command records
	// it (ARCHITECTURE.md, "Audit"): the report names the reader and the
	// HSM and marks a rehearsal, and Resume knows the ceremony ran on this
	// console's station.
	for _, pl := range append(append(first[1:], events.Payload(rs.desc)), c.approvalRequired(k, who)...) {
		if err := inst.Record(c.ctx, events.SourceOperator, pl); err != nil {
			rs.free()
			return "", err
		}
	}
	c.launch(k, inst, rs, who, false)
	return id, nil
}

func paramNames(k ceremonies.Kind) []string {
	var out []string
	for _, p := range k.Start.Params {
		out = append(out, p.Name)
	}
	return out
}

func usageForWeb(err error) error {
	var ue *ceremonies.UsageError
	if errors.As(err, &ue) {
		return &web.UsageError{Msg: ue.Msg}
	}
	return err
}

func (c *console) Abort(ctx context.Context, who web.Actor, id, reason string) error {
	inst, err := c.instance(id)
	if err != nil {
		return err
	}
	if inst.Ended() {
		return fmt.Errorf("ceremony %s has already ended (%s): nothing to abort: %w", id, inst.Phase(), web.ErrConflict)
	}
	if err := inst.Record(ctx, events.SourceOperator, &events.CeremonyAborted{Reason: reason, By: who.Name}); err != nil {
		return err
	}
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
	c.log.Printf("console: %s aborted %s", who.Name, id)
	return nil
}

func (c *console) Witness(ctx context.Context, who web.Actor, id, statement string) error {
	inst, err := c.instance(id)
	if err != nil {
		return err
	}
	// A ceremony that requires witnesses counts each witness account once.
	if required, _ := ceremonies.WitnessesMissing(inst); required > 0 {
		if at, ok := c.signedOffBy(ctx, id, who.Name); ok {
			return fmt.Errorf("%s signed ceremony %s off already (event %d): its %d required sign-offs are by distinct witnesses: %w", who.Name, id, at, required, web.ErrConflict)
		}
	}
	// A ceremony bound to a script takes the sign-offs of the witnesses
	// it names (ARCHITECTURE.md, "Ceremony semantics"), as at a station.
	script, err := scriptOf(ctx, c.a, id)
	if err != nil {
		return err
	}
	named, msg := ceremonies.ScriptNamesWitness(script, who.Name, who.Role)
	if !named && !script.Deviates() {
		return fmt.Errorf("%s: the sign-off is not taken; a witness account the script names signs off: %w", msg, web.ErrConflict)
	}
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	if r != nil && r.desk != nil {
		taken, err := r.desk.SignOff(who)
		if err != nil {
			return err
		}
		if taken {
			// The run waits at its witness desk: it records the sign-off.
			c.log.Printf("console: %s signed %s off at the witness desk", who.Name, id)
			return nil
		}
	}
	if !named {
		// The script says to go on and record it as a deviation.
		if err := inst.Record(ctx, events.SourceOperator, &events.Unscripted{What: "witness", Name: who.Name,
			Message: msg + "; the script says to go on and record it as a deviation"}); err != nil {
			return err
		}
	}
	w := &events.Witnessed{Name: who.Name, Role: who.Role, Statement: statement, UpTo: inst.LastHash()}
	if err := inst.Record(ctx, events.SourceOperator, w); err != nil {
		return err
	}
	c.log.Printf("console: %s signed %s off", who.Name, id)
	return nil
}

func (c *console) Live(id string) (*web.Pad, web.Station, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[id]
	if r == nil {
		return nil, nil, false
	}
	if r.reader == nil {
		return r.pad, nil, true // a real reader: the cards go in by hand
	}
	return r.pad, r, true
}

func (c *console) Health() []web.Finding {
	out := []web.Finding{}
	for _, f := range c.a.views.Findings(c.a.eng, time.Now()) {
		out = append(out, web.Finding{Severity: f.Severity, Subject: f.Subject, What: f.What, Recovery: f.Recovery})
	}
	sortFindings(out)
	return out
}

func (c *console) Account(name string) (string, bool, bool) {
	acc, ok := c.a.views.Accounts.Get(name)
	return acc.Role, acc.Active, ok
}

func (c *console) CheckPassword(name string, password []byte) error {
	return c.pw.Check(name, password)
}

var _ web.Backend = (*console)(nil)
