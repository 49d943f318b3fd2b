package ceremonies

import "github.com/ceremony-hsm/ceremony/events"

// CardStepEvents are the data events of the shared card steps
// (PresentCard, VerifyPIN, WaitRemoved, Refuse): every phase that reads
// a card declares them. A card the script does not name
// (ceremony.unscripted) is an annotation of every kind (ceremonies/kinds).
func CardStepEvents() []string {
	return types(&events.CardPresented{}, &events.CardRefused{}, &events.CardRemoved{},
		&events.PINRetriesRead{}, &events.PINVerified{}, &events.PINRejected{}, &events.CardBlocked{}, &events.SerialConflict{},
		&events.ReaderEvent{})
}

// RecoveryEvents are the data events a resume records: what was lost with
// the stopped process and what must be redone.
func RecoveryEvents() []string {
	return types(&events.CeremonyResumed{}, &events.SecretsLost{})
}

// Types returns the event types of payloads.
func Types(ps ...events.Payload) []string { return types(ps...) }

func types(ps ...events.Payload) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.EventType()
	}
	return out
}

// CommonDeviations are the event types of every kind a reviewer must see,
// with what the report calls them; each kind adds its own (Kind.Deviations).
func CommonDeviations() map[string]string {
	return map[string]string{
		"step.timed_out": "timeout", "step.retried": "retry", "card.pin_rejected": "wrong PIN", "card.blocked": "blocked card",
		"card.refused": "card refused", "card.serial_conflict": "two cards claim one serial", "ceremony.aborted": "aborted", "ceremony.failed": "failed",
		"ceremony.secrets_lost": "secrets lost", "ceremony.resumed": "resumed",
		"ceremony.unscripted": "not in the script",
		"card.reader_event":   "card, reader or pcscd lost or back",
		"step.extended":       "deadline extended",
	}
}

// Terminal phases most kinds share.
const (
	PhaseCompleted = "completed"
	PhaseAborted   = "aborted"
	PhaseFailed    = "failed"
)
