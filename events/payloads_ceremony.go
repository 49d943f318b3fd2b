package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Payloads every ceremony kind uses: lifecycle, step deadlines, recovery.

// CeremonyAborted ends a ceremony at the operator's request or the engine's.
type CeremonyAborted struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// CeremonyFailed ends a ceremony that cannot go on; Recovery says what to do.
type CeremonyFailed struct {
	Reason   string `json:"reason"`
	Recovery string `json:"recovery"`
}

// CeremonyResumed records that a ceremony was picked up again after the
// process that ran it stopped; Redo lists what must be done again.
type CeremonyResumed struct {
	Phase string   `json:"phase"`
	Redo  []string `json:"redo"`
}

// SecretsLost records that secrets held only in memory (the key, shares
// read) were lost with the process that held them (design section 4).
type SecretsLost struct {
	What        string `json:"what"`
	Consequence string `json:"consequence"`
}

// StepDeadlineSet persists the deadline of a step that waits for the
// operator; the engine re-arms it after a restart.
type StepDeadlineSet struct {
	Step     string    `json:"step"`
	Deadline time.Time `json:"deadline"`
}

// StepCompleted closes the open step deadline.
type StepCompleted struct {
	Step string `json:"step"`
}

// StepTimedOut pauses a ceremony: the operator retries or aborts.
type StepTimedOut struct {
	Step     string    `json:"step"`
	Deadline time.Time `json:"deadline"`
}

// StepRetried resumes a ceremony paused by a timeout.
type StepRetried struct {
	Step string `json:"step"`
}

func (CeremonyAborted) EventType() string { return "ceremony.aborted" }
func (CeremonyFailed) EventType() string  { return "ceremony.failed" }
func (CeremonyResumed) EventType() string { return "ceremony.resumed" }
func (SecretsLost) EventType() string     { return "ceremony.secrets_lost" }
func (StepDeadlineSet) EventType() string { return "step.deadline_set" }
func (StepCompleted) EventType() string   { return "step.completed" }
func (StepTimedOut) EventType() string    { return "step.timed_out" }
func (StepRetried) EventType() string     { return "step.retried" }

// Card observations, shared by every ceremony that reads cards.

// CardPresented: a card was found in a reader. Slot is the manual's "n. card"
// ordinal. Schema v2 added ReaderClass ("host-pinpad", "class3-pinpad",
// "unknown"): v1 events are upcast with "unknown".
type CardPresented struct {
	Reader      string `json:"reader"`
	ReaderClass string `json:"reader_class"`
	Serial      string `json:"serial"`
	Slot        int    `json:"slot"`
}

// CardRefused: the card cannot be used for this step. Code is stable for
// scripts (see the ceremonies package), Message is for the operator.
type CardRefused struct {
	Serial  string `json:"serial"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CardRemoved: the card left the reader.
type CardRemoved struct {
	Reader string `json:"reader"`
	Serial string `json:"serial"`
}

// PINRetriesRead: the retry counter read before a PIN entry (no try spent).
type PINRetriesRead struct {
	Serial    string `json:"serial"`
	PIN       string `json:"pin"` // which PIN: "PW1" or "PW3", never its value
	TriesLeft int    `json:"tries_left"`
	LastTry   bool   `json:"last_try"`
}

// PINVerified: the card accepted the PIN. DefaultPIN is true when the PIN
// is the factory default, so the card registry can flag it (known only
// when the PIN passed through the host). Entry says where the PIN was
// typed: "host" (the PIN pad port) or "reader" (a class-3 reader's keypad,
// PC/SC part 10; the PIN never reached the host). Schema v2 added Entry:
// v1 events are upcast with "host".
type PINVerified struct {
	Serial     string `json:"serial"`
	PIN        string `json:"pin"`
	DefaultPIN bool   `json:"default_pin"`
	Entry      string `json:"entry"`
}

// PINRejected: a wrong PIN; TriesLeft as the card reported it. Entry as in
// PINVerified (schema v2; v1 upcast with "host").
type PINRejected struct {
	Serial    string `json:"serial"`
	PIN       string `json:"pin"`
	TriesLeft int    `json:"tries_left"`
	Entry     string `json:"entry"`
}

// CardBlocked: the PIN has no tries left; the card is unavailable.
type CardBlocked struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
}

func (CardPresented) EventType() string  { return "card.presented" }
func (CardRefused) EventType() string    { return "card.refused" }
func (CardRemoved) EventType() string    { return "card.removed" }
func (PINRetriesRead) EventType() string { return "card.pin_retries_read" }
func (PINVerified) EventType() string    { return "card.pin_verified" }
func (PINRejected) EventType() string    { return "card.pin_rejected" }
func (CardBlocked) EventType() string    { return "card.blocked" }

// upcastEntryV1 adds entry "host": before v2 every PIN came through the
// host's PIN pad port.
func upcastEntryV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "entry", `"host"`)
}

// upcastCardPresentedV1 adds reader_class, unknown to v1 writers.
func upcastCardPresentedV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "reader_class", `"unknown"`)
}

// addField sets key to value in a JSON object unless it is there.
func addField(old json.RawMessage, key, value string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(old, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m == nil { // JSON null: assigning to the nil map would panic
		return nil, fmt.Errorf("%w: payload is null, want an object", ErrMalformed)
	}
	if _, ok := m[key]; !ok {
		m[key] = json.RawMessage(value)
	}
	return json.Marshal(m)
}

// Witnessed is a witness's sign-off of a ceremony (WebTrust / CA/B Forum
// key ceremonies): who, in which role, what they attest, up to which event
// (its hash), and optionally their Ed25519 signature over
// "ceremony-witness-v1|<ceremony>|<up_to>|<name>|<role>|<statement>".
type Witnessed struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Statement string `json:"statement"`
	UpTo      string `json:"up_to"`
	PublicKey string `json:"public_key,omitempty"`
	Signature string `json:"signature,omitempty"`
}

func (Witnessed) EventType() string { return "ceremony.witnessed" }

// WitnessMessage is what a witness signs.
func WitnessMessage(ceremony, upTo, name, role, statement string) []byte {
	return []byte("ceremony-witness-v1|" + ceremony + "|" + upTo + "|" + name + "|" + role + "|" + statement)
}

// WitnessesRequired: the ceremony must have Count witness sign-offs
// (ceremony.witnessed) before it completes.
type WitnessesRequired struct {
	Count int `json:"count"`
}

func (WitnessesRequired) EventType() string { return "ceremony.witnesses_required" }
