package ceremonies

import (
	"context"
	"fmt"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Scripted is what the reviewed script a ceremony was started from
// allows (events.ScriptBound), and how far its steps were checked off.
// The station carries it (Station.Script): the shared card step refuses
// or records a card the script does not name, and the Driver has the
// operator check off the script's steps before the kind's first step.
type Scripted struct {
	Bound   *events.ScriptBound
	Checked int // steps checked off so far
}

// RefusedUnscripted: the card is not named by the ceremony's script.
const RefusedUnscripted = "unscripted"

// ScriptedFrom returns the script binding among a ceremony's events, or
// nil when it was not started from a script.
func ScriptedFrom(ps []events.Payload) *Scripted {
	var s *Scripted
	for _, p := range ps {
		switch ev := p.(type) {
		case *events.ScriptBound:
			s = &Scripted{Bound: ev}
		case *events.ScriptStepChecked:
			if s != nil && ev.Step > s.Checked {
				s.Checked = ev.Step
			}
		}
	}
	return s
}

// StartEvents are the data events the start command records, for every
// kind, right after a ceremony's first event: the station, the script
// binding, the witness requirement of the generic --witnesses
// parameter (WithWitnesses) and the dual control's (ApprovalRequired:
// the requirement a console start records, the approval its run records
// before the first card step, Driver.RequireApproval). An unscripted operator (ceremony.unscripted)
// is an annotation of every kind (ceremonies/kinds).
func StartEvents() []string {
	return types(&events.StationDescribed{}, &events.ScriptBound{}, &events.WitnessesRequired{},
		&events.ApprovalRequired{}, &events.Approved{})
}

// Deviates says whether the script records what it does not name as a
// deviation (true) or refuses it (false).
func (s *Scripted) Deviates() bool { return s.Bound.Unscripted == "deviation" }

// Custodian returns the custodian the script names for a card.
func (s *Scripted) Custodian(serial string) (string, bool) {
	for _, c := range s.Bound.Cards {
		if c.Serial == serial {
			return c.Custodian, true
		}
	}
	return "", false
}

// Names reports whether name is among names.
func Names(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// checkScriptedCard refuses, or records as a deviation, a card the
// ceremony's script does not name.
func checkScriptedCard(ctx context.Context, inst *engine.Instance, st *Station, serial string) error {
	s := st.Script
	if s == nil {
		return nil
	}
	if _, ok := s.Custodian(serial); ok {
		return nil
	}
	msg := fmt.Sprintf("card %s is not named in the ceremony's script (%s, SHA-256 %.16s…)", serial, s.Bound.File, s.Bound.SHA256)
	if s.Deviates() {
		return inst.Record(ctx, events.SourceEngine, &events.Unscripted{What: "card", Name: serial, Message: msg + "; the script says to go on and record it as a deviation"})
	}
	return Refuse(ctx, inst, serial, RefusedUnscripted, msg+": use a card the script names")
}

// pendingScriptStep reports whether a step of the script is still to be
// read aloud and checked off.
func (st *Station) pendingScriptStep() bool {
	return st != nil && st.Script != nil && st.Script.Checked < len(st.Script.Bound.Steps)
}

// checkOffScriptStep has the operator read the next step of the script
// aloud and confirm it on the PIN pad, and records it checked off.
func (d *Driver) checkOffScriptStep(ctx context.Context) error {
	s := d.Station.Script
	n := s.Checked + 1
	text := s.Bound.Steps[n-1]
	d.Tell(fmt.Sprintf("Script step %d of %d, read aloud: %s", n, len(s.Bound.Steps), text))
	if err := Confirm(ctx, d.Inst, d.Station, fmt.Sprintf("script step %d", n), fmt.Sprintf("Script step %d of %d", n, len(s.Bound.Steps)), "done? OK/Cancel"); err != nil {
		return err
	}
	if err := d.Inst.Record(ctx, events.SourceOperator, &events.ScriptStepChecked{Step: n, Text: text, By: d.Operator}); err != nil {
		return err
	}
	s.Checked = n
	return nil
}
