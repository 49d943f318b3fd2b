package cardreset

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Runner drives one card reset.
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
	return r.drv.Loop(ctx, ceremonies.Steps{PhaseCreated: r.step})
}

func (r *Runner) state() State {
	st, _ := ceremonies.StateOf(r.inst, copyState)
	return st
}

// step presents the card and resets it: the sign-offs come first, before
// the card is touched.
func (r *Runner) step(ctx context.Context) error {
	if err := r.drv.RequireWitnesses(ctx); err != nil {
		return err
	}
	st := r.state()
	card, err := ceremonies.PresentCard(ctx, r.inst, r.Engine.Leases(), r.Station, 1)
	if errors.Is(err, ceremonies.ErrCardTerminated) && st.Mode == ModeFactory {
		return r.finishTerminated(ctx, st)
	}
	if err != nil {
		return err
	}
	serial := card.Serial()
	if st.Serial != "" && serial != st.Serial {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedWrongCard,
			fmt.Sprintf("this ceremony resets card %s, not card %s: insert card %s", st.Serial, serial, st.Serial))
	}
	rs, ok := card.(Resetter)
	if !ok {
		return fmt.Errorf("card %s: this reader's card profile cannot reset a card", serial)
	}
	if st.Mode == ModeUserPIN {
		return r.resetUserPIN(ctx, card, rs, st)
	}
	return r.resetCard(ctx, card, rs, st)
}

// resetCard names what the card holds, has the operator confirm the loss,
// and resets the card to its factory state. A reset asked for before a
// stop is done again without asking: it was confirmed, and it loses
// nothing more.
func (r *Runner) resetCard(ctx context.Context, card ceremonies.Card, rs Resetter, st State) error {
	serial := card.Serial()
	tries, err := card.PINTries(ceremonies.BackupSlot)
	if err != nil {
		return fmt.Errorf("card %s: read the PW3 retry counter: %w", serial, err)
	}
	if tries == 0 {
		if err := r.inst.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: serial, PIN: "PW3", TriesLeft: 0}); err != nil {
			return err
		}
		if err := r.inst.Record(ctx, events.SourceCard, &events.CardBlocked{Serial: serial, PIN: "PW3"}); err != nil {
			return err
		}
	} else {
		if st.Pending != nil {
			r.drv.Tell(fmt.Sprintf("The reset of card %s was sent and its outcome is not recorded: type its backup PIN, the old one, or 123456 if the reset happened.", serial))
		}
		// TERMINATE DF needs PW3 verified when it is not blocked;
		// VerifyPIN records the retry counter it reads.
		if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
			return err
		}
	}
	if p := st.Pending; p != nil {
		return r.reset(ctx, rs, serial, p.KeySetID, p.Index, st.Confirm.Loss)
	}
	from := FromCard
	if tries == 0 {
		from = FromRegistryBlocked
	}
	named, err := r.name(card, from)
	if err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceCard, named); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Card %s: %s.", serial, named.Loss))
	err = ceremonies.Confirm(ctx, r.inst, r.Station, "confirm reset "+serial, "Erase card?", "OK=erase Cancel=keep")
	if errors.Is(err, ceremonies.ErrCancelled) {
		return r.drv.Abort(ctx, fmt.Sprintf("the operator did not confirm the reset of card %s: nothing was changed on it", serial))
	}
	if err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceOperator, &Confirmed{Serial: serial, Loss: named.Loss, By: r.drv.Operator}); err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceEngine, &ResetRequested{Serial: serial, KeySetID: named.KeySetID, Index: named.Index}); err != nil {
		return err
	}
	return r.reset(ctx, rs, serial, named.KeySetID, named.Index, named.Loss)
}

func (r *Runner) reset(ctx context.Context, rs Resetter, serial, set string, index int, loss string) error {
	if err := rs.ResetToFactory(); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Card %s is in its factory state: both PINs are 123456; change them (ceremony pin change) before the card is used again.", serial))
	return r.inst.Record(ctx, events.SourceCard, &CardReset{Serial: serial, KeySetID: set, Index: index, Lost: loss})
}

