// Package sharecopy holds the one-to-one copy of a Backup Key share from
// one card to another (the manual: a second set for a disaster site, or
// the 2-of-2 case).
//
// Rules a caller must know:
//   - The source share is checked against its set's commitment before it
//     is used, and held in memory only; a resume reads the source again.
//   - Source and target must be different cards. A target holding a share
//     of a live set needs an explicit, logged confirmation; overwriting the
//     only card of another share of the same set (the 2-of-2 case) is
//     allowed after a warning that names the redundancy lost.
//   - A user credential (PKCS#11 slot) cannot be copied: its key never
//     leaves the card. A source holding only that is refused, saying so.
//   - The target is read back and compared before the copy is recorded.
package sharecopy

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// State is the fold of a share-copy ceremony.
type State struct {
	Operator string
	Source   string
	KeySetID string
	Index    int
	Target   string
	Ended    string
}

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.CopyStarted:
		s.Operator = ev.Operator
	case *events.CopySourceAccepted:
		s.Source, s.KeySetID, s.Index = ev.Serial, ev.KeySetID, ev.Index
	case *events.SharesDiscarded:
		s.Source, s.KeySetID, s.Index = "", "", 0
	case *events.ShareCopied:
		s.Target = ev.Target
	case *events.CeremonyAborted:
		s.Ended = ev.Reason
	case *events.CeremonyFailed:
		s.Ended = ev.Reason + "; " + ev.Recovery
	}
}

// Runner drives one share-copy ceremony.
type Runner struct {
	ceremonies.Env

	inst   *engine.Instance
	drv    *ceremonies.Driver
	source *backupkey.Record // in memory only; Share wiped at the end
}

// state copies the ceremony's state (Run checked its type first).
func (r *Runner) state() State {
	st, _ := ceremonies.StateOf(r.inst, func(s *State) State { return *s })
	return st
}

// Run drives inst until it ends or an error needs a person.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) error {
	if _, err := ceremonies.StateOf(inst, func(s *State) State { return *s }); err != nil {
		return err
	}
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: ceremonies.OperatorOf(r.Env, r.state().Operator), Say: r.Say}
	defer func() {
		if r.source != nil {
			ceremonies.Wipe(r.source.Share)
		}
	}()
	leases := r.Engine.Leases()
	defer leases.ReleaseAll(inst.ID())
	if err := leases.Acquire("reader:"+r.Station.Reader.Name(), inst.ID()); err != nil {
		return err
	}
	var redo []string
	if ph := inst.Phase(); (ph == PhaseTarget || ph == engine.PausedPhase(PhaseTarget)) && r.source == nil {
		r.drv.Tell("The source share was held in memory only: read the source card again.")
		if err := inst.Record(ctx, events.SourceEngine, &events.SharesDiscarded{Reason: "the process stopped: the source share was held in memory only"}); err != nil {
			return err
		}
		redo = append(redo, "read the source card again")
	}
	if r.Resumed && !inst.Ended() {
		if err := r.drv.Resumed(ctx, redo); err != nil {
			return err
		}
	}
	return r.drv.Loop(ctx, ceremonies.Steps{PhaseSource: r.readSource, PhaseTarget: r.writeTarget})
}

func (r *Runner) readSource(ctx context.Context) error {
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, 1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	ks, rec, err := backupkey.ReadChecked(card, r.Inventory, "")
	var refused *ceremonies.RefusedError
	if errors.As(err, &refused) && refused.Code == ceremonies.RefusedEmpty {
		if _, kerr := card.UserPublicKey(); kerr == nil {
			refused.Code = ceremonies.RefusedUserCard
			refused.Message = fmt.Sprintf("card %s holds a PKCS#11 user credential and no Backup Key share: a user card cannot be copied, its key never leaves the card; enrol another card instead", serial)
		}
	}
	if errors.As(err, &refused) {
		return ceremonies.RecordRefusal(ctx, r.inst, refused)
	}
	if err != nil {
		return err
	}
	r.source = rec
	r.drv.Tell(fmt.Sprintf("Source card %s: share %d of key set %s (%s).", serial, rec.Index, ks.ID, ks.Status))
	if err := r.inst.Record(ctx, events.SourceCard, &events.CopySourceAccepted{Serial: serial, KeySetID: ks.ID, Index: rec.Index}); err != nil {
		return err
	}
	return ceremonies.RemoveCard(ctx, r.inst, leases, r.Station, card)
}

