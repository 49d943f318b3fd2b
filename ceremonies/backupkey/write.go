package backupkey

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// writeNext does one step of the writing phase: generate the key set, or
// write the next share to the next card, or move on to reading.
func (r *Runner) writeNext(ctx context.Context) error {
	st := r.state()
	if !st.Generated {
		return r.generate(ctx, st)
	}
	if st.Pending != nil && r.split == nil {
		return r.verifyPending(ctx, st)
	}
	if r.lostKey(st) {
		_, err := r.decideLostKey(ctx, st)
		return err
	}
	next := st.NextIndex()
	if next == 0 || st.KeyLost {
		// All shares written (or no more can be): the manual's Step 2.
		if r.split != nil {
			r.split.Wipe()
			r.split = nil
		}
		if err := ceremonies.Confirm(ctx, r.inst, r.Station, "confirm read", "Read New Key", "press OK/Cancel"); err != nil {
			return err
		}
		return r.inst.Record(ctx, events.SourceOperator, &events.ReadConfirmed{By: r.drv.Actor()})
	}
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, len(st.Written)+1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if idx, ok := st.WrittenSerial(serial); ok {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedSameCard,
			fmt.Sprintf("card %s already holds share %d of this key set; each card holds one share: insert another card", serial, idx))
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	if err := r.checkOverwrite(ctx, card); err != nil {
		return err
	}
	if err := r.writeShare(ctx, card, next); err != nil {
		return err
	}
	if len(st.Written)+1 == st.Shares {
		return nil // the last card may stay in the reader for reading
	}
	return ceremonies.RemoveCard(ctx, r.inst, leases, r.Station, card)
}

func (r *Runner) generate(ctx context.Context, st State) error {
	q := Quorum{Threshold: st.Threshold, Shares: st.Shares}
	split, err := NewSplit(r.Rand, q)
	if err != nil {
		return err
	}
	ev := &events.KeyGenerated{KeySetID: hex.EncodeToString(split.KeySetID[:]), Threshold: q.Threshold, Shares: q.Shares, KCV: split.KCV}
	for i, c := range split.Commitments {
		ev.Commitments = append(ev.Commitments, events.ShareCommitment{Index: i + 1, Commitment: c})
	}
	if err := r.inst.Record(ctx, events.SourceEngine, ev); err != nil {
		split.Wipe()
		return err
	}
	r.split = split
	r.drv.Tell(fmt.Sprintf("Backup Key generated: key set %s, %s, KCV %s.", ev.KeySetID, q, split.KCV))
	return nil
}

// verifyPending checks, on the card, a write whose outcome was not
// recorded (the process stopped between the request and the outcome):
// the share is there if the card holds a record of this set and index
// matching the commitment recorded at generation (ARCHITECTURE.md, "Engine rules").
func (r *Runner) verifyPending(ctx context.Context, st State) error {
	p := st.Pending
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, len(st.Written)+1)
	if err != nil {
		return err
	}
	if card.Serial() != p.Serial {
		return ceremonies.Refuse(ctx, r.inst, card.Serial(), ceremonies.RefusedWrongCard,
			fmt.Sprintf("insert card %s first: whether share %d was written to it before the stop must be checked", p.Serial, p.Index))
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	_, rec, err := ReadChecked(card, r.Inventory, p.KeySetID)
	var refused *ceremonies.RefusedError
	switch {
	case err == nil && rec.Index == p.Index:
		ceremonies.Wipe(rec.Share)
		r.drv.Tell(fmt.Sprintf("Card %s holds share %d: the write had completed (checked against the commitment).", p.Serial, p.Index))
		if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWritten{Serial: p.Serial, KeySetID: p.KeySetID, Index: p.Index}); err != nil {
			return err
		}
	case err == nil || errors.As(err, &refused):
		if rec != nil {
			ceremonies.Wipe(rec.Share)
		}
		msg := fmt.Sprintf("checked on card %s after the stop: share %d is not there (never written, or torn)", p.Serial, p.Index)
		r.drv.Tell(msg + ".")
		if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWriteFailed{Serial: p.Serial, KeySetID: p.KeySetID, Index: p.Index, Error: msg}); err != nil {
			return err
		}
	default:
		return err
	}
	return ceremonies.RemoveCard(ctx, r.inst, leases, r.Station, card)
}