// name says what the card holds: read from its backup slot (from
// FromCard: PW3 is verified), or what the registry says (PW3 blocked, or
// the card found terminated). The share read is wiped at once: only its
// set, index and KCV are kept.
func (r *Runner) name(card ceremonies.Card, from string) (*ContentNamed, error) {
	serial := card.Serial()
	n := &ContentNamed{Serial: serial, From: from, Holds: HoldsNothing}
	c, _ := r.Inventory.Card(serial)
	n.UserSlot = c.UserSlot
	if from != FromCard {
		if c.KeySetID != "" {
			n.KeySetID, n.Index = c.KeySetID, c.ShareIndex
			n.Holds = HoldsShare
		}
	} else {
		data, err := card.ReadShare()
		switch {
		case errors.Is(err, ceremonies.ErrNoData):
		case err != nil:
			return nil, fmt.Errorf("card %s: read the backup slot before the reset: %w", serial, err)
		default:
			rec, derr := backupkey.DecodeRecord(data)
			ceremonies.Wipe(data)
			if derr != nil {
				n.Holds = HoldsNotAShare
				break
			}
			ceremonies.Wipe(rec.Share)
			n.KeySetID, n.Index, n.KCV = rec.KeySetHex(), rec.Index, hex.EncodeToString(rec.KCV[:])
			n.Shares, n.Threshold = rec.Shares, rec.Threshold
			n.Holds = HoldsForeignShare
		}
	}
	if n.KeySetID != "" {
		if ks, ok := r.Inventory.KeySet(n.KeySetID); ok {
			n.Holds, n.KCV, n.Shares, n.Threshold = HoldsShare, ks.KCV, ks.Shares, ks.Threshold
			if ks.Status == inventory.KeySetVoid {
				n.Holds = HoldsVoidShare
			}
			n.KeepsUsable = usableWithout(r.Inventory, ks, serial)
		}
	}
	n.Loss = lossOf(n)
	return n, nil
}

// usableWithout counts the set's distinct shares on cards other than
// serial whose backup PIN is not blocked.
func usableWithout(inv *inventory.Inventory, ks inventory.KeySet, serial string) int {
	n := 0
	for _, holders := range ks.Holders {
		for _, s := range holders {
			if c, _ := inv.Card(s); s != serial && !c.Blocked["PW3"] {
				n++
				break
			}
		}
	}
	return n
}

// lossOf is the sentence the operator confirms: what will be gone.
func lossOf(n *ContentNamed) string {
	var what string
	switch n.Holds {
	case HoldsShare:
		what = fmt.Sprintf("share %d of key set %s (KCV %s) will be gone for good; the set keeps %d of %d usable shares, quorum %d",
			n.Index, n.KeySetID, n.KCV, n.KeepsUsable, n.Shares, n.Threshold)
		if n.KeepsUsable < n.Threshold {
			what += ": BELOW THE QUORUM, the key can no longer be rebuilt from cards"
		} else if n.KeepsUsable == n.Threshold {
			what += ": no spare left"
		}
	case HoldsVoidShare:
		what = fmt.Sprintf("share %d of the void key set %s (no key can be rebuilt from it) will be erased", n.Index, n.KeySetID)
	case HoldsForeignShare:
		what = fmt.Sprintf("share %d of key set %s (KCV %s), which this event store never made, will be gone for good: it cannot be restored", n.Index, n.KeySetID, n.KCV)
	case HoldsNotAShare:
		what = "data in the backup slot that is no share record will be erased"
	default:
		what = "the backup slot holds no share"
	}
	switch n.From {
	case FromRegistryBlocked:
		what = "its backup PIN is blocked, so the card cannot be read; the registry says: " + what
	case FromRegistryTerminated:
		what = "the card was found terminated, what it held already unreadable; the registry says: " + what
	}
	if n.UserSlot != "" {
		what += fmt.Sprintf("; its user key and the credential sealed for slot %s will be gone (enrol it again)", n.UserSlot)
	}
	return what + "; both PINs go back to the factory default 123456"
}

// resetUserPIN gives a card a new user PIN with its backup PIN verified
// (RESET RETRY COUNTER), after the operator confirmed.
func (r *Runner) resetUserPIN(ctx context.Context, card ceremonies.Card, rs Resetter, st State) error {
	serial := card.Serial()
	tries, err := card.PINTries(ceremonies.UserSlot)
	if err != nil {
		return fmt.Errorf("card %s: read the PW1 retry counter: %w", serial, err)
	}
	if err := r.inst.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: serial, PIN: "PW1", TriesLeft: tries, LastTry: tries == 1}); err != nil {
		return err
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	if st.PendingPIN == "" {
		was := "blocked"
		if tries > 0 {
			was = "not blocked, " + ceremonies.TriesLeft(tries)
		}
		loss := fmt.Sprintf("the user PIN (PW1) of card %s (%s) is replaced by a new one typed now; the share, the user key and the sealed credential stay", serial, was)
		r.drv.Tell("Card " + serial + ": " + loss + ".")
		err := ceremonies.Confirm(ctx, r.inst, r.Station, "confirm user PIN reset "+serial, "Reset user PIN?", "OK=reset Cancel=keep")
		if errors.Is(err, ceremonies.ErrCancelled) {
			return r.drv.Abort(ctx, fmt.Sprintf("the operator did not confirm the user PIN reset of card %s: nothing was changed on it", serial))
		}
		if err != nil {
			return err
		}
		if err := r.inst.Record(ctx, events.SourceOperator, &Confirmed{Serial: serial, Loss: loss, By: r.drv.Operator}); err != nil {
			return err
		}
	}
	newPIN, err := r.newPIN(ctx, serial)
	if err != nil {
		return err
	}
	defer ceremonies.Wipe(newPIN)
	if err := r.inst.Record(ctx, events.SourceEngine, &UserPINResetRequested{Serial: serial}); err != nil {
		return err
	}
	if err := rs.ResetUserPIN(newPIN); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("The user PIN (PW1) of card %s is reset.", serial))
	return r.inst.Record(ctx, events.SourceCard, &UserPINReset{Serial: serial, Entry: "host"})
}