func (r *Runner) writeTarget(ctx context.Context) error {
	// The sign-offs come before the target card is written.
	if err := r.drv.RequireWitnesses(ctx); err != nil {
		return err
	}
	st := r.state()
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, 2)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if serial == st.Source {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedSameCard, fmt.Sprintf("card %s is the source: insert another card to copy to", serial))
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	if err := r.checkTarget(ctx, card, st); err != nil {
		return err
	}
	data, err := backupkey.EncodeRecord(r.source)
	if err != nil {
		return err
	}
	defer ceremonies.Wipe(data)
	if err := r.inst.Record(ctx, events.SourceEngine, &events.ShareWriteRequested{Serial: serial, KeySetID: st.KeySetID, Index: st.Index}); err != nil {
		return err
	}
	werr := card.WriteShare(data)
	if werr == nil {
		back, rerr := card.ReadShare()
		if rerr != nil {
			werr = fmt.Errorf("read back: %w", rerr)
		} else if !bytes.Equal(back, data) {
			werr = errors.New("read back: the card returned different bytes")
		}
		ceremonies.Wipe(back)
	}
	if werr != nil {
		msg := fmt.Sprintf("copying share %d failed: %v", st.Index, werr)
		if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWriteFailed{Serial: serial, KeySetID: st.KeySetID, Index: st.Index, Error: msg}); err != nil {
			return err
		}
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedWriteFailed, msg+"; insert the card again or another card")
	}
	if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWritten{Serial: serial, KeySetID: st.KeySetID, Index: st.Index}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Share %d copied from card %s to card %s.", st.Index, st.Source, serial))
	return r.inst.Record(ctx, events.SourceEngine, &events.ShareCopied{Source: st.Source, Target: serial, KeySetID: st.KeySetID, Index: st.Index})
}

// checkTarget asks for confirmation before overwriting a live share, and
// warns, naming the redundancy lost, before overwriting the only card of
// another share of the same set.
func (r *Runner) checkTarget(ctx context.Context, card ceremonies.Card, st State) error {
	serial := card.Serial()
	old, err := card.ReadShare()
	if errors.Is(err, ceremonies.ErrNoData) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("card %s: read the backup slot before writing: %w", serial, err)
	}
	rec, derr := backupkey.DecodeRecord(old)
	ceremonies.Wipe(old)
	if derr != nil {
		return nil // not a share record: nothing a quorum depends on
	}
	ceremonies.Wipe(rec.Share)
	if c := backupkey.SerialConflict(r.Inventory, serial, rec); c != nil {
		return ceremonies.RecordRefusal(ctx, r.inst, backupkey.ConflictRefusal(c))
	}
	ks, known := r.Inventory.KeySet(rec.KeySetHex())
	if !known {
		return backupkey.ConfirmForeign(ctx, r.inst, r.Station, r.drv.Tell, serial, rec)
	}
	if ks.Status != inventory.KeySetLive {
		return nil
	}
	if ks.ID == st.KeySetID && rec.Index == st.Index {
		return nil // already a copy of this share: rewriting changes nothing
	}
	question := fmt.Sprintf("Card %s holds share %d of the LIVE key set %s: overwriting it loses that copy.", serial, rec.Index, ks.ID)
	if ks.ID == st.KeySetID {
		others := 0
		for _, s := range ks.Holders[rec.Index] {
			if s != serial {
				others++
			}
		}
		if others == 0 {
			distinct := 0
			for i, hs := range ks.Holders {
				if len(hs) > 0 && i != rec.Index {
					distinct++
				}
			}
			msg := fmt.Sprintf("card %s is the only card holding share %d of key set %s: after the copy the set has %d distinct shares for a threshold of %d (margin %d); share %d is gone for good",
				serial, rec.Index, ks.ID, distinct, ks.Threshold, distinct-ks.Threshold, rec.Index)
			if err := r.inst.Record(ctx, events.SourceEngine, &events.RedundancyWarning{Target: serial, KeySetID: ks.ID, LostIndex: rec.Index, DistinctLeft: distinct, Threshold: ks.Threshold, Message: msg}); err != nil {
				return err
			}
			question = "WARNING: " + msg + "."
		}
	}
	r.drv.Tell(question)
	r.Station.Pad.Show("Overwrite live", "share? OK/Cancel")
	ok, err := r.Station.Pad.Confirm(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedLiveKept, fmt.Sprintf("card %s keeps share %d of live key set %s: insert another card", serial, rec.Index, ks.ID))
	}
	return r.inst.Record(ctx, events.SourceOperator, &events.OverwriteConfirmed{Serial: serial, PreviousKeySetID: ks.ID, PreviousIndex: rec.Index, PreviousKCV: hex.EncodeToString(rec.KCV[:]), Live: true, By: r.Station.Actor()})
}
