package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	kind := fs.String("kind", "generate", "the kind to rehearse: its name or its command ("+strings.Join(rehearsalCommands(), ", ")+"), or one word of that command")
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
		k, err := rehearsalKind(*kind)
		if err != nil {
			return err
		}
		st, err := jetstream.Open(ctx, jetstream.Config{DataDir: *dataDir})
		if err != nil {
			return err
		}
		defer st.Close()
		var store events.Store = st
		if *killAfter > 0 {
			store = &killingStore{Store: st, after: *killAfter}
		}
		views := kinds.NewViews()
		eng, err := engine.New(views.EngineConfig(store))
		if err != nil {
			return err
		}
		if err := eng.Open(ctx); err != nil {
			return err
		}
		defer eng.Close()
		var inst *engine.Instance
		if *resume {
			if inst, err = eng.Get(*id); err != nil {
				return &codeError{exitNotFound, err}
			}
			if inst.Ended() {
				return outcome(inst)
			}
			if k, err = kinds.Lookup(inst.Kind()); err != nil {
				return err
			}
		}

		cards, pins, err := rehearsalCards(*cardsDir, k.Rehearse.Cards(q.Shares))
		if err != nil {
			return err
		}
		serials := make([]string, len(cards))
		for i, c := range cards {
			serials[i] = c.Serial()
		}
		reader, port := rehearsal.NewReader("Rehearsal reader")
		hand := &rehearsal.Hand{Reader: reader, Card: rehearsal.CardsBySerial(cardsByName(cards)), Log: out}
		op := &rehearsal.Operator{Hand: hand, PINs: pins, NewPIN: rehearsalNewPIN, Out: out}
		station := &ceremonies.Station{Pad: op, Reader: port, HSM: memhsm.New("rehearsal-hsm"), StepTimeout: time.Minute}
		var credential []byte
		if k.Needs.Slots {
			slots, err := hf.slots()
			if err != nil {
				return err
			}
			station.Slots = slots
		}
		if k.Needs.Credential {
			if credential, err = hf.readCredential(); err != nil {
				return err
			}
		}
		defer ceremonies.Wipe(credential)

		writes := 0
		hand.Choose = func(int) (string, error) {
			i, writing, err := k.Rehearse.Next(ceremonies.RehearsalView{Inst: inst, Inventory: views.Inventory, Serials: serials})
			if err != nil {
				return "", err
			}
			if *tear > 0 && writing {
				if writes++; writes == *tear {
					cards[i].TearNextWrite(10)
				}
			}
			return cardName(i), nil
		}
		if !*resume {
			params := k.Rehearse.Params(q.Shares)
			first, err := k.Start.Begin(params, ceremonies.StartInfo{Operator: "rehearsal", Reader: port.Name(), HSM: station.HSM.Name(),
				Slot: slotName(station), Inventory: views.Inventory})
			if err != nil {
				return usageOf(err)
			}
			if inst, err = eng.Start(ctx, k.Name(), *id, events.SourceOperator, first[0]); err != nil {
				return err
			}
			for _, p := range first[1:] {
				if err := inst.Record(ctx, events.SourceOperator, p); err != nil {
					return err
				}
			}
		}
		b := &bench{station: station, hand: hand, app: &app{store: st, eng: eng, views: views}, credential: credential}
		credential = nil // the runner wipes it
		return b.runKind(ctx, k, inst, *resume, out)
	}
	return cmd
}

// rehearsalCommands lists the start commands of the kinds a rehearsal plays.
func rehearsalCommands() []string {
	var out []string
	for _, k := range kinds.List() {
		if k.Rehearse != nil && k.Start != nil {
			out = append(out, k.Start.Command)
		}
	}
	return out
}

// rehearsalKind finds the kind --kind names: a kind's name, its start
// command, or one word of that command naming one kind only.
func rehearsalKind(name string) (ceremonies.Kind, error) {
	var found []ceremonies.Kind
	var known []string
	for _, k := range kinds.List() {
		if k.Rehearse == nil || k.Start == nil {
			continue
		}
		known = append(known, k.Name())
		if k.Name() == name || k.Start.Command == name || slices.Contains(strings.Fields(k.Start.Command), name) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return ceremonies.Kind{}, usagef("--kind %q: name one of %s (or its command)", name, strings.Join(known, ", "))
	}
	return found[0], nil
}

// rehearsalCards opens card1..cardN in dir, making the missing ones with
// the rehearsal PINs; pins maps each serial to its PIN.
func rehearsalCards(dir string, n int) ([]*cardemu.Card, map[string]string, error) {
	if n > len(rehearsalPINs) {
		return nil, nil, usagef("a rehearsal has at most %d cards, this one needs %d", len(rehearsalPINs), n)
	}
	var cards []*cardemu.Card
	pins := map[string]string{}
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, cardName(i)+".img")
		c, err := cardemu.Open(path)
		if err != nil {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, nil, err
			}
			pin := []byte(rehearsalPINs[i])
			if c, err = cardemu.Create(path, cardemu.Options{Serial: uint32(0x5001 + i), PW1: pin, PW3: pin}); err != nil {
				return nil, nil, err
			}
		}
		cards = append(cards, c)
		pins[c.Serial()] = rehearsalPINs[i]
	}
	return cards, pins, nil
}

func cardName(i int) string { return fmt.Sprintf("card%d", i+1) }

func cardsByName(cards []*cardemu.Card) map[string]*cardemu.Card {
	out := map[string]*cardemu.Card{}
	for i, c := range cards {
		out[cardName(i)] = c
	}
	return out
}

func slotName(st *ceremonies.Station) string {
	if st.Slots == nil {
		return ""
	}
	return st.Slots.Name()
}

// rehearsalNewPIN is what a rehearsed PIN change sets.
const rehearsalNewPIN = "24680135"
