package sharecheck

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Runner drives one share check.
type Runner struct {
	ceremonies.Env

	inst *engine.Instance
	drv  *ceremonies.Driver
}

// Run drives inst until it ends or an error needs a person.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) error {
	st, err := ceremonies.StateOf(inst, copyState)
	if err != nil {
		return err
	}
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: ceremonies.OperatorOf(r.Env, st.Operator), Say: r.Say}
	if r.Resumed && !inst.Ended() {
		if err := r.drv.Resumed(ctx, nil); err != nil {
			return err
		}
	}
	defer r.Engine.Leases().ReleaseAll(inst.ID())
	if err := r.Engine.Leases().Acquire("reader:"+r.Station.Reader.Name(), inst.ID()); err != nil {
		return err
	}
	return r.drv.Loop(ctx, ceremonies.Steps{PhaseChecking: r.step})
}

// state copies the ceremony's state (Run checked its type first).
func (r *Runner) state() State {
	st, _ := ceremonies.StateOf(r.inst, copyState)
	return st
}

// step checks one card, after asking whether there is another when a
// card was presented already; it finishes the session when every share
// of the set is verified or the operator says there is no other card.
func (r *Runner) step(ctx context.Context) error {
	st := r.state()
	if st.Of > 0 && len(st.indexes()) == st.Of {
		return r.finish(ctx, st, fmt.Sprintf("every share of key set %s (%d of %d) verified", st.KeySetID, st.Of, st.Of))
	}
	if st.Presented > 0 {
		err := ceremonies.Confirm(ctx, r.inst, r.Station, fmt.Sprintf("another card %d", st.Presented+1), "Another card?", "OK=yes Cancel=done")
		if errors.Is(err, ceremonies.ErrCancelled) {
			return r.finish(ctx, st, "the operator ended the session")
		}
		if err != nil {
			return err
		}
	}
	return r.checkOne(ctx, st)
}

func (r *Runner) finish(ctx context.Context, st State, reason string) error {
	if err := r.drv.RequireWitnesses(ctx); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Share check %s: %d card(s) verified; %s.", r.inst.ID(), len(st.Verified), reason))
	return r.inst.Record(ctx, events.SourceOperator, &Finished{Verified: len(st.Verified), Reason: reason})
}

// checkOne reads one card's share after its PIN and checks it against
// its commitment (backupkey.ReadChecked); the share is wiped at once.
func (r *Runner) checkOne(ctx context.Context, st State) error {
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, len(st.Verified)+1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if v, done := st.verifiedSerial(serial); done {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedSameCard,
			fmt.Sprintf("card %s was verified in this session already (share %d): insert another card, or press Cancel at \"Another card?\" to end", serial, v.Index))
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	ks, rec, err := backupkey.ReadChecked(card, r.Inventory, st.KeySetID)
	var refused *ceremonies.RefusedError
	if errors.As(err, &refused) {
		return ceremonies.Refuse(ctx, r.inst, serial, refused.Code, refused.Message)
	}
	if err != nil {
		return err
	}
	index := rec.Index
	ceremonies.Wipe(rec.Share)
	after, err := card.PINTries(ceremonies.BackupSlot)
	if err != nil {
		return fmt.Errorf("card %s: read the PW3 retry counter after the check: %w", serial, err)
	}
	now := r.state()
	v := &ShareVerified{Serial: serial, KeySetID: ks.ID, Index: index, Of: ks.Shares, Threshold: ks.Threshold,
		TriesBefore: now.triesRead[serial], TriesLeft: after, DefaultPIN: now.defaultPIN[serial], Entry: now.entry[serial]}
	if err := r.inst.Record(ctx, events.SourceCard, v); err != nil {
		return err
	}
	msg := fmt.Sprintf("Card %s: share %d of key set %s verified against its commitment (PW3 tries left: %d).", serial, index, ks.ID, after)
	if v.DefaultPIN {
		msg += " Its PIN is still the factory default: change it (ceremony pin change --slot backup)."
	}
	r.drv.Tell(msg)
	return ceremonies.RemoveCard(ctx, r.inst, leases, r.Station, card)
}
