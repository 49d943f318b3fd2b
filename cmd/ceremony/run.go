package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// station flags shared by generate, load and resume.
type stationFlags struct {
	cardsDir string
	timeout  time.Duration
	operator string
	reader   string
	hsm      hsmFlags
}

func (s *stationFlags) register(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&s.cardsDir, "cards-dir", "ceremony-cards", "directory of the emulated card images (see 'ceremony emulated-cards')")
	fs.DurationVar(&s.timeout, "step-timeout", ceremonies.DefaultStepTimeout, "how long a step waits for the operator before the ceremony pauses")
	fs.StringVar(&s.operator, "operator", "", "name of the operator running the ceremony (recorded)")
	fs.StringVar(&s.reader, "reader", "", "a PC/SC reader name (see 'ceremony readers') instead of the emulated in-process reader")
	s.hsm.register(fs)
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

func cmdGenerate(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs, c := newFlags("generate", out)
	var sf stationFlags
	sf.register(fs)
	quorum := fs.String("quorum", "2-of-3", "quorum k-of-n: 2-of-3, 3-of-5, or a custom k-of-n (2 <= k <= n <= 16)")
	witnesses := fs.Int("witnesses", 0, "witness sign-offs required before the key is loaded (taken on the terminal)")
	id := fs.String("id", "", "ceremony id (default: gen-<random>)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	q, err := backupkey.ParseQuorum(*quorum)
	if err != nil {
		return usagef("--quorum: %v", err)
	}
	if sf.operator == "" {
		return usagef("--operator is required: the events record who ran the ceremony")
	}
	if *witnesses < 0 || *witnesses > 9 {
		return usagef("--witnesses %d: give 0 to 9", *witnesses)
	}
	if *id == "" {
		*id = "gen-" + engine.RandomID()[:8]
	}
	b, err := sf.openBench(ctx, c, in, out, true)
	if err != nil {
		return err
	}
	defer b.close()
	station, h, a := b.station, b.hand, b.app
	inst, err := a.eng.Start(ctx, backupkey.KindGenerate, *id, events.SourceOperator, &events.GenerateStarted{
		Operator: sf.operator, Threshold: q.Threshold, Shares: q.Shares, Reader: station.Reader.Name(), HSM: station.HSM.Name(),
	})
	if err != nil {
		return err
	}
	if err := requireWitnesses(ctx, inst, *witnesses); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s started (%s).\n", inst.ID(), q)
	runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out)}
	return drive(ctx, inst, h, out, runner.Run)
}

func cmdLoad(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs, c := newFlags("load", out)
	var sf stationFlags
	sf.register(fs)
	keySet := fs.String("key-set", "", "key set id to load (default: the set of the first card read)")
	witnesses := fs.Int("witnesses", 0, "witness sign-offs required before the key is loaded (taken on the terminal)")
	id := fs.String("id", "", "ceremony id (default: load-<random>)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if sf.operator == "" {
		return usagef("--operator is required: the events record who ran the ceremony")
	}
	if *witnesses < 0 || *witnesses > 9 {
		return usagef("--witnesses %d: give 0 to 9", *witnesses)
	}
	if *id == "" {
		*id = "load-" + engine.RandomID()[:8]
	}
	b, err := sf.openBench(ctx, c, in, out, true)
	if err != nil {
		return err
	}
	defer b.close()
	station, h, a := b.station, b.hand, b.app
	if *keySet != "" {
		if _, ok := a.eng.KeySet(*keySet); !ok {
			return usagef("--key-set %s: no such key set in this event store ('ceremony cards' lists the sets cards hold)", *keySet)
		}
	}
	inst, err := a.eng.Start(ctx, backupkey.KindLoad, *id, events.SourceOperator, &events.LoadStarted{
		Operator: sf.operator, KeySetID: *keySet, Reader: station.Reader.Name(), HSM: station.HSM.Name(),
	})
	if err != nil {
		return err
	}
	if err := requireWitnesses(ctx, inst, *witnesses); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s started.\n", inst.ID())
	runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out)}
	return drive(ctx, inst, h, out, runner.Run)
}

func cmdResume(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs, c := newFlags("resume", out)
	var sf stationFlags
	sf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	a, inst, err := c.openCeremony(ctx, out, "resume", pos)
	if err != nil {
		return err
	}
	defer a.close()
	if inst.Ended() {
		fmt.Fprintf(out, "Ceremony %s has ended (%s): nothing to resume.\n", inst.ID(), inst.Phase())
		return outcome(inst)
	}
	switch inst.Kind() {
	case hsmbackup.KindBackup, hsmbackup.KindRestore:
		return resumeHSMBackup(ctx, inst, out)
	case usercard.KindEnrol, usercard.KindActivate, pinchange.Kind, sharecopy.Kind:
		return resumeCard(ctx, a, inst, &sf, in, out)
	}
	station, h, closeHSM, err := sf.interactive(ctx, in, out)
	if err != nil {
		return err
	}
	defer closeHSM()
	fmt.Fprintf(out, "Resuming ceremony %s (%s) in phase %s.\n", inst.ID(), inst.Kind(), inst.Phase())
	runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out), Resumed: true}
	return drive(ctx, inst, h, out, runner.Run)
}

// resumeHSMBackup ends an interrupted backup or restore: neither holds a
// secret worth continuing from, so the record says to run it again.
func resumeHSMBackup(ctx context.Context, inst *engine.Instance, out io.Writer) error {
	var pending string
	inst.View(func(s engine.State) { pending = s.(*hsmbackup.State).Pending })
	reason := "interrupted before it finished"
	recovery := "run it again; a backup file is written only at the end, so none is half-written"
	if inst.Kind() == hsmbackup.KindRestore {
		recovery = "run the restore again: keys already restored are refused as existing and left as they are"
		if pending != "" {
			reason = fmt.Sprintf("interrupted while unwrapping key %q: look for it on the token", pending)
		}
	}
	if err := inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s ended: %s; %s.\n", inst.ID(), reason, recovery)
	return outcome(inst)
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
