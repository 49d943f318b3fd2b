package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/pflag"
)

// stationFlags are the flags of the commands that run a ceremony at the
// operator's station: generate, load, resume, user, pin change, copy.
type stationFlags struct {
	cardsDir string
	timeout  time.Duration
	operator string
	reader   string
	hsm      hsmFlags
}

// register adds the station flags of a kind's needs; withOperator adds
// --operator.
func (s *stationFlags) register(fs *pflag.FlagSet, needs ceremonies.Needs, withOperator bool) {
	if needs.Cards {
		fs.StringVar(&s.cardsDir, "cards-dir", "ceremony-cards", "directory of the emulated card images (see 'ceremony emulated-cards')")
		fs.DurationVar(&s.timeout, "step-timeout", ceremonies.DefaultStepTimeout, "how long a step waits for the operator before the ceremony pauses")
		fs.StringVar(&s.reader, "reader", "", "a PC/SC reader name (see 'ceremony readers') instead of the emulated in-process reader")
	}
	if withOperator {
		fs.StringVar(&s.operator, "operator", "", "name of the operator running the ceremony (recorded; required)")
	}
	if needs.HSM || needs.Slots {
		s.hsm.register(fs)
	} else {
		s.hsm.kind = "soft"
	}
}

// allNeeds is every port any kind needs: resume takes their flags, since
// the ceremony's kind is known only once the store is open.
func allNeeds() ceremonies.Needs {
	var n ceremonies.Needs
	for _, k := range kinds.List() {
		n.Cards = n.Cards || k.Needs.Cards
		n.HSM = n.HSM || k.Needs.HSM
		n.Slots = n.Slots || k.Needs.Slots
		n.Credential = n.Credential || k.Needs.Credential
	}
	return n
}

// station builds a station on the terminal: the operator types which
// emulated card goes into the reader (or inserts cards into a PC/SC
// reader), and uses the terminal as PIN pad; withHSM opens the HSM of the
// --hsm flags. The caller calls the returned close function when done.
func (s *stationFlags) station(ctx context.Context, in io.Reader, out io.Writer, withHSM bool) (*ceremonies.Station, *rehearsal.Hand, func(), error) {
	if s.timeout <= 0 {
		return nil, nil, nil, usagef("--step-timeout %v: give a positive duration, e.g. 5m", s.timeout)
	}
	box := newCardBox(s.cardsDir)
	if s.reader == "" && len(box.names()) == 0 {
		return nil, nil, nil, usagef("no emulated cards in %s: create some with 'ceremony emulated-cards --cards-dir %s --create 3', or use a PC/SC reader with --reader", s.cardsDir, s.cardsDir)
	}
	term := pinpad.NewTerminal(in, out)
	var hsm ceremonies.HSM
	closeHSM := func() {}
	if withHSM {
		var err error
		if hsm, closeHSM, err = s.hsm.open(ctx, term); err != nil {
			return nil, nil, nil, err
		}
	}
	if s.reader != "" {
		// A PC/SC reader: the operator (or 'ceremony card-emulator')
		// inserts the cards; PINs are typed on the terminal.
		slot := pcsc.NewSlot(s.reader)
		watch := &ceremonies.ReaderWatch{} // recorded as card.reader_event
		slot.Waiting = func(err error) {
			if err != nil {
				fmt.Fprintf(out, "  (%v; waiting for it until the step's deadline)\n", err)
				what := events.ReaderLost
				if errors.Is(err, pcsc.ErrNoService) {
					what = events.ServiceLost
				}
				watch.Away(what, s.reader, err.Error())
			} else {
				fmt.Fprintln(out, "  (the reader is back)")
				watch.Back(s.reader)
			}
		}
		port := opgpcard.NewReader(slot, "host-pinpad")
		return &ceremonies.Station{Pad: term, Reader: port, HSM: hsm, StepTimeout: s.timeout, Witnesses: &terminalDesk{t: term}, Watch: watch}, nil, func() { closeHSM(); slot.Close() }, nil
	}
	reader, port := rehearsal.NewReader("Emulated cyberJack e-com 00")
	h := &rehearsal.Hand{Reader: reader, Card: box.get, Log: out}
	pad := &handPad{PinPad: term, hand: h}
	h.Choose = func(int) (string, error) { return pad.chooseCard(term, box, reader, out) }
	return &ceremonies.Station{Pad: pad, Reader: port, HSM: hsm, StepTimeout: s.timeout, Witnesses: &terminalDesk{t: term}}, h, closeHSM, nil
}

