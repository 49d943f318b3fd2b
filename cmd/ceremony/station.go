package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
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

// stationNeeds says which station flags a command takes beside
// --cards-dir, --reader and --step-timeout.
type stationNeeds int

const (
	needsHSM      stationNeeds = 1 << iota // the --hsm flags: an HSM or a PKCS#11 slot (pin change and copy use neither)
	needsOperator                          // --operator: who starts the ceremony (resume starts none)
)

// register adds the station flags a command needs.
func (s *stationFlags) register(fs *pflag.FlagSet, needs stationNeeds) {
	fs.StringVar(&s.cardsDir, "cards-dir", "ceremony-cards", "directory of the emulated card images (see 'ceremony emulated-cards')")
	fs.DurationVar(&s.timeout, "step-timeout", ceremonies.DefaultStepTimeout, "how long a step waits for the operator before the ceremony pauses")
	if needs&needsOperator != 0 {
		fs.StringVar(&s.operator, "operator", "", "name of the operator running the ceremony (recorded; required)")
	}
	fs.StringVar(&s.reader, "reader", "", "a PC/SC reader name (see 'ceremony readers') instead of the emulated in-process reader")
	if needs&needsHSM != 0 {
		s.hsm.register(fs)
	} else {
		s.hsm.kind = "soft"
	}
}

// interactive builds a station on the terminal: the operator types which
// emulated card goes into the reader, and uses the terminal as PIN pad.
// The caller calls the returned close function when done.
func (s *stationFlags) interactive(ctx context.Context, in io.Reader, out io.Writer) (*ceremonies.Station, *rehearsal.Hand, func(), error) {
	return s.station(ctx, in, out, true)
}

// station builds the interactive station; withHSM opens the HSM of the
// --hsm flags (the user-card and PIN commands use none).
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
		slot.Waiting = func(err error) {
			if err != nil {
				fmt.Fprintf(out, "  (%v; waiting for it until the step's deadline)\n", err)
			} else {
				fmt.Fprintln(out, "  (the reader is back)")
			}
		}
		port := opgpcard.NewReader(slot, "host-pinpad")
		return &ceremonies.Station{Pad: term, Reader: port, HSM: hsm, StepTimeout: s.timeout, Witnesses: terminalDesk{term}}, nil, func() { closeHSM(); slot.Close() }, nil
	}
	reader, port := rehearsal.NewReader("Emulated cyberJack e-com 00")
	h := &rehearsal.Hand{Reader: reader, Card: box.get, Log: out}
	h.Choose = func(int) (string, error) {
		return term.Ask(ctx, fmt.Sprintf("  Which card goes into the reader? (%v; Enter keeps the card in it): ", box.names()))
	}
	pad := &handPad{PinPad: term, hand: h}
	return &ceremonies.Station{Pad: pad, Reader: port, HSM: hsm, StepTimeout: s.timeout, Witnesses: terminalDesk{term}}, h, closeHSM, nil
}

// terminalDesk takes witness sign-offs on the terminal.
type terminalDesk struct{ t *pinpad.Terminal }

func (d terminalDesk) AskWitness(ctx context.Context, n, of int) (string, string, error) {
	name, err := d.t.Ask(ctx, fmt.Sprintf("  Witness %d of %d, name: ", n, of))
	if err != nil {
		return "", "", err
	}
	role, err := d.t.Ask(ctx, "  Witness role (e.g. auditor): ")
	return name, role, err
}

// requireWitnesses records that the ceremony needs n sign-offs.
func requireWitnesses(ctx context.Context, inst *engine.Instance, n int) error {
	if n == 0 {
		return nil
	}
	return inst.Record(ctx, events.SourceOperator, &events.WitnessesRequired{Count: n})
}

// bench is an open station and event store for one ceremony command.
type bench struct {
	station *ceremonies.Station
	hand    *rehearsal.Hand
	app     *app
	close   func()
}

// openBench opens the station (with the HSM of the flags when withHSM)
// and then the event store.
func (s *stationFlags) openBench(ctx context.Context, c *common, in io.Reader, out io.Writer, withHSM bool) (*bench, error) {
	station, h, closeHSM, err := s.station(ctx, in, out, withHSM)
	if err != nil {
		return nil, err
	}
	a, err := c.open(ctx, out)
	if err != nil {
		closeHSM()
		return nil, err
	}
	return &bench{station: station, hand: h, app: a, close: func() { a.close(); closeHSM() }}, nil
}

// handPad lets the hand react to each display change before the pad waits.
type handPad struct {
	ceremonies.PinPad
	hand *rehearsal.Hand
}

func (p *handPad) Show(line1, line2 string) {
	p.PinPad.Show(line1, line2)
	p.hand.OnShow(line1, line2)
}

// drive runs a ceremony's runner and turns its end into an exit code.
func drive(ctx context.Context, inst *engine.Instance, h *rehearsal.Hand, out io.Writer, run func(context.Context, *engine.Instance) error) error {
	if err := run(ctx, inst); err != nil {
		if h != nil && h.Err() != nil {
			err = fmt.Errorf("%w (and the card hand: %v)", err, h.Err())
		}
		return fmt.Errorf("ceremony %s stopped in phase %s: %w; 'ceremony resume %s' continues it", inst.ID(), inst.Phase(), err, inst.ID())
	}
	fmt.Fprintf(out, "Ceremony %s: %s.\n", inst.ID(), inst.Phase())
	return outcome(inst)
}

// sayTo prints what a ceremony says to the operator.
func sayTo(out io.Writer) func(string) {
	return func(s string) { fmt.Fprintf(out, "  > %s\n", s) }
}
