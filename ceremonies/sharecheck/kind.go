// Package sharecheck is the share check (roll call): each custodian
// presents their card and PIN, the card's Backup Key share is read and
// checked against the commitment recorded when its key set was generated,
// and the card's retry counter, default-PIN state and the time are
// recorded. No key is rebuilt: one share at a time is in memory, wiped
// as soon as it is checked. All n cards can be checked in one session,
// or any subset over several; health keeps, per card, when it was last
// verified, against the key set's policy (PolicySet).
//
// It is a kind like any other (ARCHITECTURE.md, "Adding a kind, an
// adapter or an event version"): its payload types are its own
// (payloads.go), declared in Kind.Payloads.
package sharecheck

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind and phases.
const (
	Kind           = "share-check"
	PhaseChecking  = "checking"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
)

// Day is the unit of a verification policy.
const Day = 24 * time.Hour

// ShareCheck is the share-check kind.
func ShareCheck() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: Definition(),
		Payloads: []events.PayloadType{
			events.Declare[Started](),
			events.Declare[PolicySet](),
			events.Declare[ShareVerified](),
			events.Declare[Finished](),
		},
		Completed: PhaseCompleted,
		Start: &ceremonies.Start{
			Command:  "share-check",
			Short:    "Roll call: each custodian proves their card and PIN; each share is checked against its commitment",
			IDPrefix: "check",
			Long: `A share check (roll call) between ceremonies: each custodian inserts their
card and types its backup PIN; the share on it is read and checked
against the commitment recorded when its key set was generated. No key is
rebuilt, and no more than one share is in memory at a time. Each card's
retry counter, default-PIN state and the time are recorded; 'ceremony
cards' shows when each card was last verified.

All cards can be checked in one session, or any subset over several
sessions: press Cancel at "Another card?" to end a session. Without
--key-set the first card names the set.

--verify-every sets the key set's policy (recorded as an event): health
reports a card of the set not verified within it, and a set whose
verified and usable shares fall to its threshold is critical.`,
			Example: `  ceremony share-check --key-set 3f2a... --verify-every 180d --operator alice --cards-dir cards
  ceremony share-check --operator bob --cards-dir cards`,
			Params: []ceremonies.Param{
				{Name: "key-set", Usage: "the key set whose cards are checked (default: the set of the first card)"},
				{Name: "verify-every", Usage: "set the key set's policy: every card verified at least every N days, e.g. 180d (needs --key-set; 0d lifts it)"},
			},
			Check: check,
			Begin: begin,
		},
		Needs:     ceremonies.Needs{Cards: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Project:   project,
		Rehearse:  rehearse(),
	}
}

// rehearse plays a share check of every rehearsal card: the next card not
// yet verified nor refused in this session. The session ends by itself
// once every share is verified; a refused card (one that holds no share
// of a set of this store) stops the rehearsal with what to do.
func rehearse() *ceremonies.Rehearse {
	return &ceremonies.Rehearse{
		Params: func(int) ceremonies.Params { return ceremonies.Params{} },
		Cards:  func(shares int) int { return shares },
		Next: func(v ceremonies.RehearsalView) (int, bool, error) {
			st, err := ceremonies.StateOf(v.Inst, copyState)
			if err != nil {
				return 0, false, err
			}
			if len(st.Refused) > 0 {
				return 0, false, fmt.Errorf("rehearsal: card %s was refused: the rehearsal cards hold no share of a key set of this store; rehearse a generate first (ceremony rehearse --kind generate)", st.Refused[0])
			}
			for i, s := range v.Serials {
				if _, done := st.verifiedSerial(s); !done {
					return i, false, nil
				}
			}
			return 0, false, fmt.Errorf("rehearsal: every card is verified already")
		},
	}
}

