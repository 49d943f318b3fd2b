package kinds

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Views are the read models every command shares, folded from every
// stored event: the inventory (cards, key sets, HSMs) and the health
// tracker. Views is the engine's projection (engine.Config.Projections).
type Views struct {
	Inventory *inventory.Inventory
	Health    *health.Tracker
	Accounts  *account.Registry // the console's accounts and roles

	projectors map[string]func(*inventory.Inventory, events.Envelope, events.Payload)

	mu         sync.Mutex
	seen       map[uint64]bool // stream sequences applied: each event counts once
	floor      uint64          // every sequence up to it is applied (a checkpoint's)
	rehearsals map[string]bool // ceremonies on a station named as a rehearsal (Rehearsal)
}

// NewViews returns empty read models for every kind.
func NewViews() *Views {
	list := List()
	v := &Views{
		Inventory:  inventory.New(),
		Health:     health.NewTracker(list),
		Accounts:   account.NewRegistry(),
		projectors: map[string]func(*inventory.Inventory, events.Envelope, events.Payload){},
		seen:       map[uint64]bool{},
		rehearsals: map[string]bool{},
	}
	for _, k := range list {
		if k.Project != nil {
			v.projectors[k.Name()] = k.Project
		}
	}
	return v
}

// Apply folds one stored event: the shared card observations, then what
// the event's kind contributes, then health. An event applied twice (a
// replay, another writer's event seen again) changes nothing; seq 0 is
// always applied (events not from a store, in tests).
func (v *Views) Apply(seq uint64, env events.Envelope, p events.Payload) {
	if seq != 0 {
		v.mu.Lock()
		dup := seq <= v.floor || v.seen[seq]
		v.seen[seq] = true
		v.mu.Unlock()
		if dup {
			return
		}
	}
	if st, ok := p.(*events.StationDescribed); ok && marksRehearsal(st) {
		v.mu.Lock()
		v.rehearsals[env.CeremonyID] = true
		v.mu.Unlock()
	}
	v.Inventory.Apply(env, p)
	if project := v.projectors[env.Kind]; project != nil {
		project(v.Inventory, env, p)
	}
	v.Health.Apply(env, p)
	v.Accounts.Apply(env, p)
}

// RehearsalMark ends the names of the console's rehearsal station (its
// emulated reader and in-memory HSM): a ceremony recorded on a station
// so named is a rehearsal in the console's list.
const RehearsalMark = "(rehearsal)"

// marksRehearsal reports whether st names a reader or an HSM with
// RehearsalMark. It is narrower than st.Rehearsal (the report's mark: a
// software HSM or emulated cards), which also covers a PC/SC station on
// vpcd cards or SoftHSM2 that the console shows as a real station.
func marksRehearsal(st *events.StationDescribed) bool {
	if strings.Contains(st.HSM, RehearsalMark) {
		return true
	}
	for _, r := range st.Readers {
		if strings.Contains(r.Name, RehearsalMark) {
			return true
		}
	}
	return false
}

// Rehearsal reports whether ceremony id ran on a station named as a
// rehearsal (marksRehearsal), as the console's list marks it.
func (v *Views) Rehearsal(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rehearsals[id]
}

// rehearsalIDs returns the ids Rehearsal reports, sorted.
func (v *Views) rehearsalIDs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := make([]string, 0, len(v.rehearsals))
	for id := range v.rehearsals {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Findings returns the open health findings of eng's ceremonies at now.
// The runner leases of the ceremonies not ended are read from eng's
// leases here, before health sees them.
// A lease that could not be read is not "no process runs it": the
// findings then say the leases could not be read.
func (v *Views) Findings(eng *engine.Engine, now time.Time) []health.Finding {
	list := eng.Ceremonies()
	running := map[string]bool{}
	var readErr error
	lr, canErr := eng.Leases().(engine.LeaseReader)
	for _, s := range list {
		if s.Ended {
			continue
		}
		if !canErr {
			_, running[s.ID] = eng.Leases().Holder(engine.RunnerLease(s.ID))
			continue
		}
		_, held, err := lr.Lookup(engine.RunnerLease(s.ID))
		if err != nil {
			readErr = err
			break
		}
		running[s.ID] = held
	}
	if readErr != nil {
		out := v.Health.Findings(now, list, v.Inventory, nil)
		return append(out, health.Finding{Severity: health.Warning, Subject: "leases",
			What:     fmt.Sprintf("the runner leases could not be read (%v): whether a process runs each open ceremony is unknown", readErr),
			Recovery: "check the connection to the NATS servers (or the service), then run 'ceremony health' again"})
	}
	return v.Health.Findings(now, list, v.Inventory, running)
}

// FindingsAtRest is Findings for a store no process has open, read
// without a server from the sealed projection file (ARCHITECTURE.md, "A
// read without a server"): the reader holds the data directory's lock, so
// no process runs a ceremony and no runner lease is held; every open
// ceremony is reported as run by no process. list is every ceremony's
// summary, in the engine's order (engine.SortCeremonies).
func (v *Views) FindingsAtRest(list []engine.CeremonySummary, now time.Time) []health.Finding {
	return v.Health.Findings(now, list, v.Inventory, map[string]bool{})
}

// EngineConfig returns the engine configuration for store with these
// views: every kind's definition, the full events registry.
func (v *Views) EngineConfig(store events.Store) engine.Config {
	return engine.Config{Store: store, Registry: Registry(), Definitions: Definitions(), Projections: []engine.Projection{v}}
}

var _ engine.Projection = (*Views)(nil)
