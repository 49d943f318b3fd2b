package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"github.com/ceremony-hsm/ceremony/events"
)

// Config is what New needs. Definitions is the explicit registry of
// ceremony kinds this engine runs.
type Config struct {
	Store       events.Store
	Registry    *events.Registry
	Definitions []*Definition
	// Projections are the read models that follow every stored event.
	Projections []Projection
	Clock       Clock
	NewID       func() string // event ids; default: 16 random bytes, hex

	// Leases holds resources across processes; nil: an in-process table.
	Leases Leaser

	// Passive engines arm no step deadline, so nothing records on its own:
	// for read commands and projection checkpoint builders, which must not
	// write the store.
	Passive bool
}

// Projection is a read model folded from every stored event of every
// ceremony. Apply gets each event once per engine: in stream order at
// Open, then as this engine appends or reloads it (seq is the event's
// stream sequence). Apply must be pure but for the projection's own
// memory, and safe for concurrent use: ceremonies record in parallel.
type Projection interface {
	Apply(seq uint64, env events.Envelope, p events.Payload)
}

// Engine holds the loaded ceremonies and the leases, and feeds the
// projections.
type Engine struct {
	store events.Store
	reg   *events.Registry
	defs  map[string]*Definition
	clock Clock
	newID func() string

	projections []Projection

	mu        sync.Mutex
	instances map[string]*Instance
	known     map[string]CeremonySummary // from a baseline, not loaded (baseline.go)
	leases    Leaser
	closed    bool
	passive   bool

	pmu       sync.Mutex // the projections' feed (follow.go); after an instance's lock
	cursor    uint64
	ahead     map[uint64]bool
	following bool
}

// New checks the definitions and returns an engine; call Open next.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, fmt.Errorf("engine: a store and a registry are required")
	}
	e := &Engine{
		store:       cfg.Store,
		reg:         cfg.Registry,
		defs:        map[string]*Definition{},
		clock:       cfg.Clock,
		newID:       cfg.NewID,
		instances:   map[string]*Instance{},
		projections: cfg.Projections,
		leases:      cfg.Leases,
		ahead:       map[uint64]bool{},
		passive:     cfg.Passive,
	}
	if e.leases == nil {
		e.leases = newLeases()
	}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.newID == nil {
		e.newID = RandomID
	}
	for _, d := range cfg.Definitions {
		if err := d.validate(); err != nil {
			return nil, err
		}
		if _, dup := e.defs[d.Kind]; dup {
			return nil, fmt.Errorf("engine: ceremony kind %q defined twice", d.Kind)
		}
		e.defs[d.Kind] = d
	}
	return e, nil
}

