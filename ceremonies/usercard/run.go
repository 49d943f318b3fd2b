package usercard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Runner drives one enrol or activate ceremony. Not safe for concurrent use.
type Runner struct {
	ceremonies.Env // Env.Credential: what enrol seals (the slot's user PIN), wiped by Run

	slots   ceremonies.Slots
	inst    *engine.Instance
	drv     *ceremonies.Driver
	session io.Closer
}

// Run drives inst until it ends or an error needs a person.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) error {
	defer ceremonies.Wipe(r.Credential)
	r.slots = r.Station.Slots
	if r.slots == nil {
		return fmt.Errorf("usercard: ceremony %s needs a PKCS#11 slot (--hsm pkcs11 --pkcs11-token ...)", inst.ID())
	}
	st, err := ceremonies.StateOf(inst, func(s *State) State { return *s })
	if err != nil {
		return err
	}
	operator, slot := st.Operator, st.Slot
	if slot != r.slots.Name() {
		return fmt.Errorf("usercard: ceremony %s is for %s, not %s: name the slot as when it started", inst.ID(), slot, r.slots.Name())
	}
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: ceremonies.OperatorOf(r.Env, operator), Say: r.Say}
	if ph := inst.Phase(); r.Resumed && (ph == PhaseCreated || ph == engine.PausedPhase(PhaseCreated)) {
		if err := r.drv.Resumed(ctx, nil); err != nil {
			return err
		}
	}
	leases := r.Engine.Leases()
	defer leases.ReleaseAll(inst.ID())
	defer r.logout(context.WithoutCancel(ctx), "")
	for _, res := range []string{"reader:" + r.Station.Reader.Name(), "slot:" + r.slots.Name()} {
		if err := leases.Acquire(res, inst.ID()); err != nil {
			return err
		}
	}
	begin := r.activate
	if inst.Kind() == KindEnrol {
		begin = r.enrol
	}
	// The sign-offs come before the card or the slot is touched.
	start := func(ctx context.Context) error {
		if err := r.drv.RequireWitnesses(ctx); err != nil {
			return err
		}
		return begin(ctx)
	}
	return r.drv.Loop(ctx, ceremonies.Steps{PhaseCreated: start, PhaseActive: r.hold})
}

func (r *Runner) fail(ctx context.Context, reason, recovery string) error {
	r.drv.Tell(reason + "; " + recovery)
	return r.inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery})
}

// enrol: the credential is checked against the slot before any card is
// touched, then sealed to a key the card makes, written, unsealed by the
// card and checked again.
func (r *Runner) enrol(ctx context.Context) error {
	slot := r.slots.Name()
	if len(r.Credential) == 0 {
		return r.fail(ctx, "the slot credential was held in memory only and is gone (the process stopped)", "resume with the credential given again (--pkcs11-pin-file or --pkcs11-pin-env), or start a new enrol")
	}
	sess, err := r.slots.Login(ctx, bytes.Clone(r.Credential))
	if err != nil {
		return r.fail(ctx, fmt.Sprintf("the credential does not log into %s: %v", slot, err), "check the credential, then enrol again; no card was touched")
	}
	sess.Close()
	card, err := ceremonies.PresentCard(ctx, r.inst, r.Engine.Leases(), r.Station, 1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.BackupSlot); err != nil {
		return err
	}
	if _, err := card.UserPublicKey(); err == nil {
		r.drv.Tell(fmt.Sprintf("Card %s already has a user key: a new one makes what it holds unreadable.", serial))
		r.Station.Pad.Show("Replace user key?", "OK/Cancel")
		ok, err := r.Station.Pad.Confirm(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedKeptKey, fmt.Sprintf("card %s keeps its user key: insert another card", serial))
		}
	} else if !errors.Is(err, ceremonies.ErrNoData) {
		return err
	}
	point, err := card.GenerateUserKey()
	if err != nil {
		return err
	}
	fpr := Fingerprint(point)
	if err := r.inst.Record(ctx, events.SourceCard, &events.UserKeyGenerated{Serial: serial, KeyFingerprint: fpr}); err != nil {
		return err
	}
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.UserSlot); err != nil {
		return err
	}
	sealed, err := Seal(r.Rand, point, serial, slot, r.Credential)
	if err != nil {
		return err
	}
	if err := r.inst.Record(ctx, events.SourceEngine, &events.UserCredentialWriteRequested{Serial: serial, Slot: slot}); err != nil {
		return err
	}
	if err := card.WriteCredential(sealed); err != nil {
		if errors.Is(err, ceremonies.ErrCardRemoved) {
			return err // pulled mid-write: the card is asked for again and enrolled anew
		}
		return r.fail(ctx, fmt.Sprintf("writing the credential to card %s: %v", serial, err), "enrol the card again")
	}
	// Check what the card holds, unsealed by the card itself.
	back, err := card.ReadCredential()
	if err != nil {
		return r.fail(ctx, fmt.Sprintf("reading back card %s: %v", serial, err), "enrol the card again")
	}
	parsed, err := Parse(back)
	var cred []byte
	if err == nil {
		cred, err = parsed.Unseal(serial, card.Decipher)
	}
	if err == nil && !bytes.Equal(cred, r.Credential) {
		err = errors.New("the card returned another credential")
	}
	if err == nil {
		var s io.Closer
		if s, err = r.slots.Login(ctx, cred); err == nil {
			s.Close()
		}
	}
	ceremonies.Wipe(cred)
	if err != nil {
		return r.fail(ctx, fmt.Sprintf("card %s: the written credential does not check: %v", serial, err), "enrol the card again")
	}
	r.drv.Tell(fmt.Sprintf("Card %s enrolled for %s (card key %s...).", serial, slot, fpr[:16]))
	return r.inst.Record(ctx, events.SourceEngine, &events.UserEnrolled{Serial: serial, Slot: slot, KeyFingerprint: fpr})
}

