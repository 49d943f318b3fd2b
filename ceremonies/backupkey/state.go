package backupkey

import (
	"maps"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// State is the fold of a Backup Key ceremony's events. It holds no secret:
// shares and the key live in the runner's memory only.
type State struct {
	Operator  string
	Reader    string
	HSM       string
	Threshold int
	Shares    int
	KeySetID  string
	KCV       string

	// Writing (generate).
	Generated bool
	KeyLost   bool           // the key was lost with a process; no more shares can be written
	Written   map[int]string // share index -> card serial
	Pending   *events.ShareWriteRequested

	// Reading.
	Accepted      map[int]string // share index -> card serial, held in memory
	Reconstructed bool
	LoadPending   bool // hsm.load_requested without an outcome
	Loaded        bool // hsm.key_loaded

	Refusals  int
	WrongPINs int
	Timeouts  int
	Ended     string   // reason of abort/failure/void
	ResumedBy []string // who resumed it, in order ("" from v1 events)
	AbortedBy string
}

func newState() *State {
	return &State{Written: map[int]string{}, Accepted: map[int]string{}}
}

// snapshot copies a Backup Key ceremony's state, maps included, so it can
// be read without the instance's lock.
func snapshot(inst *engine.Instance) (State, error) {
	return ceremonies.StateOf(inst, func(st *State) State {
		out := *st
		out.Written = maps.Clone(st.Written)
		out.Accepted = maps.Clone(st.Accepted)
		return out
	})
}

// WrittenSerial reports whether serial already holds a share of this set.
func (s *State) WrittenSerial(serial string) (int, bool) {
	for i, v := range s.Written {
		if v == serial {
			return i, true
		}
	}
	return 0, false
}

// AcceptedSerial reports whether serial was already read in this round.
func (s *State) AcceptedSerial(serial string) (int, bool) {
	for i, v := range s.Accepted {
		if v == serial {
			return i, true
		}
	}
	return 0, false
}

// NextIndex returns the lowest share index not yet written (0: all are).
func (s *State) NextIndex() int {
	for i := 1; i <= s.Shares; i++ {
		if _, ok := s.Written[i]; !ok {
			return i
		}
	}
	return 0
}

// Unwritten returns the share indexes of the set that no card holds.
func (s *State) Unwritten() []int {
	var out []int
	for i := 1; i <= s.Shares; i++ {
		if _, ok := s.Written[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.GenerateStarted:
		s.Operator, s.Reader, s.HSM = ev.Operator, ev.Reader, ev.HSM
		s.Threshold, s.Shares = ev.Threshold, ev.Shares
	case *events.LoadStarted:
		s.Operator, s.Reader, s.HSM, s.KeySetID = ev.Operator, ev.Reader, ev.HSM, ev.KeySetID
	case *events.KeyGenerated:
		s.Generated, s.KeySetID, s.KCV = true, ev.KeySetID, ev.KCV
		s.Threshold, s.Shares = ev.Threshold, ev.Shares
	case *events.SecretsLost:
		if s.Generated && !s.Reconstructed {
			s.KeyLost = true
		}
	case *events.ShareWriteRequested:
		s.Pending = ev
	case *events.ShareWritten:
		s.Pending = nil
		s.Written[ev.Index] = ev.Serial
	case *events.ShareWriteFailed:
		s.Pending = nil
	case *events.ShareAccepted:
		if s.KeySetID == "" {
			s.KeySetID = ev.KeySetID
		}
		s.Threshold = ev.Need
		s.Accepted[ev.Index] = ev.Serial
	case *events.SharesDiscarded:
		s.Accepted = map[int]string{}
		s.Reconstructed = false
		s.LoadPending = false
	case *events.KeyReconstructed:
		s.Reconstructed, s.KCV = true, ev.KCV
	case *events.HSMLoadRequested:
		s.LoadPending = true
	case *events.HSMKeyLoaded:
		s.LoadPending, s.Loaded = false, true
	case *events.HSMLoadFailed:
		s.LoadPending = false
	case *events.CardRefused:
		s.Refusals++
	case *events.PINRejected:
		s.WrongPINs++
	case *events.StepTimedOut:
		s.Timeouts++
	case *events.CeremonyResumed:
		s.ResumedBy = append(s.ResumedBy, ev.By)
	case *events.CeremonyAborted:
		s.Ended, s.AbortedBy = ev.Reason, ev.By
	case *events.CeremonyFailed:
		s.Ended = ev.Reason
	case *events.KeySetVoided:
		s.Ended = ev.Reason
	}
}
