// Package inventory is what the station owns, as the events tell it: the
// card registry (what each card holds, its default-PIN and blocked flags),
// the Backup Key sets (quorum, commitments, holders, status) and the
// Backup Key each HSM holds. It is a read model: folded from every stored
// event, never stored itself (ARCHITECTURE.md, "Ceremony semantics").
//
// Rules a caller must know:
//   - Apply folds the card observations every kind shares (card.presented,
//     card.pin_verified, card.blocked); each kind folds its own events
//     through the mutators below (ceremonies.Kind.Project). Apply and the
//     mutators are pure but for the inventory's maps, and are safe for
//     concurrent use.
//   - Readers get copies: nothing returned aliases the inventory's maps.
//   - A card's identity is its serial and what it holds. What a PIN
//     verification says of a card (not blocked, default PIN or not) is
//     held back until the ceremony goes on with the card; a card refused
//     right after (foreign, corrupt, claiming another card's serial) never
//     changes the registry. A serial seen with conflicting content is kept
//     as a conflict (card.serial_conflict) for health to report.
package inventory

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// Card is what the events say about one card.
type Card struct {
	Serial     string          `json:"serial"`
	KeySetID   string          `json:"key_set_id,omitempty"`
	ShareIndex int             `json:"share_index,omitempty"`
	DefaultPIN map[string]bool `json:"default_pin"`         // by PIN ("PW3", "PW1"): last verified with the factory default
	Blocked    map[string]bool `json:"blocked"`             // by PIN: no tries left when last seen
	Void       bool            `json:"void"`                // holds a share of a voided key set
	Uncertain  bool            `json:"uncertain"`           // a write was asked for and its outcome is not known
	UserSlot   string          `json:"user_slot,omitempty"` // the PKCS#11 slot the card is enrolled for
	UserKey    string          `json:"user_key,omitempty"`  // fingerprint of the card key the credential is sealed to
	Conflicts  []string        `json:"conflicts,omitempty"` // another card claimed this serial: what it held
	LastSeen   time.Time       `json:"last_seen"`
	// LastVerified is when a share check last read the card's share and
	// matched it to its commitment; VerifiedTries the PW3 retry counter
	// then. Zero when never verified.
	LastVerified  time.Time `json:"last_verified,omitempty"`
	VerifiedTries int       `json:"verified_tries,omitempty"`
	// Custodian is the person the card is assigned to, Label what is
	// written on it; empty when never assigned.
	Custodian string `json:"custodian,omitempty"`
	Label     string `json:"label,omitempty"`
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
	// VerifyEvery is the key set's verification policy (0: none): each
	// card of the set is verified at least this often; PolicySince is
	// when the policy was set, the reference for a card never verified.
	VerifyEvery time.Duration `json:"verify_every,omitempty"`
	PolicySince time.Time     `json:"policy_since,omitempty"`
}

// Inventory holds the read models. The zero value is not usable: call New.
type Inventory struct {
	mu      sync.Mutex
	cards   map[string]*Card
	sets    map[string]*KeySet
	hsmKCV  map[string]string // HSM -> KCV of the Backup Key it holds
	lastSet string            // the key set loaded into an HSM last
	// held: per ceremony, PIN verifications not yet applied (the card may
	// still be refused).
	held map[string][]events.PINVerified
}

// New returns an empty inventory.
func New() *Inventory {
	return &Inventory{cards: map[string]*Card{}, sets: map[string]*KeySet{}, hsmKCV: map[string]string{}, held: map[string][]events.PINVerified{}}
}

// Apply folds the card observations every kind records. A PIN
// verification is held until the next event of its ceremony: a refusal of
// that card drops it, anything else but another PIN observation applies it.
func (v *Inventory) Apply(env events.Envelope, p events.Payload) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev := p.(type) {
	case *events.PINVerified:
		v.held[env.CeremonyID] = append(v.held[env.CeremonyID], *ev)
		return
	case *events.PINRetriesRead, *events.PINRejected, *events.StepDeadlineSet, *events.StepCompleted:
		// between a verification and what the ceremony does with the card
	case *events.CardRefused:
		v.dropHeldLocked(env.CeremonyID, ev.Serial)
	case *events.SerialConflict:
		v.dropHeldLocked(env.CeremonyID, ev.Serial) // a refusal follows
	default:
		v.applyHeldLocked(env.CeremonyID)
	}
	switch ev := p.(type) {
	case *events.CardPresented:
		v.cardLocked(ev.Serial).LastSeen = env.Time
	case *events.CardBlocked:
		v.cardLocked(ev.Serial).Blocked[ev.PIN] = true
	case *events.SerialConflict:
		c := v.cardLocked(ev.Serial)
		c.Conflicts = append(c.Conflicts, fmt.Sprintf("a card presented in ceremony %s held share %d of key set %s, which this store never made",
			env.CeremonyID, ev.PresentedIndex, ev.PresentedKeySetID))
	}
}

