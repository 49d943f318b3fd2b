package engine

import "github.com/ceremony-hsm/ceremony/events"

// Checker folds stored records one at a time as Open does, without
// loading them into the engine, arming deadlines or feeding the
// projections: a reader of the stream that writes elsewhere (the audit
// export) refuses, in its own single pass, a history the state machines
// cannot replay. Memory grows with the number of ceremonies, not events.
type Checker struct {
	e      *Engine
	folded map[string]*Instance
}

// NewChecker returns a Checker on e's definitions and registry.
func (e *Engine) NewChecker() *Checker {
	return &Checker{e: e, folded: map[string]*Instance{}}
}

// Check folds r into its ceremony, in stream order. An error names the
// ceremony and position; a broken history wraps ErrCorruptHistory.
func (c *Checker) Check(r events.Record) error {
	inst, err := c.e.foldOne(c.folded[r.CeremonyID], r)
	if err != nil {
		return err
	}
	c.folded[r.CeremonyID] = inst
	return nil
}
