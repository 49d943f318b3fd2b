package events

// Payloads of the PIN change ceremony. A PIN never appears: only which
// PIN of which card, and the rule a refused new PIN broke.

// PINChangeStarted opens a pin-change ceremony for one slot of a card.
// Custodian, when given, is the person the card is reassigned to once its
// PIN is changed (custody.card_assigned). Version 2; version 1 had no
// Custodian (UpcastUnchanged).
type PINChangeStarted struct {
	Operator  string `json:"operator"`
	Reader    string `json:"reader"`
	Slot      string `json:"slot"` // "backup" or "user"
	Custodian string `json:"custodian,omitempty"`
}

// PINPolicyRefused: the new PIN broke the policy (the rule, not the PIN).
type PINPolicyRefused struct {
	Serial string `json:"serial"`
	Rule   string `json:"rule"`
}

// PINChangeRequested: CHANGE REFERENCE DATA is about to be sent. Entry
// says where the PINs are typed: "host" (the PIN pad port) or "reader" (a
// class-3 reader's keypad, PC/SC part 10 FEATURE_MODIFY_PIN_DIRECT; the
// PINs never reach the host). Schema v2 added Entry: v1 events are upcast
// with "host".
type PINChangeRequested struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
	Entry  string `json:"entry"`
}

// PINChanged: the card accepted the new PIN. Entry as in
// PINChangeRequested (schema v2; v1 upcast with "host").
type PINChanged struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
	Entry  string `json:"entry"`
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
