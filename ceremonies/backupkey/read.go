package backupkey

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
	"github.com/ceremony-hsm/ceremony/events"
)

// readNext does one step of the reading phase: read and check one card,
// rebuild the key at the threshold, load it into the HSM.
func (r *Runner) readNext(ctx context.Context) error {
	st := r.state()
	if st.Reconstructed && r.key != nil {
		if err := r.drv.RequireWitnesses(ctx); err != nil {
			return err
		}
		return r.load(ctx, st)
	}
	leases := r.Engine.Leases()
	card, err := ceremonies.PresentCard(ctx, r.inst, leases, r.Station, len(st.Accepted)+1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if idx, ok := st.AcceptedSerial(serial); ok {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedSameCard,
			fmt.Sprintf("card %s was already read (share %d): insert a different card", serial, idx))
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	ks, share, err := r.checkShare(ctx, card, st)
	if err != nil {
		return err
	}
	kept, err := secret.Copy(share.Share) // wipes the record's copy
	if err != nil {
		return fmt.Errorf("card %s: keep share %d: %w", serial, share.Index, err)
	}
	r.shares[share.Index] = kept
	have := len(st.Accepted) + 1
	if err := r.inst.Record(ctx, events.SourceCard, &events.ShareAccepted{Serial: serial, KeySetID: ks.ID, Index: share.Index, Have: have, Need: ks.Threshold}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Card %s: share %d of key set %s accepted (%d of %d).", serial, share.Index, ks.ID, have, ks.Threshold))
	if have < ks.Threshold {
		return ceremonies.RemoveCard(ctx, r.inst, leases, r.Station, card)
	}
	return r.rebuild(ctx, ks)
}

// checkShare refuses, at insertion, a card that is empty, corrupt, foreign
// to the key set, or holds a share already read (ARCHITECTURE.md, "Ceremony semantics").
func (r *Runner) checkShare(ctx context.Context, card ceremonies.Card, st State) (inventory.KeySet, *Record, error) {
	serial := card.Serial()
	ks, rec, err := ReadChecked(card, r.Inventory, st.KeySetID)
	var refused *ceremonies.RefusedError
	if errors.As(err, &refused) {
		return inventory.KeySet{}, nil, ceremonies.RecordRefusal(ctx, r.inst, refused)
	}
	if err != nil {
		return inventory.KeySet{}, nil, err
	}
	if other, dup := st.Accepted[rec.Index]; dup {
		ceremonies.Wipe(rec.Share)
		return inventory.KeySet{}, nil, ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedDuplicate, fmt.Sprintf("card %s holds share %d, already read from card %s: copies of one share count once; insert a card holding another share", serial, rec.Index, other))
	}
	return ks, rec, nil
}

// KeySets is what ReadChecked needs of the inventory: the key sets, and
// the card registry to tell a card that claims another card's serial.
type KeySets interface {
	KeySet(id string) (inventory.KeySet, bool)
	Card(serial string) (inventory.Card, bool)
}

// SerialConflict returns the conflict when the card presented as serial
// holds a record of a set this store never made while this store's card
// of that serial holds a share of a set it made: two cards claim the
// serial (another installation's card, or a copied image). A card's
// identity is its serial and what it holds (ARCHITECTURE.md, "Ceremony
// semantics").
func SerialConflict(sets KeySets, serial string, rec *Record) *events.SerialConflict {
	if _, known := sets.KeySet(rec.KeySetHex()); known {
		return nil
	}
	c, ok := sets.Card(serial)
	if !ok || c.KeySetID == "" {
		return nil
	}
	if _, known := sets.KeySet(c.KeySetID); !known {
		return nil
	}
	return &events.SerialConflict{Serial: serial, RegisteredKeySetID: c.KeySetID, RegisteredIndex: c.ShareIndex,
		PresentedKeySetID: rec.KeySetHex(), PresentedIndex: rec.Index}
}

// ConflictRefusal is the refusal of a card that claims another card's
// serial; it tells the operator what that means.
func ConflictRefusal(c *events.SerialConflict) *ceremonies.RefusedError {
	return &ceremonies.RefusedError{Serial: c.Serial, Code: ceremonies.RefusedSerialConflict, Conflict: c, Message: fmt.Sprintf("two cards claim serial %s: this store's card %s holds share %d of key set %s, this card holds share %d of key set %s, which this store never made; set this card aside and label it (another installation's card or a copied image), the registered card keeps its entry",
		c.Serial, c.Serial, c.RegisteredIndex, c.RegisteredKeySetID, c.PresentedIndex, c.PresentedKeySetID)}
}

// ReadChecked reads a card's share record (after its backup PIN) and
// checks it against what the events say about its key set: well formed,
// of a set this installation generated and did not void, of wantSet when
// given, and matching the commitment recorded at generation. A card that
// fails is a *ceremonies.RefusedError (not yet recorded) saying why. The
// caller wipes the record's share.
func ReadChecked(card ceremonies.Card, sets KeySets, wantSet string) (inventory.KeySet, *Record, error) {
	serial := card.Serial()
	refuse := func(code, msg string) (inventory.KeySet, *Record, error) {
		return inventory.KeySet{}, nil, &ceremonies.RefusedError{Serial: serial, Code: code, Message: msg}
	}
	data, err := card.ReadShare()
	if errors.Is(err, ceremonies.ErrNoData) {
		return refuse(ceremonies.RefusedEmpty, fmt.Sprintf("card %s holds no Backup Key share: insert a card of the set", serial))
	}
	if err != nil {
		return inventory.KeySet{}, nil, fmt.Errorf("card %s: read the backup slot: %w", serial, err)
	}
	rec, err := DecodeRecord(data)
	ceremonies.Wipe(data)
	if err != nil {
		return refuse(ceremonies.RefusedCorrupt, fmt.Sprintf("card %s: %v; use another card of the set", serial, err))
	}
	setID := rec.KeySetHex()
	fail := func(code, msg string) (inventory.KeySet, *Record, error) {
		ceremonies.Wipe(rec.Share)
		return refuse(code, msg)
	}
	if c := SerialConflict(sets, serial, rec); c != nil {
		ceremonies.Wipe(rec.Share)
		return inventory.KeySet{}, nil, ConflictRefusal(c)
	}
	if wantSet != "" && setID != wantSet {
		return fail(ceremonies.RefusedForeign, fmt.Sprintf("card %s holds a share of key set %s, this ceremony reads key set %s: insert a card of this set", serial, setID, wantSet))
	}
	ks, ok := sets.KeySet(setID)
	if !ok {
		return fail(ceremonies.RefusedForeign, fmt.Sprintf("card %s holds a share of key set %s, which this installation never generated: it belongs elsewhere", serial, setID))
	}
	if ks.Status == inventory.KeySetVoid {
		return fail(ceremonies.RefusedForeign, fmt.Sprintf("card %s holds a share of key set %s, which was voided: it cannot rebuild any key", serial, setID))
	}
	// Every field the ceremony trusts is checked against the set: the
	// commitment covers the set id, the index and the share; the quorum
	// and the KCV are compared with what generation recorded.
	if rec.Threshold != ks.Threshold || rec.Shares != ks.Shares || !strings.EqualFold(hex.EncodeToString(rec.KCV[:]), ks.KCV) ||
		ks.Commitments[rec.Index] != Commitment(rec.KeySetID, rec.Index, rec.Share) {
		return fail(ceremonies.RefusedCorrupt, fmt.Sprintf("card %s: share %d does not match what was recorded when key set %s was generated (damaged or forged): use another card", serial, rec.Index, setID))
	}
	return ks, rec, nil
}

// rebuild combines the shares and checks the KCV before anything is loaded.
func (r *Runner) rebuild(ctx context.Context, ks inventory.KeySet) error {
	idx := make([]int, 0, len(r.shares))
	parts := make([][]byte, 0, len(r.shares))
	for i := range r.shares {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		parts = append(parts, r.shares[i].Bytes())
	}
	key, got, err := Combine(parts, ks.KCV)
	r.dropShares()
	if err != nil {
		if got == "" {
			return err
		}
		r.drv.Tell(err.Error() + "; the shares were discarded: read the cards again.")
		if rerr := r.inst.Record(ctx, events.SourceEngine, &events.KeyMismatch{KeySetID: ks.ID, ExpectedKCV: ks.KCV, GotKCV: got, Indexes: idx}); rerr != nil {
			return rerr
		}
		return r.inst.Record(ctx, events.SourceEngine, &events.SharesDiscarded{Reason: "the rebuilt key's KCV did not match the key set"})
	}
	r.key = key
	if err := r.inst.Record(ctx, events.SourceEngine, &events.KeyReconstructed{KeySetID: ks.ID, KCV: got, Indexes: idx}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Key rebuilt from shares %v: KCV %s matches key set %s.", idx, got, ks.ID))
	return nil
}

func (r *Runner) dropShares() {
	for i, s := range r.shares {
		s.Release()
		delete(r.shares, i)
	}
}

// load imports the rebuilt key into the HSM and checks the HSM's KCV.
func (r *Runner) load(ctx context.Context, st State) error {
	hsm := r.Station.HSM
	label := r.Label
	if label == "" {
		label = "backup-key-" + st.KeySetID[:8]
	}
	if err := r.inst.Record(ctx, events.SourceEngine, &events.HSMLoadRequested{HSM: hsm.Name(), KeySetID: st.KeySetID, KCV: st.KCV, Label: label}); err != nil {
		return err
	}
	kcv, already, err := hsm.ImportBackupKey(ctx, label, r.key.Bytes())
	r.key.Release()
	r.key = nil
	if err == nil && kcv != st.KCV {
		err = fmt.Errorf("the HSM reports KCV %s for the loaded key, the key set has %s", kcv, st.KCV)
	}
	if err != nil {
		msg := fmt.Sprintf("loading into %s: %v", hsm.Name(), err)
		if rerr := r.inst.Record(ctx, events.SourceHSM, &events.HSMLoadFailed{HSM: hsm.Name(), Error: msg}); rerr != nil {
			return rerr
		}
		r.drv.Tell(msg)
		return r.inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: msg, Recovery: "fix the HSM, then run a backup-key load ceremony with the cards of this set"})
	}
	if err := r.inst.Record(ctx, events.SourceHSM, &events.HSMKeyLoaded{HSM: hsm.Name(), KeySetID: st.KeySetID, KCV: kcv, Label: label, AlreadyPresent: already}); err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("Backup Key loaded into %s as %q (KCV %s).", hsm.Name(), label, kcv))
	return nil
}
