package ceremonies

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// DefaultPIN is the PIN of every slot of a card as delivered (the manual).
const DefaultPIN = "123456"

// DefaultStepTimeout is how long an operator step waits by default.
const DefaultStepTimeout = 5 * time.Minute

// Station is the hardware a ceremony runs on.
type Station struct {
	Pad         PinPad
	Reader      CardReader
	HSM         HSM
	Slots       Slots         // the PKCS#11 slot user cards stand for (Needs.Slots)
	StepTimeout time.Duration // 0: DefaultStepTimeout
	Witnesses   WitnessDesk   // nil: no sign-off can be taken at this station
	Approvals   ApprovalDesk  // nil: no dual-control approval can be taken here
	Script      *Scripted     // nil: the ceremony was not started from a script
	// Watch collects the reader's and the PC/SC service's losses the
	// reader's adapter sees while a step waits (nil: none are seen).
	Watch *ReaderWatch
	// Operator runs the ceremony at this station (the Driver sets it):
	// who acted when the pad names nobody (Actor).
	Operator string
}

// Actor names who acted at the station, for the events that record a
// person's action (ARCHITECTURE.md, "Console": every event the console
// records names the logged-in account): the account the pad says pressed
// or typed last (KeyAttributor: the web PIN pad), else the operator.
func (s *Station) Actor() string {
	if ka, ok := s.Pad.(KeyAttributor); ok {
		if who := ka.LastPressedBy(); who != "" {
			return who
		}
	}
	return s.Operator
}

// Timeout is the deadline of an operator step.
func (s *Station) Timeout() time.Duration {
	if s.StepTimeout <= 0 {
		return DefaultStepTimeout
	}
	return s.StepTimeout
}

// ErrPaused means the step's deadline passed: the engine recorded the
// timeout and the ceremony is paused until the operator retries or aborts.
var ErrPaused = errors.New("step timed out; the ceremony is paused")

// RefusedError means the card cannot be used for this step; the event is
// recorded and the operator is asked for another card.
type RefusedError struct {
	Serial  string
	Code    string
	Message string
	// Conflict is set when the card claims the serial of another card this
	// store knows (RefusedSerialConflict); RecordRefusal records it first.
	Conflict *events.SerialConflict
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("card %s refused (%s): %s", e.Serial, e.Code, e.Message)
}

// Refusal codes, stable for scripts and reports.
const (
	RefusedBlocked     = "pin-blocked"
	RefusedSameCard    = "same-card"
	RefusedForeign     = "foreign"
	RefusedCorrupt     = "corrupt"
	RefusedDuplicate   = "duplicate-share"
	RefusedEmpty       = "empty"
	RefusedLiveKept    = "live-share-kept"
	RefusedForeignKept = "foreign-share-kept"
	RefusedWriteFailed = "write-failed"
	RefusedLeased      = "in-use"
	RefusedNotEnrolled = "not-enrolled"
	RefusedKeptKey     = "user-key-kept"
	RefusedUserCard    = "user-card"
	RefusedWrongCard   = "wrong-card"

	// RefusedSerialConflict: the card holds a set this store never made,
	// under the serial of a card of this store that holds another share.
	RefusedSerialConflict = "serial-conflict"
)

// Refuse records the refusal and returns it as an error.
func Refuse(ctx context.Context, inst *engine.Instance, serial, code, msg string) error {
	if err := inst.Record(ctx, events.SourceEngine, &events.CardRefused{Serial: serial, Code: code, Message: msg}); err != nil {
		return err
	}
	return &RefusedError{Serial: serial, Code: code, Message: msg}
}

// RecordRefusal records a refusal found by a check (the serial conflict
// first, when there is one) and returns it as an error.
func RecordRefusal(ctx context.Context, inst *engine.Instance, refused *RefusedError) error {
	if refused.Conflict != nil {
		if err := inst.Record(ctx, events.SourceEngine, refused.Conflict); err != nil {
			return err
		}
	}
	return Refuse(ctx, inst, refused.Serial, refused.Code, refused.Message)
}

// stepErr turns a step context's end into ErrPaused when the deadline
// passed, or returns err.
func stepErr(sctx context.Context, err error) error {
	if errors.Is(context.Cause(sctx), engine.ErrStepTimedOut) {
		return ErrPaused
	}
	return err
}

