package usercard

import (
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds and phases.
const (
	KindEnrol    = "user-card-enrol"
	KindActivate = "user-card-activate"

	PhaseCreated       = "created"
	PhaseCreatedPaused = "created_paused"
	PhaseActive        = "active"
	PhaseCompleted     = "completed"
	PhaseAborted       = "aborted"
	PhaseFailed        = "failed"
)

var terminal = []string{PhaseCompleted, PhaseAborted, PhaseFailed}

// EnrolDefinition: insert the card, admin PIN, the card makes its key,
// user PIN, the credential is sealed to the key and written, unsealed on
// the card and checked against the slot.
func EnrolDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused}
	ts := []engine.Transition{
		{Event: events.UserEnrolled{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	return &engine.Definition{
		Kind: KindEnrol, First: events.UserEnrolStarted{}.EventType(), Initial: PhaseCreated, Terminal: terminal,
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		NewState:    func() engine.State { return &State{} },
	}
}

// ActivateDefinition: card + user PIN on the PIN pad -> the card unseals
// the credential -> C_Login; the slot stays active until deactivated.
func ActivateDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused, PhaseActive}
	ts := []engine.Transition{
		{Event: events.UserSlotActivated{}.EventType(), From: []string{PhaseCreated}, To: PhaseActive},
		{Event: events.UserSlotDeactivated{}.EventType(), From: []string{PhaseActive}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	return &engine.Definition{
		Kind: KindActivate, First: events.UserActivateStarted{}.EventType(), Initial: PhaseCreated, Terminal: terminal,
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		NewState:    func() engine.State { return &State{} },
	}
}

// Definitions returns the user-card definitions.
func Definitions() []*engine.Definition {
	return []*engine.Definition{EnrolDefinition(), ActivateDefinition()}
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
