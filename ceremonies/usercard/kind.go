package usercard

import (
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds and phases.
const (
	KindEnrol    = "user-card-enrol"
	KindActivate = "user-card-activate"

	PhaseCreated   = "created"
	PhaseActive    = "active"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
)

var terminal = []string{PhaseCompleted, PhaseAborted, PhaseFailed}

// EnrolDefinition: insert the card, admin PIN, the card makes its key,
// user PIN, the credential is sealed to the key and written, unsealed on
// the card and checked against the slot.
func EnrolDefinition() *engine.Definition {
	live := []string{PhaseCreated, engine.PausedPhase(PhaseCreated)}
	ts := []engine.Transition{
		{Event: events.UserEnrolled{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	return &engine.Definition{
		Kind: KindEnrol, First: events.UserEnrolStarted{}.EventType(), Initial: PhaseCreated, Terminal: terminal,
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		Data: map[string][]string{PhaseCreated: append(append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...),
			ceremonies.Types(&events.UserKeyGenerated{}, &events.UserCredentialWriteRequested{})...)},
		NewState: func() engine.State { return &State{} },
	}
}

// ActivateDefinition: card + user PIN on the PIN pad -> the card unseals
// the credential -> C_Login; the slot stays active until deactivated.
func ActivateDefinition() *engine.Definition {
	live := []string{PhaseCreated, engine.PausedPhase(PhaseCreated), PhaseActive}
	ts := []engine.Transition{
		{Event: events.UserSlotActivated{}.EventType(), From: []string{PhaseCreated}, To: PhaseActive},
		{Event: events.UserSlotDeactivated{}.EventType(), From: []string{PhaseActive}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	return &engine.Definition{
		Kind: KindActivate, First: events.UserActivateStarted{}.EventType(), Initial: PhaseCreated, Terminal: terminal,
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		Data:        map[string][]string{PhaseCreated: append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...)},
		NewState:    func() engine.State { return &State{} },
	}
}

// State is the fold of a user-card ceremony.
type State struct {
	Operator string
	Slot     string
	Serial   string
	Key      string // fingerprint of the card key
	Pending  bool   // a credential write asked for and not confirmed
	Ended    string
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.UserEnrolStarted:
		s.Operator, s.Slot = ev.Operator, ev.Slot
	case *events.UserActivateStarted:
		s.Operator, s.Slot = ev.Operator, ev.Slot
	case *events.UserKeyGenerated:
		s.Serial, s.Key = ev.Serial, ev.KeyFingerprint
	case *events.UserCredentialWriteRequested:
		s.Pending = true
	case *events.UserEnrolled:
		s.Pending, s.Serial, s.Key = false, ev.Serial, ev.KeyFingerprint
	case *events.UserSlotActivated:
		s.Serial = ev.Serial
	case *events.UserSlotDeactivated:
		s.Ended = ev.Reason
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	}
}

// Enrol is the user-card enrol kind: a card becomes the credential of a
// PKCS#11 slot.
func Enrol() ceremonies.Kind {
	k := common(EnrolDefinition())
	k.Needs.Credential = true
	k.Start = &ceremonies.Start{
		Command:  "user enrol",
		Group:    "Enrol and activate user cards for a PKCS#11 slot",
		Short:    "Seal a PKCS#11 slot's user PIN to a key made on a card (--hsm pkcs11)",
		IDPrefix: "enrol",
		Long: `Enrol a user card for a PKCS#11 slot. The slot's user PIN (given with
--pkcs11-pin-file or --pkcs11-pin-env, never as a flag value) is checked
by a login before any card is touched; then a key is made on the card
(its admin PIN, the backup slot's) and the PIN is sealed to that key, the
card's serial and the slot's name, and written to the card's user slot
(its user PIN). Name the slot the same way here and at 'user activate'.`,
		Example: `  ceremony user enrol --operator alice --cards-dir cards \
      --hsm pkcs11 --pkcs11-token slot-1 --pkcs11-pin-file slot-1.pin`,
		Begin: func(_ ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
			return []events.Payload{&events.UserEnrolStarted{Operator: at.Operator, Reader: at.Reader, Slot: at.Slot}}, nil
		},
	}
	k.Effects = []ceremonies.Effect{{
		Asked:    events.UserCredentialWriteRequested{}.EventType(),
		Answered: ceremonies.Types(&events.UserEnrolled{}),
		Key:      serialOf,
		What: func(p events.Payload) string {
			return fmt.Sprintf("writing the slot credential to card %s has no recorded outcome", serialOf(p))
		},
		Recovery:      "enrol the card again",
		EndedIsAnswer: true,
	}}
	k.Rehearse.Next = func(ceremonies.RehearsalView) (int, bool, error) { return 0, true, nil }
	return k
}

// Activate is the user-card activate kind: card and PIN log the slot in.
func Activate() ceremonies.Kind {
	k := common(ActivateDefinition())
	k.Start = &ceremonies.Start{
		Command:  "user activate",
		Group:    "Enrol and activate user cards for a PKCS#11 slot",
		Short:    "Log the slot in with the card and its PIN; OK on the PIN pad logs it out",
		IDPrefix: "activate",
		Long: `Activate a PKCS#11 slot with its user card: the card's PIN unseals the
slot credential, which logs the slot in; OK on the PIN pad logs it out.
A copy of a card's sealed credential on another card is refused.`,
		Example: `  ceremony user activate --operator bob --cards-dir cards --hsm pkcs11 --pkcs11-token slot-1`,
		Begin: func(_ ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
			return []events.Payload{&events.UserActivateStarted{Operator: at.Operator, Reader: at.Reader, Slot: at.Slot}}, nil
		},
	}
	return k
}

func common(d *engine.Definition) ceremonies.Kind {
	return ceremonies.Kind{
		Definition: d,
		Payloads: []events.PayloadType{
			events.Declare[events.UserEnrolStarted](),
			events.Declare[events.UserKeyGenerated](),
			events.Declare[events.UserCredentialWriteRequested](),
			events.Declare[events.UserEnrolled](),
			events.Declare[events.UserActivateStarted](),
			events.Declare[events.UserSlotActivated](),
			events.Declare[events.UserSlotDeactivated](),
		},
		Completed: PhaseCompleted,
		Needs:     ceremonies.Needs{Cards: true, Slots: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Project: func(inv *inventory.Inventory, _ events.Envelope, p events.Payload) {
			if ev, ok := p.(*events.UserEnrolled); ok {
				inv.UserEnrolled(ev.Serial, ev.Slot, ev.KeyFingerprint)
			}
		},
		Rehearse: &ceremonies.Rehearse{
			Params: func(int) ceremonies.Params { return ceremonies.Params{} },
			Cards:  func(shares int) int { return shares },
			Next:   func(ceremonies.RehearsalView) (int, bool, error) { return 0, false, nil },
		},
	}
}

func serialOf(p events.Payload) string {
	switch ev := p.(type) {
	case *events.UserCredentialWriteRequested:
		return ev.Serial
	case *events.UserEnrolled:
		return ev.Serial
	}
	return ""
}

func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}, {Name: "slot", Value: st.Slot}}
	if st.Serial != "" {
		rows = append(rows, ceremonies.Row{Name: "card", Value: st.Serial})
	}
	if st.Key != "" {
		rows = append(rows, ceremonies.Row{Name: "card key", Value: st.Key})
	}
	if st.Ended != "" {
		rows = append(rows, ceremonies.Row{Name: "ended because", Value: st.Ended})
	}
	return rows
}