// activate: card + user PIN -> the card unseals the credential -> login.
func (r *Runner) activate(ctx context.Context) error {
	slot := r.slots.Name()
	card, err := ceremonies.PresentCard(ctx, r.inst, r.Engine.Leases(), r.Station, 1)
	if err != nil {
		return err
	}
	serial := card.Serial()
	if err := ceremonies.VerifyPIN(ctx, r.inst, r.Station, card, ceremonies.UserSlot); err != nil {
		return err
	}
	sealed, err := card.ReadCredential()
	if errors.Is(err, ceremonies.ErrNoData) {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedNotEnrolled, fmt.Sprintf("card %s holds no slot credential: enrol it first", serial))
	}
	if err != nil {
		return err
	}
	parsed, err := Parse(sealed)
	if err != nil {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedCorrupt, fmt.Sprintf("card %s: %v; enrol it again", serial, err))
	}
	if parsed.Slot != slot {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedForeign, fmt.Sprintf("card %s is enrolled for %s, not %s", serial, parsed.Slot, slot))
	}
	cred, err := parsed.Unseal(serial, card.Decipher)
	if err != nil {
		return ceremonies.Refuse(ctx, r.inst, serial, ceremonies.RefusedCorrupt, fmt.Sprintf(
			"card %s cannot unseal the credential it holds: it was sealed to another card's key (user cards cannot be copied: the key never leaves the original card) or it is damaged; enrol this card", serial))
	}
	sess, err := r.slots.Login(ctx, cred)
	ceremonies.Wipe(cred)
	if err != nil {
		return r.fail(ctx, fmt.Sprintf("%s refused the credential of card %s: %v", slot, serial, err), "the slot's PIN may have changed: enrol the card again")
	}
	r.session = sess
	r.drv.Tell(fmt.Sprintf("%s is active (card %s).", slot, serial))
	return r.inst.Record(ctx, events.SourceHSM, &events.UserSlotActivated{Serial: serial, Slot: slot})
}

// hold keeps the slot active until the operator deactivates it.
func (r *Runner) hold(ctx context.Context) error {
	if r.session == nil {
		return r.logout(ctx, "the process that held the login stopped; the login ended with it")
	}
	r.Station.Pad.Show("Slot active", "OK=deactivate")
	if _, err := r.Station.Pad.Confirm(ctx); err != nil {
		return err
	}
	return r.logout(ctx, "deactivated on the PIN pad")
}

// logout closes the session and, with a reason, records the deactivation.
func (r *Runner) logout(ctx context.Context, reason string) error {
	if r.session != nil {
		r.session.Close()
		r.session = nil
	}
	if reason == "" || r.inst.Phase() != PhaseActive {
		return nil
	}
	serial, err := ceremonies.StateOf(r.inst, func(s *State) string { return s.Serial })
	if err != nil {
		return err
	}
	r.drv.Tell(fmt.Sprintf("%s deactivated: %s.", r.slots.Name(), reason))
	return r.inst.Record(ctx, events.SourceOperator, &events.UserSlotDeactivated{Serial: serial, Slot: r.slots.Name(), Reason: reason})
}