// bench is an open station for one ceremony command, and the store it
// records in (app, set by the caller).
type bench struct {
	station    *ceremonies.Station
	hand       *rehearsal.Hand
	app        *app
	credential []byte // the slot credential a user-card enrolment seals
	operator   string // --operator: who runs this process
	closeHW    func()
}

// close closes the hardware and wipes the credential.
func (b *bench) close() {
	b.closeHW()
	ceremonies.Wipe(b.credential)
}

// credentialRule says whether a command must be given the slot credential.
type credentialRule int

const (
	credentialRequired credentialRule = iota // starting an enrolment
	credentialIfGiven                        // resuming one: it was held in memory only
)

// openBench opens what a kind needs (ceremonies.Needs): the station with
// its HSM or PKCS#11 slot, and the slot credential.
func (s *stationFlags) openBench(ctx context.Context, needs ceremonies.Needs, rule credentialRule, in io.Reader, out io.Writer) (*bench, error) {
	var slots ceremonies.Slots
	if needs.Slots {
		ps, err := s.hsm.slots()
		if err != nil {
			return nil, err
		}
		slots = ps
	}
	var credential []byte
	given := s.hsm.pinFile != "" || s.hsm.pinEnv != ""
	switch {
	case needs.Credential && (rule == credentialRequired || given):
		var err error
		if credential, err = s.hsm.readCredential(); err != nil {
			return nil, err
		}
	case needs.Slots && !needs.Credential && given:
		return nil, usagef("this ceremony takes no PIN source: the card holds the slot credential")
	}
	station, h, closeHSM := &ceremonies.Station{}, (*rehearsal.Hand)(nil), func() {}
	if needs.Cards {
		var err error
		if station, h, closeHSM, err = s.station(ctx, in, out, needs.HSM); err != nil {
			ceremonies.Wipe(credential)
			return nil, err
		}
	}
	station.Slots = slots
	return &bench{station: station, hand: h, credential: credential, operator: s.operator, closeHW: closeHSM}, nil
}

// runKind builds the kind's runner on the bench and drives inst to its
// end.
func (b *bench) runKind(ctx context.Context, k ceremonies.Kind, inst *engine.Instance, resumed bool, out io.Writer) error {
	// The runner lease, held for the whole run: no other process or node
	// drives this ceremony meanwhile, and losing it stops the run.
	return engine.HoldRunner(ctx, b.app.eng.Leases(), inst.ID(), func(ctx context.Context) error {
		return b.runHeld(ctx, k, inst, resumed, out)
	})
}

// runHeld is runKind with the runner lease held.
func (b *bench) runHeld(ctx context.Context, k ceremonies.Kind, inst *engine.Instance, resumed bool, out io.Writer) error {
	if err := b.app.useHSMAuditKey(ctx, b.station.HSM, out); err != nil {
		fmt.Fprintf(out, "WARNING: checkpoints: %v\n", err)
	}
	script, err := scriptOf(ctx, b.app, inst.ID())
	if err != nil {
		return err
	}
	b.station.Script = script
	runner, err := k.NewRunner(ceremonies.Env{
		Engine: b.app.eng, Inventory: b.app.views.Inventory, Station: b.station, Rand: rand.Reader,
		Say: sayTo(out), Resumed: resumed, Credential: b.credential, Operator: b.operator,
	})
	if err != nil {
		return err
	}
	err = drive(ctx, inst, b.hand, out, runner.Run)
	b.app.checkpoint(ctx, out, "end of ceremony "+inst.ID())
	b.cosignDesk(ctx, out, inst.ID())
	if outcome(inst) == nil {
		b.app.backupAfter(ctx, out)
	}
	return err
}