// StepErr is what a kind's own step returns when it could not end: the
// step's context sctx (from BeginStep) ended by its deadline gives
// ErrPaused, anything else err.
func StepErr(sctx context.Context, err error) error { return stepErr(sctx, err) }

// Confirm shows two lines and waits for OK under a step deadline. Cancel
// returns ErrCancelled.
func Confirm(ctx context.Context, inst *engine.Instance, st *Station, step, line1, line2 string) error {
	sctx, err := inst.BeginStep(ctx, step, st.Timeout())
	if err != nil {
		return err
	}
	st.Pad.Show(line1, line2)
	ok, err := st.Pad.Confirm(sctx)
	if err != nil {
		return stepErr(sctx, err)
	}
	if err := inst.EndStep(ctx, step); err != nil {
		return stepErr(sctx, err)
	}
	if !ok {
		return ErrCancelled
	}
	return nil
}

// PresentCard prompts "Insert n. card", waits for OK and a card, records
// it and takes the card's lease.
func PresentCard(ctx context.Context, inst *engine.Instance, leases engine.Leaser, st *Station, n int) (Card, error) {
	step := fmt.Sprintf("insert card %d", n)
	sctx, err := inst.BeginStep(ctx, step, st.Timeout())
	if err != nil {
		return nil, err
	}
	st.Pad.Show(fmt.Sprintf("Insert %d. card", n), "press OK/Cancel")
	ok, err := st.Pad.Confirm(sctx)
	if err != nil {
		return nil, stepErr(sctx, err)
	}
	if !ok {
		return nil, ErrCancelled
	}
	card, err := st.Reader.WaitCard(sctx)
	if rerr := recordReaderEvents(ctx, inst, st); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, stepErr(sctx, err)
	}
	if err := inst.EndStep(ctx, step); err != nil {
		return nil, stepErr(sctx, err)
	}
	if err := inst.Record(ctx, events.SourceReader, &events.CardPresented{
		Reader: st.Reader.Name(), ReaderClass: st.Reader.Class(), Serial: card.Serial(), Slot: n,
	}); err != nil {
		return nil, err
	}
	if err := checkScriptedCard(ctx, inst, st, card.Serial()); err != nil {
		return nil, err
	}
	if err := leases.Acquire("card:"+card.Serial(), inst.ID()); err != nil {
		return nil, Refuse(ctx, inst, card.Serial(), RefusedLeased, err.Error())
	}
	return card, nil
}

// RemoveCard asks for the card to be taken out and waits for it, then
// releases its lease.
func RemoveCard(ctx context.Context, inst *engine.Instance, leases engine.Leaser, st *Station, card Card) error {
	if err := WaitRemoved(ctx, inst, st, "remove card "+card.Serial()); err != nil {
		return err
	}
	leases.Release("card:"+card.Serial(), inst.ID())
	return inst.Record(ctx, events.SourceReader, &events.CardRemoved{Reader: st.Reader.Name(), Serial: card.Serial()})
}

// WaitRemoved shows "Remove card" and waits, under a step deadline, until
// the reader is empty.
func WaitRemoved(ctx context.Context, inst *engine.Instance, st *Station, step string) error {
	sctx, err := inst.BeginStep(ctx, step, st.Timeout())
	if err != nil {
		return err
	}
	st.Pad.Show("Remove card", "")
	if err := st.Reader.WaitRemoved(sctx); err != nil {
		return stepErr(sctx, err)
	}
	if err := inst.EndStep(ctx, step); err != nil {
		return stepErr(sctx, err)
	}
	return nil
}

