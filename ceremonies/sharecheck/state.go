package sharecheck

import (
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// State is the fold of one share check. Apply is pure.
type State struct {
	Operator  string
	KeySetID  string // given at start, or named by the first card verified
	Of        int    // the key set's number of shares, once a card named it
	Threshold int
	Policy    *PolicySet // set in this session, if any
	Verified  []ShareVerified
	Refused   []string // "serial: code" of each refused card
	Presented int      // cards presented, refused ones included
	Finished  string
	Ended     string
	Started   time.Time

	// The shared card steps' observations of the card being checked.
	triesRead  map[string]int
	defaultPIN map[string]bool
	entry      map[string]string
}

// Apply folds one event.
func (s *State) Apply(env events.Envelope, p events.Payload) {
	if s.triesRead == nil {
		s.triesRead, s.defaultPIN, s.entry = map[string]int{}, map[string]bool{}, map[string]string{}
	}
	switch ev := p.(type) {
	case *Started:
		s.Operator, s.KeySetID, s.Started = ev.Operator, ev.KeySetID, env.Time
	case *PolicySet:
		cp := *ev
		s.Policy = &cp
	case *events.CardPresented:
		s.Presented++
	case *events.PINRetriesRead:
		if ev.PIN == "PW3" {
			s.triesRead[ev.Serial] = ev.TriesLeft
		}
	case *events.PINVerified:
		if ev.PIN == "PW3" {
			s.defaultPIN[ev.Serial], s.entry[ev.Serial] = ev.DefaultPIN, ev.Entry
		}
	case *events.CardRefused:
		s.Refused = append(s.Refused, ev.Serial+": "+ev.Code)
	case *ShareVerified:
		s.Verified = append(s.Verified, *ev)
		s.KeySetID, s.Of, s.Threshold = ev.KeySetID, ev.Of, ev.Threshold
	case *Finished:
		s.Finished = ev.Reason
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	}
}

// verifiedSerial reports whether the card was verified in this session.
func (s *State) verifiedSerial(serial string) (ShareVerified, bool) {
	for _, v := range s.Verified {
		if v.Serial == serial {
			return v, true
		}
	}
	return ShareVerified{}, false
}

// indexes returns the distinct share indexes verified in this session.
func (s *State) indexes() map[int]bool {
	out := map[int]bool{}
	for _, v := range s.Verified {
		out[v.Index] = true
	}
	return out
}

// copyState is the runner's copy (maps included).
func copyState(s *State) State {
	out := *s
	out.Verified = append([]ShareVerified(nil), s.Verified...)
	out.Refused = append([]string(nil), s.Refused...)
	out.triesRead, out.defaultPIN, out.entry = map[string]int{}, map[string]bool{}, map[string]string{}
	for k, v := range s.triesRead {
		out.triesRead[k] = v
	}
	for k, v := range s.defaultPIN {
		out.defaultPIN[k] = v
	}
	for k, v := range s.entry {
		out.entry[k] = v
	}
	return out
}
