package events

// Payloads of the PIN change ceremony. A PIN never appears: only which
// PIN of which card, and the rule a refused new PIN broke.

// PINChangeStarted opens a pin-change ceremony for one slot of a card.
type PINChangeStarted struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
	Slot     string `json:"slot"` // "backup" or "user"
}

// PINPolicyRefused: the new PIN broke the policy (the rule, not the PIN).
type PINPolicyRefused struct {
	Serial string `json:"serial"`
	Rule   string `json:"rule"`
}

// PINChangeRequested: CHANGE REFERENCE DATA is about to be sent.
type PINChangeRequested struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
}

// PINChanged: the card accepted the new PIN.
type PINChanged struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
}

func (PINChangeStarted) EventType() string   { return "pin.change_started" }
func (PINPolicyRefused) EventType() string   { return "pin.policy_refused" }
func (PINChangeRequested) EventType() string { return "pin.change_requested" }
func (PINChanged) EventType() string         { return "pin.changed" }

// PINChangeResolved: a PIN change whose outcome was not recorded was
// settled on the card: Outcome "changed" or "not-applied"; How says what
// was checked ("retry counter" spends no try, "verified new PIN" spends
// one if it fails).
type PINChangeResolved struct {
	Serial  string `json:"serial"`
	PIN     string `json:"pin"`
	Outcome string `json:"outcome"`
	How     string `json:"how"`
}

func (PINChangeResolved) EventType() string { return "pin.change_resolved" }