// VerifyPIN reads the retry counter (no try spent), shows it, announces the
// last try, reads the PIN on the PIN pad and presents it, until the card
// accepts it, the operator cancels, or the PIN is blocked (then the card
// is refused as unavailable). ARCHITECTURE.md, "Ceremony semantics".
func VerifyPIN(ctx context.Context, inst *engine.Instance, st *Station, card Card, slot Slot) error {
	serial, pinName := card.Serial(), card.PINName(slot)
	for {
		tries, err := card.PINTries(slot)
		if err != nil {
			return fmt.Errorf("card %s: read the %s retry counter: %w", serial, pinName, err)
		}
		if err := inst.Record(ctx, events.SourceCard, &events.PINRetriesRead{Serial: serial, PIN: pinName, TriesLeft: tries, LastTry: tries == 1}); err != nil {
			return err
		}
		if tries == 0 {
			return refuseBlocked(ctx, inst, serial, pinName)
		}
		line2 := TriesLeft(tries)
		if tries == 1 {
			line2 = "LAST TRY"
		}
		verr, isDefault, entry, err := enterAndVerify(ctx, inst, st, card, slot, serial, line2)
		if err != nil {
			return err
		}
		var wrong *WrongPINError
		switch {
		case verr == nil:
			return inst.Record(ctx, events.SourceCard, &events.PINVerified{Serial: serial, PIN: pinName, DefaultPIN: isDefault, Entry: entry, By: st.Actor()})
		case errors.Is(verr, ErrReaderTimeout):
			st.Pad.Show("No PIN typed", "on the reader")
		case errors.As(verr, &wrong):
			if err := inst.Record(ctx, events.SourceCard, &events.PINRejected{Serial: serial, PIN: pinName, TriesLeft: wrong.TriesLeft, Entry: entry, By: st.Actor()}); err != nil {
				return err
			}
			if wrong.TriesLeft == 0 {
				return refuseBlocked(ctx, inst, serial, pinName)
			}
			st.Pad.Show("Wrong PIN", TriesLeft(wrong.TriesLeft))
		case errors.Is(verr, ErrPINBlocked):
			return refuseBlocked(ctx, inst, serial, pinName)
		default:
			return verr // the port's error names the card and the operation
		}
	}
}

// enterAndVerify reads the PIN on the host's PIN pad port and presents
// it, or has a class-3 reader collect and present it (the PIN never
// reaches the host), under a step deadline. It returns the card's verdict
// (verr), whether the PIN was the factory default (host entry only),
// where it was typed, and err for a step that did not finish.
func enterAndVerify(ctx context.Context, inst *engine.Instance, st *Station, card Card, slot Slot, serial, line2 string) (verr error, isDefault bool, entry string, err error) {
	prompt := "Enter PIN"
	if slot == UserSlot {
		prompt = "Enter user PIN"
	}
	step := "enter PIN " + serial
	if rp, ok := card.(ReaderPINPad); ok && rp.HasReaderPINPad() {
		sctx, err := inst.BeginStep(ctx, step, st.Timeout())
		if err != nil {
			return nil, false, "", err
		}
		done := ShowReaderPIN(st.Pad, prompt, line2+", on the reader")
		verr = rp.VerifyPINOnReader(slot)
		done()
		if errors.Is(verr, ErrCancelled) {
			return nil, false, "", ErrCancelled
		}
		if err := inst.EndStep(ctx, step); err != nil {
			return nil, false, "", stepErr(sctx, err)
		}
		return verr, false, "reader", nil
	}
	pin, err := EnterPIN(ctx, inst, st, step, prompt, line2)
	if err != nil {
		return nil, false, "", err
	}
	defer Wipe(pin)
	return card.VerifyPIN(slot, pin), string(pin) == DefaultPIN, "host", nil
}

// EnterPIN reads a PIN on the PIN pad port under the step's persisted
// deadline (ErrPaused when it passed). The caller wipes the PIN.
func EnterPIN(ctx context.Context, inst *engine.Instance, st *Station, step, line1, line2 string) ([]byte, error) {
	sctx, err := inst.BeginStep(ctx, step, st.Timeout())
	if err != nil {
		return nil, err
	}
	pin, err := st.Pad.EnterPIN(sctx, line1, line2)
	if err != nil {
		return nil, stepErr(sctx, err)
	}
	if err := inst.EndStep(ctx, step); err != nil {
		Wipe(pin)
		return nil, stepErr(sctx, err)
	}
	return pin, nil
}

func refuseBlocked(ctx context.Context, inst *engine.Instance, serial, pinName string) error {
	if err := inst.Record(ctx, events.SourceCard, &events.CardBlocked{Serial: serial, PIN: pinName}); err != nil {
		return err
	}
	return Refuse(ctx, inst, serial, RefusedBlocked,
		fmt.Sprintf("the %s of card %s is blocked (no tries left): the card is unavailable; use another card of the set", pinName, serial))
}