// newPIN reads the new user PIN twice until it meets the PIN policy.
func (r *Runner) newPIN(ctx context.Context, serial string) ([]byte, error) {
	for {
		newPIN, err := ceremonies.EnterPIN(ctx, r.inst, r.Station, "new PIN "+serial, "New PIN", "6-16 digits")
		if err != nil {
			return nil, err
		}
		repeat, err := ceremonies.EnterPIN(ctx, r.inst, r.Station, "repeat PIN "+serial, "Repeat new PIN", "")
		if err != nil {
			ceremonies.Wipe(newPIN)
			return nil, err
		}
		rule := pinchange.Policy(nil, newPIN, repeat)
		ceremonies.Wipe(repeat)
		if rule == "" {
			return newPIN, nil
		}
		ceremonies.Wipe(newPIN)
		r.drv.Tell("New PIN refused: " + rule + ".")
		r.Station.Pad.Show("PIN refused", "")
		if err := r.inst.Record(ctx, events.SourceEngine, &events.PINPolicyRefused{Serial: serial, Rule: rule}); err != nil {
			return nil, err
		}
	}
}

// finishTerminated activates a card found terminated (a reset stopped
// between TERMINATE DF and ACTIVATE FILE, in this ceremony or elsewhere)
// after the operator's OK, and records its reset. Its serial is known only
// once it is activated: what it held is named from the registry.
func (r *Runner) finishTerminated(ctx context.Context, st State) error {
	if err := r.inst.EndStep(ctx, "insert card 1"); err != nil {
		return err
	}
	act, ok := r.Station.Reader.(Activator)
	if !ok {
		return fmt.Errorf("the card in reader %s is terminated and this reader cannot activate it: %w", r.Station.Reader.Name(), ceremonies.ErrCardTerminated)
	}
	r.drv.Tell("The card in the reader is terminated: a reset stopped between TERMINATE DF and ACTIVATE FILE, and what it held cannot be read any more. OK activates it (factory state, both PINs 123456).")
	err := ceremonies.Confirm(ctx, r.inst, r.Station, "confirm activation", "Activate card?", "OK=activate Cancel")
	if errors.Is(err, ceremonies.ErrCancelled) {
		return r.drv.Abort(ctx, "the operator left the terminated card as it is")
	}
	if err != nil {
		return err
	}
	card, err := act.ActivateCard(ctx)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if err := r.inst.Record(ctx, events.SourceReader, &events.CardPresented{
		Reader: r.Station.Reader.Name(), ReaderClass: r.Station.Reader.Class(), Serial: serial, Slot: 1}); err != nil {
		return err
	}
	if err := r.Engine.Leases().Acquire("card:"+serial, r.inst.ID()); err != nil {
		return err
	}
	if p := st.Pending; p != nil && p.Serial == serial {
		r.drv.Tell(fmt.Sprintf("Card %s: the reset asked for before the stop is finished.", serial))
		return r.inst.Record(ctx, events.SourceCard, &CardReset{Serial: serial, KeySetID: p.KeySetID, Index: p.Index, Lost: st.Confirm.Loss})
	}
	if st.Serial != "" && serial != st.Serial {
		r.drv.Tell(fmt.Sprintf("The terminated card was card %s, not card %s: its reset is recorded; card %s still needs its own.", serial, st.Serial, st.Serial))
	}
	named, err := r.name(card, FromRegistryTerminated)
	if err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceCard, named); err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceOperator, &Confirmed{Serial: serial, Loss: named.Loss, By: r.drv.Operator}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Card %s: %s. It is in its factory state: change both PINs (ceremony pin change) before the card is used again.", serial, named.Loss))
	return r.inst.Record(ctx, events.SourceCard, &CardReset{Serial: serial, KeySetID: named.KeySetID, Index: named.Index, Lost: named.Loss})
}
