package events

// Payloads of the PKCS#11 slot user-card ceremonies and of PIN change. The
// slot credential never appears: only the card, the slot's name and the
// fingerprint (SHA-256 of the public point) of the card key it is sealed to.

// UserEnrolStarted opens a user-card-enrol ceremony for a PKCS#11 slot.
type UserEnrolStarted struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
	Slot     string `json:"slot"`
}

// UserKeyGenerated: the card made its decryption key (it never leaves).
type UserKeyGenerated struct {
	Serial         string `json:"serial"`
	KeyFingerprint string `json:"key_fingerprint"`
}

// UserCredentialWriteRequested: the sealed credential is about to be
// written to the card's user slot.
type UserCredentialWriteRequested struct {
	Serial string `json:"serial"`
	Slot   string `json:"slot"`
}

// UserEnrolled: the card holds the slot credential sealed to its key, and
// unsealing it on the card logged into the slot.
type UserEnrolled struct {
	Serial         string `json:"serial"`
	Slot           string `json:"slot"`
	KeyFingerprint string `json:"key_fingerprint"`
}

// UserActivateStarted opens a user-card-activate ceremony.
type UserActivateStarted struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
	Slot     string `json:"slot"`
}

// UserSlotActivated: the card unsealed the credential and the slot is
// logged in.
type UserSlotActivated struct {
	Serial string `json:"serial"`
	Slot   string `json:"slot"`
}

// UserSlotDeactivated: the slot was logged out.
type UserSlotDeactivated struct {
	Serial string `json:"serial"`
	Slot   string `json:"slot"`
	Reason string `json:"reason"`
}

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

func (UserEnrolStarted) EventType() string             { return "user.enrol_started" }
func (UserKeyGenerated) EventType() string             { return "user.key_generated" }
func (UserCredentialWriteRequested) EventType() string { return "user.credential_write_requested" }
func (UserEnrolled) EventType() string                 { return "user.enrolled" }
func (UserActivateStarted) EventType() string          { return "user.activate_started" }
func (UserSlotActivated) EventType() string            { return "user.slot_activated" }
func (UserSlotDeactivated) EventType() string          { return "user.slot_deactivated" }
func (PINChangeStarted) EventType() string             { return "pin.change_started" }
func (PINPolicyRefused) EventType() string             { return "pin.policy_refused" }
func (PINChangeRequested) EventType() string           { return "pin.change_requested" }
func (PINChanged) EventType() string                   { return "pin.changed" }

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
