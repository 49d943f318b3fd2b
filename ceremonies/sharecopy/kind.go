package sharecopy

import (
	"fmt"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind and phases.
const (
	Kind           = "share-copy"
	PhaseSource    = "source"
	PhaseTarget    = "target"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
)

// ShareCopy is the share-copy kind.
func ShareCopy() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: Definition(),
		Payloads: []events.PayloadType{
			events.Declare[events.CopyStarted](),
			events.Declare[events.CopySourceAccepted](),
			events.Declare[events.RedundancyWarning](),
			events.Declare[events.ShareCopied](),
			events.Declare[events.SharesDiscarded](),
			events.OverwriteConfirmedType(),
			events.Declare[events.ShareWriteRequested](),
			events.Declare[events.ShareWritten](),
			events.Declare[events.ShareWriteFailed](),
		},
		Completed: PhaseCompleted,
		Start: &ceremonies.Start{
			Command:  "copy",
			Short:    "Copy one card's Backup Key share one-to-one onto another card",
			IDPrefix: "copy",
			Long: `Copy the Backup Key share of one card (the source, inserted first) onto
another card (the target): a spare for a card that wears out or goes
away. The source card is refused as target; overwriting the only card
holding another share is warned about and must be confirmed; a user card
cannot be copied.`,
			Example: `  ceremony copy --operator alice --cards-dir cards`,
			Begin: func(_ ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
				return []events.Payload{&events.CopyStarted{Operator: at.Operator, Reader: at.Reader}}, nil
			},
		},
		Needs:     ceremonies.Needs{Cards: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Deviations: map[string]string{
			"sharecopy.redundancy_warning": "redundancy lost", "backupkey.share_write_failed": "write failed",
		},
		// A copy writes a share as generate does: the same effect, the same
		// inventory changes.
		Effects: backupkey.Effects()[:1],
		Project: backupkey.Project,
		Rehearse: &ceremonies.Rehearse{
			Params: func(int) ceremonies.Params { return ceremonies.Params{} },
			Cards:  func(shares int) int { return shares + 1 }, // a spare card to copy to
			Next: func(v ceremonies.RehearsalView) (int, bool, error) {
				if strings.HasPrefix(v.Inst.Phase(), PhaseSource) {
					return 0, false, nil
				}
				return len(v.Serials) - 1, v.Inst.Phase() == PhaseTarget, nil
			},
		},
	}
}

// Definition is the share-copy ceremony's machine.
func Definition() *engine.Definition {
	live := []string{PhaseSource, engine.PausedPhase(PhaseSource), PhaseTarget, engine.PausedPhase(PhaseTarget)}
	ts := []engine.Transition{
		{Event: events.CopySourceAccepted{}.EventType(), From: []string{PhaseSource}, To: PhaseTarget},
		{Event: events.SharesDiscarded{}.EventType(), From: []string{PhaseTarget, engine.PausedPhase(PhaseTarget)}, To: PhaseSource},
		{Event: events.ShareCopied{}.EventType(), From: []string{PhaseTarget}, To: PhaseCompleted},
		{Event: events.CeremonyAborted{}.EventType(), From: live, To: PhaseAborted},
		{Event: events.CeremonyFailed{}.EventType(), From: live, To: PhaseFailed},
	}
	source := append(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents()...)
	target := append(append([]string(nil), source...), ceremonies.Types(&events.OverwriteConfirmed{}, &events.RedundancyWarning{},
		&events.ShareWriteRequested{}, &events.ShareWritten{}, &events.ShareWriteFailed{})...)
	return &engine.Definition{
		Kind: Kind, First: events.CopyStarted{}.EventType(), Initial: PhaseSource,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: append(ts, engine.Pausable(PhaseSource, PhaseTarget)...),
		Data:        map[string][]string{PhaseSource: source, PhaseTarget: target},
		NewState:    func() engine.State { return &State{} },
	}
}

func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}}
	if st.Source != "" {
		rows = append(rows, ceremonies.Row{Name: "source", Value: fmt.Sprintf("card %s, share %d of key set %s", st.Source, st.Index, st.KeySetID)})
	}
	if st.Target != "" {
		rows = append(rows, ceremonies.Row{Name: "target", Value: st.Target})
	}
	if st.Ended != "" {
		rows = append(rows, ceremonies.Row{Name: "ended because", Value: st.Ended})
	}
	return rows
}
