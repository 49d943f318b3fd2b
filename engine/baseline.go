package engine

import (
	"context"
	"fmt"

	"github.com/ceremony-hsm/ceremony/events"
)

// Baseline is what a projection checkpoint says of the ceremonies: the
// stream sequence it covers and each ceremony's summary at that sequence
// (ARCHITECTURE.md, "Engine rules").
type Baseline struct {
	Seq        uint64
	Ceremonies []CeremonySummary
}

// OpenFrom is Open from a projection checkpoint: the projections already
// hold the fold of the events up to base.Seq. It reads only the events
// after base.Seq: each is fed to the projections, and each ceremony they
// touch is loaded from its own subject. On an engine that is not passive,
// each ceremony whose summary has an open step is loaded from its subject
// too, so that its deadline is re-armed as after Open (deadlines survive
// restarts): the cost grows with the ceremonies waiting at a step, not
// with the history. Any other ceremony is known by its summary alone:
// Ceremonies lists it, Get does not find it, Start refuses its id,
// OpenCeremony loads it (and re-arms what it holds), and Follow loads it
// when an event of it arrives.
func (e *Engine) OpenFrom(ctx context.Context, base Baseline) error {
	var order []string
	touched := map[string]bool{}
	last := base.Seq
	err := e.store.Replay(ctx, base.Seq+1, func(r events.Record) error {
		last = r.Seq
		p, err := e.reg.DecodePayload(r.Envelope)
		if err != nil {
			return fmt.Errorf("stream sequence %d: %w", r.Seq, err)
		}
		if !touched[r.CeremonyID] {
			touched[r.CeremonyID] = true
			order = append(order, r.CeremonyID)
		}
		e.project(r.Seq, r.Envelope, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: open from stream sequence %d: %w", base.Seq, err)
	}
	if !e.passive {
		for _, s := range base.Ceremonies {
			if s.OpenStep != "" && !s.Ended && !touched[s.ID] {
				touched[s.ID] = true
				order = append(order, s.ID)
			}
		}
	}
	loaded := make([]*Instance, 0, len(order))
	for _, id := range order {
		inst, err := e.replayUntil(ctx, id, last)
		if err != nil {
			return fmt.Errorf("engine: open from stream sequence %d: %w", base.Seq, err)
		}
		loaded = append(loaded, inst)
	}
	e.mu.Lock()
	e.known = make(map[string]CeremonySummary, len(base.Ceremonies))
	for _, s := range base.Ceremonies {
		e.known[s.ID] = s
	}
	for _, inst := range loaded {
		e.instances[inst.id] = inst
	}
	e.mu.Unlock()
	e.pmu.Lock()
	e.cursor = last
	e.pmu.Unlock()
	for _, inst := range loaded {
		inst.rearm()
	}
	return nil
}

// Applied returns the last stream sequence the projections were fed in
// order (by Open, OpenFrom or Follow); events this engine recorded past it
// may be fed too.
func (e *Engine) Applied() uint64 {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	return e.cursor
}

// knownOnly returns the summary of a ceremony known from a baseline and
// not loaded.
func (e *Engine) knownOnly(id string) bool {
	_, ok := e.known[id]
	return ok
}