func (v *Inventory) applyHeldLocked(ceremony string) {
	for _, ev := range v.held[ceremony] {
		c := v.cardLocked(ev.Serial)
		c.DefaultPIN[ev.PIN] = ev.DefaultPIN
		c.Blocked[ev.PIN] = false
	}
	delete(v.held, ceremony)
}

func (v *Inventory) dropHeldLocked(ceremony, serial string) {
	kept := v.held[ceremony][:0]
	for _, ev := range v.held[ceremony] {
		if ev.Serial != serial {
			kept = append(kept, ev)
		}
	}
	if len(kept) == 0 {
		delete(v.held, ceremony)
		return
	}
	v.held[ceremony] = kept
}

// PINChanged records that a card's PIN is no longer the default, nor blocked.
func (v *Inventory) PINChanged(serial, pin string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	c.DefaultPIN[pin] = false
	c.Blocked[pin] = false
}

// UserEnrolled records the PKCS#11 slot a card stands for.
func (v *Inventory) UserEnrolled(serial, slot, keyFingerprint string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	c.UserSlot, c.UserKey = slot, keyFingerprint
}

// KeySetGenerated adds a new, pending key set.
func (v *Inventory) KeySetGenerated(ceremony, id string, threshold, shares int, kcv string, commitments map[int]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ks := &KeySet{ID: id, Threshold: threshold, Shares: shares, KCV: kcv,
		Commitments: map[int]string{}, Holders: map[int][]string{}, Status: KeySetPending, Ceremony: ceremony}
	for i, c := range commitments {
		ks.Commitments[i] = c
	}
	v.sets[id] = ks
}

// ShareWriteRequested marks a card's backup slot as uncertain.
func (v *Inventory) ShareWriteRequested(serial string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cardLocked(serial).Uncertain = true
}

// ShareWriteFailed records that the card holds no share any more.
func (v *Inventory) ShareWriteFailed(serial string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	v.dropHolderLocked(c)
	c.KeySetID, c.ShareIndex, c.Void = "", 0, false
}

// ShareWritten records that the card holds share index of the set.
func (v *Inventory) ShareWritten(serial, keySetID string, index int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	v.dropHolderLocked(c)
	c.KeySetID, c.ShareIndex, c.Uncertain, c.Void = keySetID, index, false, false
	if ks, ok := v.sets[keySetID]; ok {
		ks.Holders[index] = append(ks.Holders[index], serial)
	}
}

// KeyLoaded records that hsm holds the key of the set, with kcv: the set
// is live.
func (v *Inventory) KeyLoaded(hsm, keySetID, kcv string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ks, ok := v.sets[keySetID]; ok && ks.Status != KeySetVoid {
		ks.Status = KeySetLive
	}
	v.hsmKCV[hsm] = kcv
	v.lastSet = keySetID
}

// KeySetVoided records a void set and marks the written cards.
func (v *Inventory) KeySetVoided(keySetID string, written []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ks, ok := v.sets[keySetID]; ok {
		ks.Status = KeySetVoid
	}
	for _, s := range written {
		if c := v.cardLocked(s); c.KeySetID == keySetID {
			c.Void = true
		}
	}
}

// ShareVerified records that a share check read share index of the key
// set from the card and matched its commitment at time at, with tries
// left on PW3: the card holds that share, its PIN is not blocked.
func (v *Inventory) ShareVerified(serial, keySetID string, index int, at time.Time, tries int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	if c.KeySetID != keySetID || c.ShareIndex != index {
		v.dropHolderLocked(c)
		c.KeySetID, c.ShareIndex = keySetID, index
		if ks, ok := v.sets[keySetID]; ok {
			ks.Holders[index] = append(ks.Holders[index], serial)
		}
	}
	c.LastVerified, c.VerifiedTries, c.Blocked["PW3"] = at, tries, false
}

