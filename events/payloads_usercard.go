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

func (UserEnrolStarted) EventType() string             { return "user.enrol_started" }
func (UserKeyGenerated) EventType() string             { return "user.key_generated" }
func (UserCredentialWriteRequested) EventType() string { return "user.credential_write_requested" }
func (UserEnrolled) EventType() string                 { return "user.enrolled" }
func (UserActivateStarted) EventType() string          { return "user.activate_started" }
func (UserSlotActivated) EventType() string            { return "user.slot_activated" }
func (UserSlotDeactivated) EventType() string          { return "user.slot_deactivated" }
