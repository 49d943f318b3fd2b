// Package cardreset is the card reset: a card whose backup PIN (PW3) is
// blocked, or whose content is foreign or no longer wanted, goes back to
// its factory state (OpenPGP card v3.4 TERMINATE DF, then ACTIVATE FILE);
// or a card whose user PIN (PW1) is blocked gets a new one with its admin
// PIN (RESET RETRY COUNTER, --mode user-pin).
//
// Rules a caller must know: nothing is changed before the card's content
// is read and named (from the card after its backup PIN, or from the
// registry when that PIN is blocked) and the operator has confirmed a
// sentence naming what will be lost (cardreset.confirmed); Cancel aborts
// with the card untouched. The registry then records that the card holds
// no share any more, and health recomputes its key set's margin. The
// reset is a side effect (Kind.Effects): a stop between the request and
// its outcome is settled on resume by resetting again, which loses
// nothing more. The new user PIN passes through the PIN pad port and is
// wiped after use; events never hold a PIN or a share.
//
// It is a kind like any other (ARCHITECTURE.md, "Adding a kind, an
// adapter or an event version").
package cardreset

import (
	"context"
	"fmt"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind, modes and phases.
const (
	Kind           = "card-reset"
	ModeFactory    = "factory"
	ModeUserPIN    = "user-pin"
	PhaseCreated   = "created"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
)

// Resetter is a card that can go back to its factory state, or have its
// user PIN reset with the admin PIN verified (the calls this kind makes of
// a card beyond ceremonies.Card; adapters/opgpcard implements them).
type Resetter interface {
	ResetToFactory() error
	ResetUserPIN(newPIN []byte) error
}

// Activator is a reader that can activate a terminated card in it (a
// reset that stopped between TERMINATE DF and ACTIVATE FILE) and return
// the card, in its factory state (adapters/opgpcard implements it).
type Activator interface {
	ActivateCard(ctx context.Context) (ceremonies.Card, error)
}

// CardResetKind is the card-reset kind.
func CardResetKind() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: Definition(),
		Payloads: []events.PayloadType{
			events.Declare[Started](),
			events.Declare[ContentNamed](),
			events.Declare[Confirmed](),
			events.Declare[ResetRequested](),
			events.Declare[CardReset](),
			events.Declare[UserPINResetRequested](),
			events.Declare[UserPINReset](),
			events.Declare[events.PINPolicyRefused](),
		},
		Completed: PhaseCompleted,
		Start: &ceremonies.Start{
			Command:  "card-reset",
			Short:    "Reset a blocked or foreign card to its factory state, or reset a blocked user PIN with the admin PIN",
			IDPrefix: "reset",
			Long: `Reset a card to its factory state (OpenPGP card TERMINATE DF and ACTIVATE
FILE): for a card whose backup PIN is blocked, or whose content is foreign
or no longer wanted. The card is read first (after its backup PIN; when
that PIN is blocked, what the registry says it holds) and the operator is
told exactly what will be lost, e.g. "share 2 of key set KS (KCV ...) will
be gone for good; the set keeps 2 of 3 usable shares, quorum 2"; nothing
changes before OK. Cancel ends the ceremony with the card untouched.
Afterwards the card holds nothing, both PINs are 123456, the registry
records that its share is gone and health recomputes the set's margin.

--mode user-pin resets a blocked user PIN (PW1) instead: the backup PIN
(PW3) is typed, then the new user PIN twice (RESET RETRY COUNTER); the
share, the user key and the sealed credential stay.`,
			Example: `  ceremony card-reset --serial FFFE00004003 --operator alice --cards-dir cards
  ceremony card-reset --mode user-pin --operator alice --cards-dir cards`,
			Params: []ceremonies.Param{
				{Name: "serial", Usage: "the card to reset (another card is refused); default: the card inserted"},
				{Name: "mode", Default: ModeFactory, Usage: "factory (erase the card: factory state) or user-pin (reset a blocked user PIN with the backup PIN)"},
			},
			Check: check,
			Begin: func(p ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
				if err := check(p); err != nil {
					return nil, err
				}
				return []events.Payload{&Started{Operator: at.Operator, Reader: at.Reader, Serial: strings.ToUpper(p["serial"]), Mode: mode(p)}}, nil
			},
		},
		Needs:     ceremonies.Needs{Cards: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Deviations: map[string]string{
			CardReset{}.EventType():    "card reset to its factory state",
			UserPINReset{}.EventType(): "user PIN reset with the admin PIN",
		},
		Effects: []ceremonies.Effect{{
			Asked:    ResetRequested{}.EventType(),
			Answered: []string{CardReset{}.EventType()},
			Key:      serialOf,
			What: func(p events.Payload) string {
				return fmt.Sprintf("the reset of card %s has no recorded outcome: the card is as it was, terminated, or in its factory state", serialOf(p))
			},
			Recovery: "resume ceremony {ceremony}: the card is presented and reset again (that loses nothing more)",
		}, {
			Asked:    UserPINResetRequested{}.EventType(),
			Answered: []string{UserPINReset{}.EventType()},
			Key:      serialOf,
			What: func(p events.Payload) string {
				return fmt.Sprintf("the user PIN reset of card %s has no recorded outcome: the card has the old or the new user PIN", serialOf(p))
			},
			Recovery: "resume ceremony {ceremony}: the user PIN is reset again with the admin PIN",
		}},
		Project:  project,
		Rehearse: rehearse(),
	}
}