// handPad lets the hand react to each display change before the pad
// waits. At "Insert n. card" the operator names the emulated card when
// the pad waits for OK, under the step's deadline; c there is Cancel.
type handPad struct {
	ceremonies.PinPad
	hand *rehearsal.Hand

	insert       [2]string       // an "Insert n. card" display the hand has not seen
	stepCtx      context.Context // the waiting step's context, while the card is chosen
	cancelChosen bool            // c typed at the card question
}

func (p *handPad) Show(line1, line2 string) {
	p.PinPad.Show(line1, line2)
	if strings.HasPrefix(line1, "Insert ") {
		p.insert = [2]string{line1, line2}
		return
	}
	p.insert = [2]string{}
	p.hand.OnShow(line1, line2)
}

// Confirm asks for the card first when the display says "Insert n. card".
func (p *handPad) Confirm(ctx context.Context) (bool, error) {
	if p.insert[0] != "" {
		l := p.insert
		p.insert, p.stepCtx = [2]string{}, ctx
		p.hand.OnShow(l[0], l[1])
		p.stepCtx = nil
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if p.cancelChosen {
			p.cancelChosen = false
			return false, nil
		}
	}
	return p.PinPad.Confirm(ctx)
}

// chooseCard asks which emulated card goes into the reader until the
// answer is a card, Enter with a card in the reader (it stays), or c
// (Cancel). It waits under the step's deadline.
func (p *handPad) chooseCard(term *pinpad.Terminal, box *cardBox, reader *cardemu.Reader, out io.Writer) (string, error) {
	ctx := p.stepCtx
	if ctx == nil {
		ctx = context.Background()
	}
	names := box.names()
	for {
		ans, err := term.Ask(ctx, fmt.Sprintf("  Which card goes into the reader? (%s; Enter keeps the card in it; c = Cancel): ", strings.Join(names, ", ")))
		if err != nil {
			return "", nil // the step's deadline: Confirm reports it
		}
		switch {
		case strings.EqualFold(ans, "c"):
			p.cancelChosen = true
			return "", nil
		case ans == "" && reader.Card() != nil:
			return "", nil
		case ans == "":
			fmt.Fprintf(out, "  The reader is empty: type one of %s, or c to cancel.\n", strings.Join(names, ", "))
		case slices.Contains(names, ans):
			return ans, nil
		default:
			fmt.Fprintf(out, "  No card %s: type one of %s, or c to cancel.\n", pinpad.Quote(ans), strings.Join(names, ", "))
		}
	}
}

// drive runs a ceremony's runner and turns its end into an exit code.
func drive(ctx context.Context, inst *engine.Instance, h *rehearsal.Hand, out io.Writer, run func(context.Context, *engine.Instance) error) error {
	if err := engine.LostLeaseOr(ctx, run(ctx, inst)); err != nil {
		if h != nil && h.Err() != nil {
			err = fmt.Errorf("%w (and the card hand: %v)", err, h.Err())
		}
		return fmt.Errorf("ceremony %s stopped in phase %s: %w; %s", inst.ID(), inst.Phase(), err, resumeHint(inst.ID()))
	}
	fmt.Fprintf(out, "Ceremony %s: %s.\n", inst.ID(), inst.Phase())
	return outcome(inst)
}

// sayTo prints what a ceremony says to the operator.
func sayTo(out io.Writer) func(string) {
	return func(s string) { fmt.Fprintf(out, "  > %s\n", s) }
}
