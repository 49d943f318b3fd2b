package engine

import (
	"sort"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// CeremonySummary is one row of the ceremony list.
type CeremonySummary struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Phase    string    `json:"phase"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Events   uint64    `json:"events"`
	Ended    bool      `json:"ended"`
	OpenStep string    `json:"open_step,omitempty"`
	Deadline time.Time `json:"deadline,omitempty"`
}

// CardRecord is what the events say about one card.
type CardRecord struct {
	Serial     string          `json:"serial"`
	KeySetID   string          `json:"key_set_id,omitempty"`
	ShareIndex int             `json:"share_index,omitempty"`
	DefaultPIN map[string]bool `json:"default_pin"`         // by PIN ("PW3", "PW1"): last verified with the factory default
	Blocked    map[string]bool `json:"blocked"`             // by PIN: no tries left when last seen
	Void       bool            `json:"void"`                // holds a share of a voided key set
	Uncertain  bool            `json:"uncertain"`           // a write was asked for and its outcome is not known
	UserSlot   string          `json:"user_slot,omitempty"` // the PKCS#11 slot the card is enrolled for
	UserKey    string          `json:"user_key,omitempty"`  // fingerprint of the card key the credential is sealed to
	LastSeen   time.Time       `json:"last_seen"`
}

// Key set status values.
const (
	KeySetPending = "pending" // generated, not yet loaded into an HSM
	KeySetLive    = "live"    // loaded into an HSM at least once
	KeySetVoid    = "void"    // generate stopped before enough shares were written
)

// KeySet is what the events say about one Backup Key set.
type KeySet struct {
	ID          string           `json:"id"`
	Threshold   int              `json:"threshold"`
	Shares      int              `json:"shares"`
	KCV         string           `json:"kcv"`
	Commitments map[int]string   `json:"commitments"`
	Status      string           `json:"status"`
	Holders     map[int][]string `json:"holders"` // share index -> card serials
	Ceremony    string           `json:"ceremony"`
}

// Projections are read models folded from every event in stream order.
type Projections struct {
	mu      sync.Mutex
	cardsBy map[string]*CardRecord
	sets    map[string]*KeySet
}

func newProjections() *Projections {
	return &Projections{cardsBy: map[string]*CardRecord{}, sets: map[string]*KeySet{}}
}

func (p *Projections) card(serial string) (CardRecord, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.cardsBy[serial]
	if !ok {
		return CardRecord{}, false
	}
	return copyCard(c), true
}

func copyCard(c *CardRecord) CardRecord {
	out := *c
	out.DefaultPIN = map[string]bool{}
	out.Blocked = map[string]bool{}
	for k, v := range c.DefaultPIN {
		out.DefaultPIN[k] = v
	}
	for k, v := range c.Blocked {
		out.Blocked[k] = v
	}
	return out
}

func (p *Projections) cards() []CardRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]CardRecord, 0, len(p.cardsBy))
	for _, c := range p.cardsBy {
		out = append(out, copyCard(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out
}

func (p *Projections) keySet(id string) (KeySet, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, ok := p.sets[id]
	if !ok {
		return KeySet{}, false
	}
	out := *ks
	out.Commitments = map[int]string{}
	out.Holders = map[int][]string{}
	for k, v := range ks.Commitments {
		out.Commitments[k] = v
	}
	for k, v := range ks.Holders {
		out.Holders[k] = append([]string(nil), v...)
	}
	return out, true
}

// keySets returns every key set, by id.
func (p *Projections) keySets() []KeySet {
	p.mu.Lock()
	ids := make([]string, 0, len(p.sets))
	for id := range p.sets {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	sort.Strings(ids)
	out := make([]KeySet, 0, len(ids))
	for _, id := range ids {
		if ks, ok := p.keySet(id); ok {
			out = append(out, ks)
		}
	}
	return out
}

func (p *Projections) cardLocked(serial string) *CardRecord {
	c, ok := p.cardsBy[serial]
	if !ok {
		c = &CardRecord{Serial: serial, DefaultPIN: map[string]bool{}, Blocked: map[string]bool{}}
		p.cardsBy[serial] = c
	}
	return c
}

// apply folds one event into the read models. Pure but for the maps.
func (p *Projections) apply(env events.Envelope, pl events.Payload) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := pl.(type) {
	case *events.CardPresented:
		p.cardLocked(ev.Serial).LastSeen = env.Time
	case *events.PINVerified:
		c := p.cardLocked(ev.Serial)
		c.DefaultPIN[ev.PIN] = ev.DefaultPIN
		c.Blocked[ev.PIN] = false
	case *events.PINChanged:
		c := p.cardLocked(ev.Serial)
		c.DefaultPIN[ev.PIN] = false
		c.Blocked[ev.PIN] = false
	case *events.UserEnrolled:
		c := p.cardLocked(ev.Serial)
		c.UserSlot, c.UserKey = ev.Slot, ev.KeyFingerprint
	case *events.CardBlocked:
		p.cardLocked(ev.Serial).Blocked[ev.PIN] = true
	case *events.KeyGenerated:
		ks := &KeySet{ID: ev.KeySetID, Threshold: ev.Threshold, Shares: ev.Shares, KCV: ev.KCV,
			Commitments: map[int]string{}, Holders: map[int][]string{}, Status: KeySetPending, Ceremony: env.CeremonyID}
		for _, c := range ev.Commitments {
			ks.Commitments[c.Index] = c.Commitment
		}
		p.sets[ev.KeySetID] = ks
	case *events.ShareWriteRequested:
		p.cardLocked(ev.Serial).Uncertain = true
	case *events.ShareWriteFailed:
		c := p.cardLocked(ev.Serial)
		p.dropHolderLocked(c)
		c.KeySetID, c.ShareIndex, c.Void = "", 0, false
	case *events.ShareWritten:
		c := p.cardLocked(ev.Serial)
		p.dropHolderLocked(c)
		c.KeySetID, c.ShareIndex, c.Uncertain, c.Void = ev.KeySetID, ev.Index, false, false
		if ks, ok := p.sets[ev.KeySetID]; ok {
			ks.Holders[ev.Index] = append(ks.Holders[ev.Index], ev.Serial)
		}
	case *events.HSMKeyLoaded:
		if ks, ok := p.sets[ev.KeySetID]; ok && ks.Status != KeySetVoid {
			ks.Status = KeySetLive
		}
	case *events.KeySetVoided:
		if ks, ok := p.sets[ev.KeySetID]; ok {
			ks.Status = KeySetVoid
		}
		for _, s := range ev.Written {
			if c := p.cardLocked(s); c.KeySetID == ev.KeySetID {
				c.Void = true
			}
		}
	}
}

// dropHolderLocked removes the card from the set it held a share of.
func (p *Projections) dropHolderLocked(c *CardRecord) {
	ks, ok := p.sets[c.KeySetID]
	if !ok {
		return
	}
	hs := ks.Holders[c.ShareIndex]
	for i, s := range hs {
		if s == c.Serial {
			ks.Holders[c.ShareIndex] = append(hs[:i], hs[i+1:]...)
			break
		}
	}
}
