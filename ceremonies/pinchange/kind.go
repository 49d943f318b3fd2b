package pinchange

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/custody"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind and phases.
const (
	Kind           = "pin-change"
	PhaseCreated   = "created"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
)

// PINChange is the PIN change kind.
func PINChange() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: Definition(),
		Payloads: []events.PayloadType{
			events.Declare[events.PINChangeStarted]().Upcast(1, events.UpcastUnchanged),
			events.Declare[custody.Assigned](),
			events.Declare[events.PINPolicyRefused](),
			events.Declare[events.PINChangeRequested]().Upcast(1, events.UpcastEntryV1),
			events.Declare[events.PINChanged]().Upcast(1, events.UpcastEntryV1),
			events.Declare[events.PINChangeResolved](),
		},
		Completed: PhaseCompleted,
		Start: &ceremonies.Start{
			Command:  "pin change",
			Group:    "Change a card's PIN",
			Short:    "Change the PIN of a card's backup or user slot (--slot)",
			IDPrefix: "pin",
			Long: `Change one PIN of a card: the backup slot's (which guards the Backup Key
share) or the user slot's (which unseals a PKCS#11 slot credential); each
slot has its own PIN and the other is left as it is. A new PIN has 6 to
16 digits, is not the factory default and differs from the old one; a
refusal names the rule and the PIN is asked again. A change whose outcome
was not recorded is settled on the card by 'ceremony resume'. In a class-3
reader (PC/SC part 10 PIN pad, such as a cyberJack e-com) the old PIN, the
new PIN and its repetition are typed on the reader's keypad and never
reach this program: the reader enforces the length and the repetition,
and the rules that need the PIN itself (not the default, not the old one)
are the custodian's to keep.

--custodian reassigns the card to another person once its PIN is changed
(the manual: "assign a smart card to another person"), recorded as
custody.card_assigned with the previous custodian.`,
			Example: `  ceremony pin change --slot user --operator alice --cards-dir cards
  ceremony pin change --slot backup --custodian "Frank Custodian" --operator alice --cards-dir cards`,
			Params: []ceremonies.Param{
				{Name: "slot", Usage: "which PIN: backup (the Backup Key share slot) or user (the PKCS#11 user slot)"},
				{Name: "custodian", Usage: "reassign the card to this person once its PIN is changed (the new custodian chooses the new PIN)"},
			},
			Check: checkSlot,
			Begin: func(p ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
				if err := checkSlot(p); err != nil {
					return nil, err
				}
				return []events.Payload{&events.PINChangeStarted{Operator: at.Operator, Reader: at.Reader, Slot: p["slot"], Custodian: strings.TrimSpace(p["custodian"])}}, nil
			},
		},
		Needs:     ceremonies.Needs{Cards: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Deviations: map[string]string{
			"pin.policy_refused": "PIN refused by policy", "pin.change_resolved": "uncertain PIN change settled",
		},
		Effects: []ceremonies.Effect{{
			Asked:    events.PINChangeRequested{}.EventType(),
			Answered: ceremonies.Types(&events.PINChanged{}, &events.PINRejected{}, &events.PINChangeResolved{}, &events.PINPolicyRefused{}),
			Key:      serialOf,
			What: func(p events.Payload) string {
				ev := p.(*events.PINChangeRequested)
				return fmt.Sprintf("a %s change on card %s has no recorded outcome: the card has the old or the new PIN", ev.PIN, ev.Serial)
			},
			Recovery: "resume ceremony {ceremony}: the engine checks the card or HSM before going on",
		}},
		Project: func(inv *inventory.Inventory, env events.Envelope, p events.Payload) {
			if ev, ok := p.(*events.PINChanged); ok {
				inv.PINChanged(ev.Serial, ev.PIN)
			}
			custody.Project(inv, env, p)
		},
		Rehearse: &ceremonies.Rehearse{
			Params: func(int) ceremonies.Params { return ceremonies.Params{"slot": string(ceremonies.BackupSlot)} },
			Cards:  func(shares int) int { return shares },
			Next:   func(ceremonies.RehearsalView) (int, bool, error) { return 0, false, nil },
		},
	}
}

// Definition is the pin-change ceremony's machine.
func Definition() *engine.Definition {
	live := []string{PhaseCreated, engine.PausedPhase(PhaseCreated)}
	ts := []engine.Transition{
		{Event: events.PINChanged{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	data := append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...)
	data = append(data, ceremonies.Types(&events.PINPolicyRefused{}, &events.PINChangeRequested{}, &events.PINChangeResolved{}, &custody.Assigned{})...)
	return &engine.Definition{
		Kind: Kind, First: events.PINChangeStarted{}.EventType(), Initial: PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		Data:        map[string][]string{PhaseCreated: data},
		NewState:    func() engine.State { return &State{} },
	}
}

func serialOf(p events.Payload) string {
	switch ev := p.(type) {
	case *events.PINChangeRequested:
		return ev.Serial
	case *events.PINChanged:
		return ev.Serial
	case *events.PINRejected:
		return ev.Serial
	case *events.PINChangeResolved:
		return ev.Serial
	case *events.PINPolicyRefused:
		return ev.Serial
	}
	return ""
}

func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}, {Name: "slot", Value: string(st.Slot)}}
	if st.Serial != "" {
		rows = append(rows, ceremonies.Row{Name: "card", Value: st.Serial})
	}
	switch {
	case st.Reassigned != nil:
		rows = append(rows, ceremonies.Row{Name: "reassigned", Value: custody.Describe(st.Reassigned)})
	case st.Custodian != "":
		rows = append(rows, ceremonies.Row{Name: "to reassign", Value: "to " + st.Custodian + " once the PIN is changed"})
	}
	if len(st.Refused) > 0 {
		rows = append(rows, ceremonies.Row{Name: "new PINs refused", Value: strings.Join(st.Refused, "; ")})
	}
	if st.Pending {
		rows = append(rows, ceremonies.Row{Name: "uncertain", Value: "a change was sent with no recorded outcome: resume settles it on the card"})
	}
	if st.Ended != "" {
		rows = append(rows, ceremonies.Row{Name: "ended because", Value: st.Ended})
	}
	return rows
}

func checkSlot(p ceremonies.Params) error {
	if slot := p["slot"]; slot != string(ceremonies.BackupSlot) && slot != string(ceremonies.UserSlot) {
		return ceremonies.Usagef("--slot %q: use backup or user (each slot has its own PIN)", slot)
	}
	if c := p["custodian"]; len(c) > 64 || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ceremonies.Usagef("--custodian %q: use at most 64 printable characters", c)
	}
	return nil
}