// RandomID returns 16 random bytes in hex.
func RandomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("engine: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Open replays every stored event once, in stream order: it rebuilds each
// ceremony and the projections, then re-arms the open step deadlines of
// active ceremonies.
func (e *Engine) Open(ctx context.Context) error {
	folded := map[string]*Instance{}
	var order []string
	var last uint64
	err := e.store.Replay(ctx, 1, func(r events.Record) error {
		last = r.Seq
		p, err := e.reg.DecodePayload(r.Envelope)
		if err != nil {
			return err
		}
		inst, err := e.foldRecord(folded[r.CeremonyID], r, p)
		if err != nil {
			return err
		}
		if folded[r.CeremonyID] == nil {
			order = append(order, r.CeremonyID)
			folded[r.CeremonyID] = inst
		}
		e.project(r.Seq, r.Envelope, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}
	e.pmu.Lock()
	e.cursor = last
	e.pmu.Unlock()
	for _, id := range order {
		inst := folded[id]
		e.mu.Lock()
		e.instances[id] = inst
		e.mu.Unlock()
		inst.rearm()
	}
	return nil
}

// Close stops the deadline timers. It does not close the store.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	insts := make([]*Instance, 0, len(e.instances))
	for _, i := range e.instances {
		insts = append(insts, i)
	}
	e.mu.Unlock()
	for _, i := range insts {
		i.mu.Lock()
		i.disarmLocked()
		i.mu.Unlock()
	}
}

// isClosed reports whether Close was called. Lock order: an instance's
// lock may be held while calling it, never the other way round.
func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Definition returns the definition of kind.
func (e *Engine) Definition(kind string) (*Definition, error) {
	d, ok := e.defs[kind]
	if !ok {
		return nil, fmt.Errorf("engine: %q: %w", kind, ErrUnknownKind)
	}
	return d, nil
}

// Kinds lists the registered ceremony kinds.
func (e *Engine) Kinds() []string {
	out := make([]string, 0, len(e.defs))
	for k := range e.defs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Start opens a new ceremony of kind with id, recording first (which must
// be the definition's First event).
func (e *Engine) Start(ctx context.Context, kind, id string, src events.Source, first events.Payload) (*Instance, error) {
	d, err := e.Definition(kind)
	if err != nil {
		return nil, err
	}
	if !events.ValidCeremonyID(id) {
		return nil, fmt.Errorf("engine: ceremony id %q: use 1-64 letters, digits, '-' or '_'", id)
	}
	e.mu.Lock()
	if _, ok := e.instances[id]; ok || e.knownOnly(id) {
		e.mu.Unlock()
		return nil, fmt.Errorf("engine: ceremony %s: %w", id, ErrExists)
	}
	inst := newInstance(e, d, id)
	e.instances[id] = inst
	e.mu.Unlock()
	if err := inst.Record(ctx, src, first); err != nil {
		e.mu.Lock()
		delete(e.instances, id)
		e.mu.Unlock()
		return nil, err
	}
	return inst, nil
}

// Get returns a loaded ceremony.
func (e *Engine) Get(id string) (*Instance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, ok := e.instances[id]
	if !ok {
		return nil, fmt.Errorf("engine: ceremony %s: %w", id, ErrNotFound)
	}
	return inst, nil
}

// Replay rebuilds one ceremony from the store alone, independent of the
// loaded instance: tests compare the two. A store that is an
// events.CeremonyReader hands over each event as it reads it, folded at
// once rather than collected first.
func (e *Engine) Replay(ctx context.Context, id string) (*Instance, error) {
	return e.replayUntil(ctx, id, 0)
}

// replayUntil is Replay of the events with stream sequence up to until
// (0: all).
func (e *Engine) replayUntil(ctx context.Context, id string, until uint64) (*Instance, error) {
	var inst *Instance
	var err error
	if cr, ok := e.store.(events.CeremonyReader); ok {
		var foldErr error
		err = cr.ReadCeremony(ctx, id, func(r events.Record) error {
			if until != 0 && r.Seq > until {
				return nil
			}
			inst, foldErr = e.foldOne(inst, r)
			return foldErr
		})
		if foldErr != nil {
			return nil, foldErr
		}
	} else {
		var recs []events.Record
		recs, err = e.store.Load(ctx, id)
		for _, r := range recs {
			if until != 0 && r.Seq > until {
				break
			}
			if inst, err = e.foldOne(inst, r); err != nil {
				return nil, err
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("engine: load ceremony %s: %w", id, err)
	}
	if inst == nil {
		return nil, fmt.Errorf("engine: ceremony %s: %w", id, ErrNotFound)
	}
	return inst, nil
}

// foldOne decodes r's payload and applies r to inst (nil: r opens the
// ceremony).
func (e *Engine) foldOne(inst *Instance, r events.Record) (*Instance, error) {
	p, err := e.reg.DecodePayload(r.Envelope)
	if err != nil {
		return nil, fmt.Errorf("engine: ceremony %s: %w", r.CeremonyID, err)
	}
	return e.foldRecord(inst, r, p)
}

// foldRecord applies one stored record to inst; a nil inst means r opens
// the ceremony. Positions and the hash chain must follow on.
func (e *Engine) foldRecord(inst *Instance, r events.Record, p events.Payload) (*Instance, error) {
	if inst == nil {
		d, err := e.Definition(r.Kind)
		if err != nil {
			return nil, fmt.Errorf("engine: ceremony %s: %w", r.CeremonyID, err)
		}
		inst = newInstance(e, d, r.CeremonyID)
	}
	if r.Position != inst.position+1 || r.PrevHash != inst.lastHash {
		return nil, fmt.Errorf("engine: ceremony %s position %d: %w: the hash chain or positions are broken", r.CeremonyID, r.Position, ErrCorruptHistory)
	}
	if err := inst.applyLocked(context.Background(), r.Envelope, p, r.Seq); err != nil {
		return nil, fmt.Errorf("engine: ceremony %s position %d: %w: %v", r.CeremonyID, r.Position, ErrCorruptHistory, err)
	}
	return inst, nil
}

// Ceremonies returns the ceremony list, most recently started first.
func (e *Engine) Ceremonies() []CeremonySummary {
	e.mu.Lock()
	insts := make([]*Instance, 0, len(e.instances))
	for _, i := range e.instances {
		insts = append(insts, i)
	}
	out := make([]CeremonySummary, 0, len(insts)+len(e.known))
	for id, s := range e.known {
		if _, loaded := e.instances[id]; !loaded {
			out = append(out, s)
		}
	}
	e.mu.Unlock()
	for _, i := range insts {
		out = append(out, i.Summary())
	}
	SortCeremonies(out)
	return out
}

// SortCeremonies sorts summaries as Ceremonies lists them: the newest
// started first, then by id.
func SortCeremonies(out []CeremonySummary) {
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Started.Equal(out[b].Started) {
			return out[a].Started.After(out[b].Started)
		}
		return out[a].ID < out[b].ID
	})
}

// project feeds one stored event to every projection.
func (e *Engine) project(seq uint64, env events.Envelope, p events.Payload) {
	for _, pr := range e.projections {
		pr.Apply(seq, env, p)
	}
}

// Leases returns the engine's leases (Config.Leases, or an in-process
// table).
func (e *Engine) Leases() Leaser { return e.leases }

// Registry returns the payload registry.
func (e *Engine) Registry() *events.Registry { return e.reg }
