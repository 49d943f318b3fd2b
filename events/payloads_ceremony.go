package events

import (
	"encoding/json"
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
// process that ran it stopped; Redo lists what must be done again, By
// names the operator who resumed it (version 2; v1 did not record it and
// is upcast with "").
type CeremonyResumed struct {
	Phase string   `json:"phase"`
	Redo  []string `json:"redo"`
	By    string   `json:"by"`
}

// upcastResumedV1 adds by "": v1 did not record who resumed.
func upcastResumedV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "by", `""`)
}

// SecretsLost records that secrets held only in memory (the key, shares
// read) were lost with the process that held them (ARCHITECTURE.md, "Engine rules").
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

// StepRetried resumes a ceremony paused by a timeout; By names the
// operator who retried it (version 2; v1 did not record it and is upcast
// with "").
type StepRetried struct {
	Step string `json:"step"`
	By   string `json:"by"`
}

// upcastRetriedV1 adds by "": v1 did not record who retried.
func upcastRetriedV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "by", `""`)
}

// StepExtended moves the deadline of the open step later (WCAG 2.2.1,
// "Timing Adjustable"): By asked for Seconds more; Deadline is the new
// deadline.
type StepExtended struct {
	Step     string    `json:"step"`
	Deadline time.Time `json:"deadline"`
	Seconds  int64     `json:"seconds"`
	By       string    `json:"by"`
}

func (CeremonyAborted) EventType() string { return "ceremony.aborted" }
func (CeremonyFailed) EventType() string  { return "ceremony.failed" }
func (CeremonyResumed) EventType() string { return "ceremony.resumed" }
func (SecretsLost) EventType() string     { return "ceremony.secrets_lost" }
func (StepDeadlineSet) EventType() string { return "step.deadline_set" }
func (StepCompleted) EventType() string   { return "step.completed" }
func (StepTimedOut) EventType() string    { return "step.timed_out" }
func (StepRetried) EventType() string     { return "step.retried" }
func (StepExtended) EventType() string    { return "step.extended" }

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
// (ceremony.witnessed) before it completes. Named, when the ceremony was
// started from a script that lists its witnesses, are those witnesses
// (the list sets Count); a sign-off by anyone else is refused or recorded
// as a deviation, as the script says. Version 2; version 1 had no Named.
type WitnessesRequired struct {
	Count int             `json:"count"`
	Named []ScriptWitness `json:"named,omitempty"`
}

// UpcastUnchanged upcasts a version that the next one only extends with
// an optional field (omitted when empty): the old JSON already says "not
// given" (e.g. ceremony.witnesses_required v1, which named nobody).
func UpcastUnchanged(old json.RawMessage) (json.RawMessage, error) { return old, nil }

func (WitnessesRequired) EventType() string { return "ceremony.witnesses_required" }

// ApprovalRequired: the ceremony is under dual control (the station's
// policy for its kind): a second operator, not Starter, must approve it
// (ceremony.approved) before its first card step.
type ApprovalRequired struct {
	Starter string `json:"starter"`
}

// Approved is the second operator's approval of a ceremony under dual
// control: the approving account and its role.
type Approved struct {
	By   string `json:"by"`
	Role string `json:"role"`
}

func (ApprovalRequired) EventType() string { return "ceremony.approval_required" }
func (Approved) EventType() string         { return "ceremony.approved" }
