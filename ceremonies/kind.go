package ceremonies

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind is one ceremony kind: everything the engine, the CLI, the report
// and health need to know about it, declared once in the kind's package.
// ceremonies/kinds lists every Kind; nothing outside a kind's package
// switches on its name (ARCHITECTURE.md, "Adding a kind, an adapter or an
// event version").
type Kind struct {
	// Definition is the state machine: phases, transitions, the data
	// events each phase accepts, and the state the events fold into.
	Definition *engine.Definition
	// Payloads are the payload types the kind's events carry. The events
	// registry is the union of every kind's (a type several kinds record
	// is declared by each) and the common ones (events.CommonPayloads).
	Payloads []events.PayloadType
	// Completed is the terminal phase that means done; every other
	// terminal phase ended the ceremony without completing it.
	Completed string
	// Start says how an operator starts one; nil for kinds started by a
	// command of their own (hsm backup and restore).
	Start *Start
	// Needs are the station's ports a runner of this kind uses.
	Needs Needs
	// NewRunner builds what drives a ceremony of this kind, new or resumed.
	NewRunner func(Env) (Runner, error)
	// Summary returns the facts of one ceremony of this kind (the rows of
	// 'ceremony show' and of the report's header). It gets the state the
	// Definition's NewState made; any other type is an error.
	Summary func(engine.State) ([]Row, error)
	// Deviations name this kind's event types a reviewer must see (the
	// common ones are in CommonDeviations), with what to call them.
	Deviations map[string]string
	// Effects are the side effects whose outcome must be recorded: an
	// asked-for effect without an answer is a health finding.
	Effects []Effect
	// Project folds this kind's events into the inventory (card registry,
	// key sets, HSMs). Nil when the kind contributes nothing.
	Project func(inv *inventory.Inventory, env events.Envelope, p events.Payload)
	// Rehearse is the simulated operator's policy for 'ceremony rehearse'.
	Rehearse *Rehearse
}

// Name returns the kind's name, as stored in every event's envelope.
func (k Kind) Name() string { return k.Definition.Kind }

// Runner drives one ceremony until it ends or an error needs a person.
type Runner interface {
	Run(ctx context.Context, inst *engine.Instance) error
}

// Env is what a runner is built from.
type Env struct {
	Engine    *engine.Engine
	Inventory *inventory.Inventory
	Station   *Station
	Rand      io.Reader    // key and nonce randomness (crypto/rand.Reader)
	Say       func(string) // operator messages; never given a secret
	Resumed   bool         // continuing a ceremony a stopped process ran
	// Operator runs this process: the one who started the ceremony, or
	// the one who resumed it. Empty: the operator who started it.
	Operator string
	// Credential is the PKCS#11 slot credential a user-card enrolment
	// seals (Needs.Credential); the runner wipes it. Nil when not given.
	Credential []byte
}

// Needs are the station ports a kind's runner uses.
type Needs struct {
	Cards      bool // Station.Pad and Station.Reader: cards are inserted and PINs typed
	HSM        bool // Station.HSM: the Backup Key goes into it
	Slots      bool // Station.Slots: a PKCS#11 slot a user card stands for
	Credential bool // Env.Credential: the slot credential to seal
}

// Row is one line of a ceremony's summary.
type Row struct {
	Name, Value string
}

// Start declares how an operator starts a ceremony of a kind: the
// command, its parameters and the first events.
type Start struct {
	Command  string // the CLI path, e.g. "generate" or "pin change"
	Group    string // one line of help of the command's group ("pin"), if it has one
	Short    string // one line of help
	Long     string // what the ceremony does, for the operator
	Example  string
	IDPrefix string // new ceremony ids are IDPrefix-<random>
	Params   []Param
	// Check validates the parameters before any hardware or store is
	// opened; nil when Begin alone can tell. A *UsageError names a bad
	// parameter.
	Check func(p Params) error
	// Begin returns the events that open the ceremony: the kind's first
	// event, then any data events to record right after it. A *UsageError
	// names a bad parameter.
	Begin func(p Params, at StartInfo) ([]events.Payload, error)
}