// Definition is the card reset's machine.
func Definition() *engine.Definition {
	live := []string{PhaseCreated, engine.PausedPhase(PhaseCreated)}
	ts := []engine.Transition{
		{Event: CardReset{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: UserPINReset{}.EventType(), From: []string{PhaseCreated}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	data := append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...)
	data = append(data, ceremonies.Types(&ContentNamed{}, &Confirmed{}, &ResetRequested{}, &UserPINResetRequested{}, &events.PINPolicyRefused{})...)
	return &engine.Definition{
		Kind: Kind, First: Started{}.EventType(), Initial: PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: append(ts, engine.Pausable(PhaseCreated)...),
		Data:        map[string][]string{PhaseCreated: data},
		NewState:    func() engine.State { return &State{} },
	}
}

func mode(p ceremonies.Params) string {
	if p["mode"] == "" {
		return ModeFactory
	}
	return p["mode"]
}

func check(p ceremonies.Params) error {
	if m := mode(p); m != ModeFactory && m != ModeUserPIN {
		return ceremonies.Usagef("--mode %q: use factory (erase the card to its factory state) or user-pin (reset a blocked user PIN with the backup PIN)", m)
	}
	if s := p["serial"]; s != "" && (len(s) != 12 || strings.Trim(strings.ToUpper(s), "0123456789ABCDEF") != "") {
		return ceremonies.Usagef("--serial %q: a card serial is 12 hex digits, manufacturer and number, as 'ceremony cards' lists them (e.g. FFFE00004003)", s)
	}
	return nil
}

func serialOf(p events.Payload) string {
	switch ev := p.(type) {
	case *ResetRequested:
		return ev.Serial
	case *CardReset:
		return ev.Serial
	case *UserPINResetRequested:
		return ev.Serial
	case *UserPINReset:
		return ev.Serial
	}
	return ""
}

// project records in the registry that a reset card holds nothing and
// has the default PINs, and that a reset user PIN is no longer blocked
// (ARCHITECTURE.md, "Ceremony semantics").
func project(inv *inventory.Inventory, _ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *CardReset:
		inv.CardReset(ev.Serial)
	case *UserPINReset:
		inv.PINChanged(ev.Serial, "PW1")
	}
}

func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}, {Name: "mode", Value: st.Mode}}
	if st.Serial != "" {
		rows = append(rows, ceremonies.Row{Name: "card", Value: st.Serial})
	}
	if n := st.Named; n != nil {
		from := map[string]string{FromCard: "read from the card", FromRegistryBlocked: "from the registry (the backup PIN is blocked)",
			FromRegistryTerminated: "from the registry (the card was found terminated)"}[n.From]
		rows = append(rows, ceremonies.Row{Name: "held", Value: fmt.Sprintf("%s (%s)", n.Holds, from)})
	}
	if c := st.Confirm; c != nil {
		rows = append(rows, ceremonies.Row{Name: "confirmed by " + c.By, Value: c.Loss})
	}
	if st.Pending != nil || st.PendingPIN != "" {
		rows = append(rows, ceremonies.Row{Name: "uncertain", Value: "a reset was sent with no recorded outcome: resume settles it on the card"})
	}
	if st.Reset != nil {
		rows = append(rows, ceremonies.Row{Name: "reset", Value: "card " + st.Reset.Serial + " is in its factory state: " + st.Reset.Lost})
	}
	if st.UserReset != nil {
		rows = append(rows, ceremonies.Row{Name: "reset", Value: "the user PIN of card " + st.UserReset.Serial + " is new, its retry counter full"})
	}
	if len(st.PINsRefused) > 0 {
		rows = append(rows, ceremonies.Row{Name: "new PINs refused", Value: strings.Join(st.PINsRefused, "; ")})
	}
	if len(st.Refused) > 0 {
		rows = append(rows, ceremonies.Row{Name: "cards refused", Value: strings.Join(st.Refused, "; ")})
	}
	if st.Ended != "" {
		rows = append(rows, ceremonies.Row{Name: "ended because", Value: st.Ended})
	}
	return rows
}

// rehearse plays a factory reset: the card the registry says is blocked,
// else the first card.
func rehearse() *ceremonies.Rehearse {
	return &ceremonies.Rehearse{
		Params: func(int) ceremonies.Params { return ceremonies.Params{"mode": ModeFactory} },
		Cards:  func(shares int) int { return shares },
		Next: func(v ceremonies.RehearsalView) (int, bool, error) {
			for i, s := range v.Serials {
				if c, ok := v.Inventory.Card(s); ok && c.Blocked["PW3"] {
					return i, false, nil
				}
			}
			return 0, false, nil
		},
	}
}
