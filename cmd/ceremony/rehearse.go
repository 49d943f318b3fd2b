package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// rehearsalPINs are the PINs of the rehearsal cards card1..card5.
var rehearsalPINs = []string{"31415926", "27182818", "16180339", "14142135", "17320508"}

// killingStore SIGKILLs this process right after its n-th acknowledged
// append: a crash rehearsal at an exact event.
type killingStore struct {
	events.Store
	n, after int
}

func (k *killingStore) Append(ctx context.Context, id, eventID string, expected uint64, data []byte) (uint64, error) {
	seq, err := k.Store.Append(ctx, id, eventID, expected, data)
	if err == nil {
		k.n++
		if k.n == k.after {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	return seq, err
}

// newRehearseCmd runs a ceremony with a simulated operator who answers
// every prompt, optionally killing itself with SIGKILL right after its
// n-th event (--kill-after), or resumes one (--resume). For rehearsals,
// drills and the crash matrix test; not for real ceremonies.
func newRehearseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rehearse",
		Short: "A ceremony of any kind driven by a simulated operator on emulated cards, with --kill-after and --tear-write for drills",
		Long: `Run a ceremony of any kind (--kind) with a simulated operator who answers
every prompt with the right card and PIN, on emulated cards made in
--cards-dir if missing (card1..cardN, fixed rehearsal PINs) and an
in-memory software HSM (a user card's enrol and activate use the slot of
--hsm pkcs11). For rehearsals and drills, never for real keys:

    --kill-after N   SIGKILL this process right after its N-th acknowledged
                     event, as a power cut would; then run it again with
                     --resume (and 'ceremony health') to see the recovery.
    --tear-write N   pull the card in the middle of the N-th write to a
                     card (a torn write): the ceremony must refuse the
                     card for that write and rewrite it.

--data-dir has no default here, so that a drill never writes into the
ceremonies' event store: give a directory of its own. The crash matrix
test (testdata/crash-matrix) is made with this command.`,
		Example: `  ceremony rehearse --data-dir drill/data --cards-dir drill/cards --kill-after 7
  ceremony rehearse --data-dir drill/data --cards-dir drill/cards --resume
  ceremony health --data-dir drill/data`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	dataDir := fs.String("data-dir", "", "event store directory for the rehearsal (required; never the ceremonies' store)")
	cardsDir := fs.String("cards-dir", "", "rehearsal cards directory (made if missing; required)")
	id := fs.String("id", "rehearsal", "ceremony id")
	quorum := fs.String("quorum", "2-of-3", "quorum k-of-n, at most 5 cards")
	killAfter := fs.Int("kill-after", 0, "SIGKILL this process right after its n-th acknowledged event (0: never)")
	resume := fs.Bool("resume", false, "resume the ceremony --id instead of starting it")
	kind := fs.String("kind", "generate", "generate; load (of the key set the cards hold); copy (card1's share onto a spare card); pin (change card1's backup PIN); enrol or activate (a user card for the --hsm pkcs11 slot)")
	tear := fs.Int("tear-write", 0, "pull the card in the middle of the n-th share write (a torn write; 0: never)")
	var hf hsmFlags
	hf.register(fs) // enrol and activate: the PKCS#11 slot (and, for enrol, its user PIN)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		q, err := backupkey.ParseQuorum(*quorum)
		if err != nil || q.Shares > len(rehearsalPINs) {
			return usagef("--quorum %q: a rehearsal has at most %d cards", *quorum, len(rehearsalPINs))
		}
		if *dataDir == "" || *cardsDir == "" {
			return usagef("--data-dir and --cards-dir are required")
		}
		if !slices.Contains([]string{"generate", "load", "copy", "pin", "enrol", "activate"}, *kind) {
			return usagef("--kind %q: generate, load, copy, pin, enrol or activate", *kind)
		}
		cards := map[string]*cardemu.Card{}
		pins := map[string]string{}
		var names []string
		ncards := q.Shares
		if *kind == "copy" {
			ncards++ // a spare card to copy to
		}
		for i := 0; i < ncards; i++ {
			name := fmt.Sprintf("card%d", i+1)
			path := filepath.Join(*cardsDir, name+".img")
			c, err := cardemu.Open(path)
			if err != nil {
				if err := os.MkdirAll(*cardsDir, 0o700); err != nil {
					return err
				}
				pin := []byte(rehearsalPINs[i])
				if c, err = cardemu.Create(path, cardemu.Options{Serial: uint32(0x5001 + i), PW1: pin, PW3: pin}); err != nil {
					return err
				}
			}
			cards[name], pins[c.Serial()] = c, rehearsalPINs[i]
			names = append(names, name)
		}
		sort.Strings(names)

		st, err := jetstream.Open(ctx, jetstream.Config{DataDir: *dataDir})
		if err != nil {
			return err
		}
		defer st.Close()
		var store events.Store = st
		if *killAfter > 0 {
			store = &killingStore{Store: st, after: *killAfter}
		}
		eng, err := engine.New(engine.Config{Store: store, Registry: events.DefaultRegistry(), Definitions: kinds.Definitions()})
		if err != nil {
			return err
		}
		if err := eng.Open(ctx); err != nil {
			return err
		}
		defer eng.Close()

		reader, port := rehearsal.NewReader("Rehearsal reader")
		hand := &rehearsal.Hand{Reader: reader, Card: rehearsal.CardsBySerial(cards), Log: out}
		op := &rehearsal.Operator{Hand: hand, PINs: pins, NewPIN: rehearsalNewPIN, Out: out}
		station := &ceremonies.Station{Pad: op, Reader: port, HSM: memhsm.New("rehearsal-hsm"), StepTimeout: time.Minute}

		var inst *engine.Instance
		writes := 0
		hand.Choose = func(int) (string, error) {
			name, err := nextCard(eng, inst, cards, names)
			// The card that will be written next: a generate's n-th card, a
			// copy's target, an enrolled card.
			writing := inst.Phase() == backupkey.PhaseWriting || inst.Phase() == sharecopy.PhaseTarget || inst.Kind() == usercard.KindEnrol
			if err == nil && *tear > 0 && writing {
				if writes++; writes == *tear {
					cards[name].TearNextWrite(10)
				}
			}
			return name, err
		}
		if *resume {
			if inst, err = eng.Get(*id); err != nil {
				return &codeError{exitNotFound, err}
			}
			if inst.Ended() {
				return outcome(inst)
			}
		} else if *kind == "enrol" || *kind == "activate" {
			slots, err := hf.slots()
			if err != nil {
				return err
			}
			if *kind == "enrol" {
				inst, err = eng.Start(ctx, usercard.KindEnrol, *id, events.SourceOperator, &events.UserEnrolStarted{Operator: "rehearsal", Reader: port.Name(), Slot: slots.Name()})
			} else {
				inst, err = eng.Start(ctx, usercard.KindActivate, *id, events.SourceOperator, &events.UserActivateStarted{Operator: "rehearsal", Reader: port.Name(), Slot: slots.Name()})
			}
			if err != nil {
				return err
			}
		} else if *kind == "copy" {
			if inst, err = eng.Start(ctx, sharecopy.Kind, *id, events.SourceOperator, &events.CopyStarted{Operator: "rehearsal", Reader: port.Name()}); err != nil {
				return err
			}
		} else if *kind == "pin" {
			if inst, err = eng.Start(ctx, pinchange.Kind, *id, events.SourceOperator, &events.PINChangeStarted{Operator: "rehearsal", Reader: port.Name(), Slot: string(ceremonies.BackupSlot)}); err != nil {
				return err
			}
		} else if *kind == "load" {
			if inst, err = eng.Start(ctx, backupkey.KindLoad, *id, events.SourceOperator, &events.LoadStarted{
				Operator: "rehearsal", Reader: port.Name(), HSM: station.HSM.Name()}); err != nil {
				return err
			}
		} else if inst, err = eng.Start(ctx, backupkey.KindGenerate, *id, events.SourceOperator, &events.GenerateStarted{
			Operator: "rehearsal", Threshold: q.Threshold, Shares: q.Shares, Reader: port.Name(), HSM: station.HSM.Name()}); err != nil {
			return err
		}
		switch inst.Kind() {
		case usercard.KindEnrol, usercard.KindActivate:
			slots, err := hf.slots()
			if err != nil {
				return err
			}
			var credential []byte
			if inst.Kind() == usercard.KindEnrol {
				if credential, err = hf.readCredential(); err != nil {
					return err
				}
			}
			defer ceremonies.Wipe(credential)
			runner := &usercard.Runner{Engine: eng, Station: station, Slots: slots, Rand: rand.Reader, Say: sayTo(out), Credential: credential}
			return drive(ctx, inst, hand, out, runner.Run)
		case sharecopy.Kind:
			runner := &sharecopy.Runner{Engine: eng, Station: station, Say: sayTo(out)}
			return drive(ctx, inst, hand, out, runner.Run)
		case pinchange.Kind:
			runner := &pinchange.Runner{Engine: eng, Station: station, Say: sayTo(out)}
			return drive(ctx, inst, hand, out, runner.Run)
		}
		runner := &backupkey.Runner{Engine: eng, Station: station, Rand: rand.Reader, Say: sayTo(out), Resumed: *resume}
		return drive(ctx, inst, hand, out, runner.Run)
	}
	return cmd
}

