package hsmbackup

import (
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds and phases.
const (
	KindBackup  = "hsm-backup"
	KindRestore = "hsm-restore"

	PhaseRunning   = "running"
	PhaseCompleted = "completed"
	PhaseFailed    = "failed"
	PhaseAborted   = "aborted"
)

func definition(kind, first, done string) *engine.Definition {
	run := []string{PhaseRunning}
	return &engine.Definition{
		Kind:     kind,
		First:    first,
		Initial:  PhaseRunning,
		Terminal: []string{PhaseCompleted, PhaseFailed, PhaseAborted},
		Transitions: []engine.Transition{
			{Event: done, From: run, To: PhaseCompleted},
			{Event: events.CeremonyFailed{}.EventType(), From: run, To: PhaseFailed},
			{Event: events.CeremonyAborted{}.EventType(), From: run, To: PhaseAborted},
		},
		NewState: func() engine.State { return &State{} },
	}
}

// Definitions returns the backup and restore definitions.
func Definitions() []*engine.Definition {
	return []*engine.Definition{
		definition(KindBackup, events.BackupStarted{}.EventType(), events.BackupWritten{}.EventType()),
		definition(KindRestore, events.RestoreStarted{}.EventType(), events.RestoreCompleted{}.EventType()),
	}
}

// State is the fold of a backup or restore ceremony.
type State struct {
	Operator string
	HSM      string
	File     string
	SHA256   string
	KCV      string
	Wrapped  []string // key labels
	Skipped  []string
	Restored []string
	Failed   []string
	Pending  string // a restore asked for and not answered
	Ended    string
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.BackupStarted:
		s.Operator, s.HSM, s.File = ev.Operator, ev.HSM, ev.File
	case *events.KeyWrapped:
		s.Wrapped = append(s.Wrapped, ev.Label)
	case *events.KeySkipped:
		s.Skipped = append(s.Skipped, ev.Label)
	case *events.BackupWritten:
		s.SHA256, s.KCV = ev.SHA256, ev.BackupKeyKCV
	case *events.RestoreStarted:
		s.Operator, s.HSM, s.File, s.SHA256, s.KCV = ev.Operator, ev.HSM, ev.File, ev.SHA256, ev.BackupKeyKCV
	case *events.KeyRestoreRequested:
		s.Pending = ev.Label
	case *events.KeyRestored:
		s.Pending = ""
		s.Restored = append(s.Restored, ev.Label)
	case *events.KeyRestoreFailed:
		s.Pending = ""
		s.Failed = append(s.Failed, ev.Label)
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	}
}
