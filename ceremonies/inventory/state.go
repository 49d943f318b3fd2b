package inventory

import (
	"github.com/ceremony-hsm/ceremony/events"
)

// State is everything an Inventory holds, for a projection checkpoint
// (ARCHITECTURE.md, "Engine rules"): Restore(State()) folds on exactly as
// the inventory it was taken from.
type State struct {
	Cards   []Card                          `json:"cards"`
	KeySets []KeySet                        `json:"key_sets"`
	HSMKCV  map[string]string               `json:"hsm_kcv"`
	LastSet string                          `json:"last_set,omitempty"`
	Held    map[string][]events.PINVerified `json:"held,omitempty"` // PIN verifications of a card not yet accepted, by ceremony
}

// State returns a copy of the inventory's content.
func (v *Inventory) State() State {
	kcv, last := v.HSMs()
	s := State{Cards: v.Cards(), KeySets: v.KeySets(), HSMKCV: kcv, LastSet: last}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.held) > 0 {
		s.Held = make(map[string][]events.PINVerified, len(v.held))
		for c, evs := range v.held {
			s.Held[c] = append([]events.PINVerified(nil), evs...)
		}
	}
	return s
}

// Restore returns an inventory holding s.
func Restore(s State) *Inventory {
	v := New()
	for i := range s.Cards {
		c := s.Cards[i]
		if c.DefaultPIN == nil {
			c.DefaultPIN = map[string]bool{}
		}
		if c.Blocked == nil {
			c.Blocked = map[string]bool{}
		}
		v.cards[c.Serial] = &c
	}
	for i := range s.KeySets {
		ks := s.KeySets[i]
		if ks.Commitments == nil {
			ks.Commitments = map[int]string{}
		}
		if ks.Holders == nil {
			ks.Holders = map[int][]string{}
		}
		v.sets[ks.ID] = &ks
	}
	for h, kcv := range s.HSMKCV {
		v.hsmKCV[h] = kcv
	}
	v.lastSet = s.LastSet
	for c, evs := range s.Held {
		v.held[c] = append([]events.PINVerified(nil), evs...)
	}
	return v
}
