package cardreset

import "github.com/ceremony-hsm/ceremony/events"

// State is the fold of one card reset. Apply is pure.
type State struct {
	Operator string
	Reader   string
	Serial   string // the card asked for at start, else the card the reset was asked on
	Mode     string
	Named    *ContentNamed // what the card held, named last
	Confirm  *Confirmed
	// Pending is the reset asked for with no recorded outcome (a stop
	// between the request and the card's answer).
	Pending     *ResetRequested
	PendingPIN  string // serial of a user-PIN reset asked for with no recorded outcome
	Reset       *CardReset
	UserReset   *UserPINReset
	Refused     []string
	PINsRefused []string
	Ended       string
}

// Apply folds one event.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *Started:
		s.Operator, s.Reader, s.Serial, s.Mode = ev.Operator, ev.Reader, ev.Serial, ev.Mode
	case *ContentNamed:
		cp := *ev
		s.Named = &cp
	case *Confirmed:
		cp := *ev
		s.Confirm = &cp
	case *ResetRequested:
		cp := *ev
		s.Pending, s.Serial = &cp, ev.Serial
	case *CardReset:
		cp := *ev
		s.Reset, s.Pending = &cp, nil
	case *UserPINResetRequested:
		s.PendingPIN, s.Serial = ev.Serial, ev.Serial
	case *UserPINReset:
		cp := *ev
		s.UserReset, s.PendingPIN = &cp, ""
	case *events.PINPolicyRefused:
		s.PINsRefused = append(s.PINsRefused, ev.Rule)
	case *events.CardRefused:
		s.Refused = append(s.Refused, ev.Serial+": "+ev.Message)
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	}
}

func copyState(s *State) State {
	out := *s
	out.Refused = append([]string(nil), s.Refused...)
	out.PINsRefused = append([]string(nil), s.PINsRefused...)
	return out
}
