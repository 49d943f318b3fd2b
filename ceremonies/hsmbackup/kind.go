package hsmbackup

import (
	"context"
	"fmt"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds and phases.
const (
	KindBackup  = "hsm-backup"
	KindRestore = "hsm-restore"

	PhaseRunning   = "running"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseFailed    = ceremonies.PhaseFailed
	PhaseAborted   = ceremonies.PhaseAborted
)

func definition(kind, first, done string, data ...events.Payload) *engine.Definition {
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
		Data:     map[string][]string{PhaseRunning: ceremonies.Types(data...)},
		NewState: func() engine.State { return &State{} },
	}
}

// Backup is the hsm-backup kind, started by 'ceremony hsm backup' (Backup).
func Backup() ceremonies.Kind {
	k := common()
	k.Definition = definition(KindBackup, events.BackupStarted{}.EventType(), events.BackupWritten{}.EventType(),
		&events.KeySkipped{}, &events.KeyWrapped{})
	return k
}

// Restore is the hsm-restore kind, started by 'ceremony hsm restore' (Restore).
func Restore() ceremonies.Kind {
	k := common()
	k.Definition = definition(KindRestore, events.RestoreStarted{}.EventType(), events.RestoreCompleted{}.EventType(),
		&events.KeyRestoreRequested{}, &events.KeyRestored{}, &events.KeyRestoreFailed{})
	k.Effects = []ceremonies.Effect{{
		Asked:    events.KeyRestoreRequested{}.EventType(),
		Answered: ceremonies.Types(&events.KeyRestored{}, &events.KeyRestoreFailed{}),
		Key:      keyID,
		What: func(p events.Payload) string {
			return fmt.Sprintf("restoring key %q has no recorded outcome", p.(*events.KeyRestoreRequested).Label)
		},
		Recovery: "look for the key on the token, then restore again (existing keys are left as they are)",
	}}
	return k
}

func common() ceremonies.Kind {
	return ceremonies.Kind{
		Payloads: []events.PayloadType{
			events.Declare[events.BackupStarted](),
			events.Declare[events.KeyWrapped](),
			events.Declare[events.KeySkipped](),
			events.Declare[events.BackupWritten](),
			events.Declare[events.RestoreStarted](),
			events.Declare[events.KeyRestoreRequested](),
			events.Declare[events.KeyRestored](),
			events.Declare[events.KeyRestoreFailed](),
			events.Declare[events.RestoreCompleted](),
		},
		Completed:  PhaseCompleted,
		NewRunner:  func(env ceremonies.Env) (ceremonies.Runner, error) { return resumer{}, nil },
		Summary:    ceremonies.SummaryOf(summary),
		Deviations: map[string]string{"hsm.key_restore_failed": "key not restored"},
	}
}

func keyID(p events.Payload) string {
	switch ev := p.(type) {
	case *events.KeyRestoreRequested:
		return ev.ID
	case *events.KeyRestored:
		return ev.ID
	case *events.KeyRestoreFailed:
		return ev.ID
	}
	return ""
}

// resumer ends an interrupted backup or restore: neither holds a secret
// worth continuing from, so the record says to run it again.
type resumer struct{}

func (resumer) Run(ctx context.Context, inst *engine.Instance) error {
	if inst.Ended() {
		return nil
	}
	st, err := ceremonies.StateOf(inst, func(s *State) State { return *s })
	if err != nil {
		return err
	}
	reason := "interrupted before it finished"
	recovery := "run it again; a backup file is written only at the end, so none is half-written"
	if inst.Kind() == KindRestore {
		recovery = "run the restore again: keys already restored are refused as existing and left as they are"
		if st.Pending != "" {
			reason = fmt.Sprintf("interrupted while unwrapping key %q: look for it on the token", st.Pending)
		}
	}
	return inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery})
}

func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}, {Name: "HSM", Value: st.HSM}, {Name: "file", Value: st.File}}
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, ceremonies.Row{Name: k, Value: v})
		}
	}
	add("file SHA-256", st.SHA256)
	add("Backup Key KCV", st.KCV)
	add("keys wrapped", strings.Join(st.Wrapped, ", "))
	add("keys skipped", strings.Join(st.Skipped, ", "))
	add("keys restored", strings.Join(st.Restored, ", "))
	add("keys not restored", strings.Join(st.Failed, ", "))
	add("ended because", st.Ended)
	return rows
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