// rehearsalNewPIN is what a rehearsed PIN change sets.
const rehearsalNewPIN = "24680135"

// nextCard is the card a ceremony needs now: the card whose write must be
// checked, else the first card without a share when writing, else the
// first card holding a share (of this generate, or any when loading) not
// read yet when reading.
func nextCard(eng *engine.Engine, inst *engine.Instance, cards map[string]*cardemu.Card, names []string) (string, error) {
	switch {
	case inst.Kind() == pinchange.Kind, inst.Kind() == usercard.KindEnrol, inst.Kind() == usercard.KindActivate:
		return names[0], nil
	case inst.Kind() == sharecopy.Kind && strings.HasPrefix(inst.Phase(), sharecopy.PhaseSource):
		return names[0], nil
	case inst.Kind() == sharecopy.Kind:
		return names[len(names)-1], nil
	}
	st := backupkey.Snapshot(inst)
	reading := inst.Phase() == backupkey.PhaseReading
	for _, n := range names {
		serial := cards[n].Serial()
		_, written := st.WrittenSerial(serial)
		if inst.Kind() == backupkey.KindLoad {
			cr, ok := eng.Card(serial)
			written = ok && cr.KeySetID != ""
		}
		_, accepted := st.AcceptedSerial(serial)
		switch {
		case !reading && st.Pending != nil:
			if serial == st.Pending.Serial {
				return n, nil
			}
		case !reading && !written:
			return n, nil
		case reading && written && !accepted:
			return n, nil
		}
	}
	return "", fmt.Errorf("rehearsal: no card fits the next step (phase %s)", inst.Phase())
}
