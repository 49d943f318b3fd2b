package events

// Payloads of a ceremony started from a reviewed script (ARCHITECTURE.md,
// "Ceremony semantics"): the script's hash and what it allows, the steps
// read aloud, and what happened that the script did not name.

// ScriptBound binds a ceremony to the script it was started from: the
// SHA-256 of the file as reviewed, and what the script allows. Recorded
// right after the ceremony's first event.
type ScriptBound struct {
	SHA256     string          `json:"sha256"`
	File       string          `json:"file"` // the file's base name, as given
	Title      string          `json:"title,omitempty"`
	Unscripted string          `json:"unscripted"` // "refuse" or "deviation"
	Operators  []string        `json:"operators,omitempty"`
	Cards      []ScriptCard    `json:"cards,omitempty"`
	Witnesses  []ScriptWitness `json:"witnesses,omitempty"`
	Approvals  []ScriptWitness `json:"approvals,omitempty"`
	Steps      []string        `json:"steps,omitempty"`
}

// ScriptCard is a card the script names and the custodian who brings it.
type ScriptCard struct {
	Serial    string `json:"serial"`
	Custodian string `json:"custodian"`
}

// ScriptWitness is a person the script names, with their role.
type ScriptWitness struct {
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

func (ScriptBound) EventType() string { return "ceremony.script_bound" }

// ScriptStepChecked: the operator read a step of the script aloud and
// checked it off (Step counts from 1).
type ScriptStepChecked struct {
	Step int    `json:"step"`
	Text string `json:"text"`
	By   string `json:"by"`
}

func (ScriptStepChecked) EventType() string { return "ceremony.script_step_checked" }

// Unscripted: a card or a participant the script does not name took part,
// and the script says to record that as a deviation rather than refuse it.
// What is "card", "operator" or "witness"; Name is the serial or the name.
type Unscripted struct {
	What    string `json:"what"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (Unscripted) EventType() string { return "ceremony.unscripted" }