// Param is one parameter of a Start: a flag on the CLI, a whole number
// when Int is set. Its value reaches Begin as text either way.
type Param struct {
	Name, Default, Usage string
	Int                  bool
}

// Params are a Start's parameter values by name.
type Params map[string]string

// StartInfo is what Begin knows of the station and the store.
type StartInfo struct {
	Operator  string
	Reader    string // the reader port's name
	HSM       string // the HSM's name, when the kind needs one
	Slot      string // the PKCS#11 slot's name, when the kind needs one
	Inventory *inventory.Inventory
}

// UsageError is a bad start parameter: the caller's input, not a fault.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// Effect is a side effect (a card write, an HSM import) that a kind asks
// for with one event and answers with another. Key names the effect's
// subject in both (e.g. the card serial), so an answer closes its ask.
type Effect struct {
	Asked    string   // the event type that asks for it
	Answered []string // the event types that record its outcome
	Key      func(events.Payload) string
	What     func(events.Payload) string // what has no recorded outcome
	Recovery string
	// EndedIsAnswer: a failed or aborted ceremony closes it (an
	// enrolment is redone from the start anyway).
	EndedIsAnswer bool
}

// Rehearse is how the simulated operator of 'ceremony rehearse' plays a
// kind: which card goes into the reader next, and whether that card is
// about to be written (for --tear-write).
type Rehearse struct {
	// Begin returns the start parameters of a rehearsal.
	Params func(shares int) Params
	// Cards is how many cards the rehearsal needs for a quorum of n shares.
	Cards func(shares int) int
	// Next picks the card (an index into cards) for the next insertion.
	Next func(v RehearsalView) (card int, writing bool, err error)
}

// RehearsalView is what Rehearse.Next sees.
type RehearsalView struct {
	Inst      *engine.Instance
	Inventory *inventory.Inventory
	Serials   []string // the rehearsal cards, in order
}

// StateOf returns a kind's runner-side copy of inst's state: copy is
// called under the instance lock with the state, which must be an S.
func StateOf[S engine.State, C any](inst *engine.Instance, copy func(S) C) (C, error) {
	var out C
	err := engine.Read(inst, func(s S) { out = copy(s) })
	return out, err
}

// RowOutcome names a summary row that qualifies the ceremony's outcome
// (e.g. "completed with 3 of 5 cards"); the report shows it as the outcome.
const RowOutcome = "outcome"

// SummaryOf adapts a typed summary function to Kind.Summary.
func SummaryOf[S engine.State](fn func(S) []Row) func(engine.State) ([]Row, error) {
	return func(st engine.State) ([]Row, error) {
		s, ok := st.(S)
		if !ok {
			var want S
			return nil, fmt.Errorf("ceremonies: summary: the state is %T, not %T", st, want)
		}
		return fn(s), nil
	}
}

// Facts returns the summary of inst, a ceremony of this kind, read under
// the instance's lock. A resumed ceremony names who resumed it last (a
// "resumed by" row) when the kind's summary does not list them itself.
func (k Kind) Facts(inst *engine.Instance) ([]Row, error) {
	var rows []Row
	var err error
	inst.View(func(s engine.State) { rows, err = k.Summary(s) })
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(rows, func(r Row) bool { return r.Name == RowResumedBy }) {
		return rows, nil
	}
	if n, last := inst.Tally(events.CeremonyResumed{}.EventType()); n > 0 {
		by := "(not recorded)"
		if r, ok := last.(*events.CeremonyResumed); ok && r.By != "" {
			by = r.By
		}
		if n > 1 {
			by += fmt.Sprintf(" (the last of %d resumptions)", n)
		}
		rows = append(rows, Row{Name: RowResumedBy, Value: by})
	}
	return rows, nil
}

// RowResumedBy names the summary row of who resumed a ceremony.
const RowResumedBy = "resumed by"
