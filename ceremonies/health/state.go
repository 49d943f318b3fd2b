package health

import "sort"

// Pending is one side effect asked for and not answered yet, as a
// projection checkpoint holds it.
type Pending struct {
	Ceremony      string `json:"ceremony"`
	Key           string `json:"key"`
	What          string `json:"what"`
	Recovery      string `json:"recovery"`
	EndedIsAnswer bool   `json:"ended_is_answer,omitempty"`
}

// State returns the tracker's open effects, for a projection checkpoint
// (ARCHITECTURE.md, "Engine rules").
func (t *Tracker) State() []Pending {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Pending
	for c, m := range t.pending {
		for k, pe := range m {
			out = append(out, Pending{Ceremony: c, Key: k, What: pe.what, Recovery: pe.recovery, EndedIsAnswer: pe.endedIsAnswer})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Ceremony != out[j].Ceremony {
			return out[i].Ceremony < out[j].Ceremony
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Restore replaces the tracker's open effects with s.
func (t *Tracker) Restore(s []Pending) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = map[string]map[string]pending{}
	for _, p := range s {
		if t.pending[p.Ceremony] == nil {
			t.pending[p.Ceremony] = map[string]pending{}
		}
		t.pending[p.Ceremony][p.Key] = pending{what: p.What, recovery: p.Recovery, endedIsAnswer: p.EndedIsAnswer}
	}
}