// checkOverwrite refuses to overwrite a share of a live key set, or of a
// set this store never made (a foreign share: another installation's),
// unless the operator confirms on the PIN pad; the confirmation records
// what the card held (ARCHITECTURE.md, "Ceremony semantics"). Void and
// pending sets of this store, and data that is no share record, are
// overwritten without asking.
func (r *Runner) checkOverwrite(ctx context.Context, card ceremonies.Card) error {
	old, err := card.ReadShare()
	if errors.Is(err, ceremonies.ErrNoData) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("card %s: read the backup slot before writing: %w", card.Serial(), err)
	}
	rec, derr := DecodeRecord(old)
	ceremonies.Wipe(old)
	if derr != nil {
		return nil // not a share record: nothing a quorum depends on
	}
	ceremonies.Wipe(rec.Share)
	if c := SerialConflict(r.Inventory, card.Serial(), rec); c != nil {
		return ceremonies.RecordRefusal(ctx, r.inst, ConflictRefusal(c))
	}
	ks, known := r.Inventory.KeySet(rec.KeySetHex())
	if !known {
		return ConfirmForeign(ctx, r.inst, r.Station, r.drv.Tell, card.Serial(), rec)
	}
	if ks.Status != inventory.KeySetLive {
		return nil
	}
	r.drv.Tell(fmt.Sprintf("Card %s holds share %d of the LIVE key set %s (KCV %s). Overwriting it loses that share.", card.Serial(), rec.Index, ks.ID, ks.KCV))
	r.Station.Pad.Show("Overwrite live", "share? OK/Cancel")
	ok, err := r.Station.Pad.Confirm(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ceremonies.Refuse(ctx, r.inst, card.Serial(), ceremonies.RefusedLiveKept,
			fmt.Sprintf("card %s keeps share %d of live key set %s: insert another card", card.Serial(), rec.Index, ks.ID))
	}
	return r.inst.Record(ctx, events.SourceOperator, &events.OverwriteConfirmed{Serial: card.Serial(), PreviousKeySetID: ks.ID, PreviousIndex: rec.Index, PreviousKCV: hex.EncodeToString(rec.KCV[:]), Live: true, By: r.Station.Actor()})
}

// ConfirmForeign asks before a share of a key set this store never made
// is overwritten: it cannot be restored afterwards. Cancel refuses the
// card (RefusedForeignKept); OK records what the card held.
func ConfirmForeign(ctx context.Context, inst *engine.Instance, st *ceremonies.Station, tell func(string), serial string, rec *Record) error {
	kcv := hex.EncodeToString(rec.KCV[:])
	tell(fmt.Sprintf("Card %s holds share %d of key set %s (KCV %s), which this event store never made: another installation's set, or one made elsewhere. A share cannot be restored once it is overwritten.",
		serial, rec.Index, rec.KeySetHex(), kcv))
	st.Pad.Show("Overwrite foreign", "share? OK/Cancel")
	ok, err := st.Pad.Confirm(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ceremonies.Refuse(ctx, inst, serial, ceremonies.RefusedForeignKept,
			fmt.Sprintf("card %s keeps share %d of foreign key set %s: insert another card", serial, rec.Index, rec.KeySetHex()))
	}
	return inst.Record(ctx, events.SourceOperator, &events.OverwriteConfirmed{Serial: serial, PreviousKeySetID: rec.KeySetHex(), PreviousIndex: rec.Index, PreviousKCV: kcv, Foreign: true, By: st.Actor()})
}

// writeShare records the request, writes, reads back and records the
// outcome. A failure refuses the card; its share index stays open.
func (r *Runner) writeShare(ctx context.Context, card ceremonies.Card, index int) error {
	serial, setID := card.Serial(), hex.EncodeToString(r.split.KeySetID[:])
	if err := r.inst.Record(ctx, events.SourceEngine, &events.ShareWriteRequested{Serial: serial, KeySetID: setID, Index: index}); err != nil {
		return err
	}
	data, err := EncodeRecord(r.split.Records[index-1])
	if err != nil {
		return err
	}
	defer ceremonies.Wipe(data)
	werr := card.WriteShare(data)
	if werr == nil {
		back, rerr := card.ReadShare()
		switch {
		case rerr != nil:
			werr = fmt.Errorf("read back: %w", rerr)
		case !bytes.Equal(back, data):
			werr = errors.New("read back: the card returned different bytes")
		}
		ceremonies.Wipe(back)
	}
	if werr != nil {
		msg := fmt.Sprintf("writing share %d failed: %v", index, werr)
		if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWriteFailed{Serial: serial, KeySetID: setID, Index: index, Error: msg}); err != nil {
			return err
		}
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedWriteFailed, msg+"; insert the card again or another card")
	}
	if err := r.inst.Record(ctx, events.SourceCard, &events.ShareWritten{Serial: serial, KeySetID: setID, Index: index}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Share %d written to card %s.", index, serial))
	return nil
}