// VerifyPolicy sets a key set's verification policy (every 0 lifts it).
func (v *Inventory) VerifyPolicy(keySetID string, every time.Duration, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ks, ok := v.sets[keySetID]; ok {
		ks.VerifyEvery, ks.PolicySince = every, at
	}
}

// CardAssigned records the custodian a card is assigned to and its label;
// an empty value leaves that field as it was.
func (v *Inventory) CardAssigned(serial, custodian, label string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	if custodian != "" {
		c.Custodian = custodian
	}
	if label != "" {
		c.Label = label
	}
}

// GenerateAborted voids the key sets the aborted ceremony generated and
// never loaded: their key is gone with the abort, and the cards written
// may be overwritten without confirmation (ARCHITECTURE.md, "Ceremony
// semantics").
func (v *Inventory) GenerateAborted(ceremony string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ks := range v.sets {
		if ks.Ceremony != ceremony || ks.Status != KeySetPending {
			continue
		}
		ks.Status = KeySetVoid
		for _, holders := range ks.Holders {
			for _, s := range holders {
				if c := v.cardLocked(s); c.KeySetID == ks.ID {
					c.Void = true
				}
			}
		}
	}
}

// Card returns one card's entry.
func (v *Inventory) Card(serial string) (Card, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.cards[serial]
	if !ok {
		return Card{}, false
	}
	return copyCard(c), true
}

// Cards returns every card, by serial.
func (v *Inventory) Cards() []Card {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Card, 0, len(v.cards))
	for _, c := range v.cards {
		out = append(out, copyCard(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out
}

// KeySet returns one key set.
func (v *Inventory) KeySet(id string) (KeySet, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ks, ok := v.sets[id]
	if !ok {
		return KeySet{}, false
	}
	return copyKeySet(ks), true
}

// KeySets returns every key set, by id.
func (v *Inventory) KeySets() []KeySet {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]KeySet, 0, len(v.sets))
	for _, ks := range v.sets {
		out = append(out, copyKeySet(ks))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// HSMs returns the KCV of the Backup Key each HSM was last seen to hold,
// and the key set loaded last.
func (v *Inventory) HSMs() (kcvByHSM map[string]string, lastSet string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]string, len(v.hsmKCV))
	for k, kcv := range v.hsmKCV {
		out[k] = kcv
	}
	return out, v.lastSet
}

func (v *Inventory) cardLocked(serial string) *Card {
	c, ok := v.cards[serial]
	if !ok {
		c = &Card{Serial: serial, DefaultPIN: map[string]bool{}, Blocked: map[string]bool{}}
		v.cards[serial] = c
	}
	return c
}

// dropHolderLocked removes the card from the set it held a share of.
func (v *Inventory) dropHolderLocked(c *Card) {
	ks, ok := v.sets[c.KeySetID]
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

func copyCard(c *Card) Card {
	out := *c
	out.DefaultPIN = make(map[string]bool, len(c.DefaultPIN))
	out.Blocked = make(map[string]bool, len(c.Blocked))
	out.Conflicts = append([]string(nil), c.Conflicts...)
	for k, b := range c.DefaultPIN {
		out.DefaultPIN[k] = b
	}
	for k, b := range c.Blocked {
		out.Blocked[k] = b
	}
	return out
}

func copyKeySet(ks *KeySet) KeySet {
	out := *ks
	out.Commitments = make(map[int]string, len(ks.Commitments))
	out.Holders = make(map[int][]string, len(ks.Holders))
	for k, c := range ks.Commitments {
		out.Commitments[k] = c
	}
	for k, h := range ks.Holders {
		out.Holders[k] = append([]string(nil), h...)
	}
	return out
}

// CardReset records that a card went back to its factory state: it holds
// no share (its key set loses that holder), no user key, and both PINs
// are the default; its custodian and label stay.
func (v *Inventory) CardReset(serial string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.cardLocked(serial)
	v.dropHolderLocked(c)
	c.KeySetID, c.ShareIndex, c.Void, c.Uncertain = "", 0, false, false
	c.UserSlot, c.UserKey = "", ""
	c.LastVerified, c.VerifiedTries = time.Time{}, 0
	c.DefaultPIN = map[string]bool{"PW1": true, "PW3": true}
	c.Blocked = map[string]bool{}
}