// Definition is the share check's machine.
func Definition() *engine.Definition {
	live := []string{PhaseChecking, engine.PausedPhase(PhaseChecking)}
	ts := []engine.Transition{
		{Event: Finished{}.EventType(), From: []string{PhaseChecking}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	data := append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...)
	data = append(data, ceremonies.Types(&PolicySet{}, &ShareVerified{})...)
	return &engine.Definition{
		Kind: Kind, First: Started{}.EventType(), Initial: PhaseChecking,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: append(ts, engine.Pausable(PhaseChecking)...),
		Data:        map[string][]string{PhaseChecking: data},
		NewState:    func() engine.State { return &State{} },
	}
}

// ParseEvery reads a policy period: a whole number of days with a "d"
// ("180d"). 0d lifts the policy.
func ParseEvery(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if !strings.HasSuffix(s, "d") || err != nil || n < 0 || n > 3660 {
		return 0, ceremonies.Usagef("--verify-every %q: give a number of days with a d, e.g. 180d (0d lifts the policy; at most 3660d)", s)
	}
	return n, nil
}

func check(p ceremonies.Params) error {
	if p["verify-every"] == "" {
		return nil
	}
	if p["key-set"] == "" {
		return ceremonies.Usagef("--verify-every needs --key-set: a policy belongs to one key set ('ceremony cards' lists them)")
	}
	_, err := ParseEvery(p["verify-every"])
	return err
}

func begin(p ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
	if err := check(p); err != nil {
		return nil, err
	}
	set := p["key-set"]
	if set != "" {
		ks, ok := at.Inventory.KeySet(set)
		switch {
		case !ok:
			return nil, ceremonies.Usagef("--key-set %s: no such key set in this event store ('ceremony cards' lists the sets)", set)
		case ks.Status == inventory.KeySetVoid:
			return nil, ceremonies.Usagef("--key-set %s: the set is void, its shares cannot rebuild any key: nothing to check", set)
		}
	}
	out := []events.Payload{&Started{Operator: at.Operator, Reader: at.Reader, KeySetID: set}}
	if p["verify-every"] != "" {
		days, _ := ParseEvery(p["verify-every"])
		out = append(out, &PolicySet{KeySetID: set, EveryDays: days, By: at.Operator})
	}
	return out, nil
}

// project keeps the registry's last-verified times and the key sets'
// policies (ARCHITECTURE.md, "Ceremony semantics").
func project(inv *inventory.Inventory, env events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *ShareVerified:
		inv.ShareVerified(ev.Serial, ev.KeySetID, ev.Index, env.Time, ev.TriesLeft)
	case *PolicySet:
		inv.VerifyPolicy(ev.KeySetID, time.Duration(ev.EveryDays)*Day, env.Time)
	}
}

func summary(st *State) []ceremonies.Row {
	set := st.KeySetID
	if set == "" {
		set = "(named by the first card)"
	}
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}, {Name: "key set", Value: set}}
	if st.Policy != nil {
		v := fmt.Sprintf("verify every card at least every %d days (set by %s)", st.Policy.EveryDays, st.Policy.By)
		if st.Policy.EveryDays == 0 {
			v = "verification policy lifted by " + st.Policy.By
		}
		rows = append(rows, ceremonies.Row{Name: "policy", Value: v})
	}
	for _, v := range st.Verified {
		pin := "changed"
		if v.DefaultPIN {
			pin = "FACTORY DEFAULT"
		} else if v.Entry == "reader" {
			pin = "typed on the reader"
		}
		rows = append(rows, ceremonies.Row{Name: "card " + v.Serial,
			Value: fmt.Sprintf("share %d of %d verified against its commitment; PW3 tries %d before, %d after; PIN %s", v.Index, v.Of, v.TriesBefore, v.TriesLeft, pin)})
	}
	if st.Of > 0 {
		have := st.indexes()
		var done, missing []string
		for i := 1; i <= st.Of; i++ {
			if have[i] {
				done = append(done, strconv.Itoa(i))
			} else {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		rows = append(rows, ceremonies.Row{Name: "shares verified", Value: fmt.Sprintf("%d of %d (threshold %d): %s", len(done), st.Of, st.Threshold, strings.Join(done, ", "))})
		if len(missing) > 0 {
			rows = append(rows, ceremonies.Row{Name: "not checked in this session", Value: "shares " + strings.Join(missing, ", ")})
		}
	}
	if len(st.Refused) > 0 {
		r := append([]string(nil), st.Refused...)
		sort.Strings(r)
		rows = append(rows, ceremonies.Row{Name: "cards refused", Value: strings.Join(r, "; ")})
	}
	if st.Finished != "" {
		rows = append(rows, ceremonies.Row{Name: "finished", Value: st.Finished})
	}
	if st.Ended != "" {
		rows = append(rows, ceremonies.Row{Name: "ended because", Value: st.Ended})
	}
	return rows
}
