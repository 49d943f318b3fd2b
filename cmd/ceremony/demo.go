package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// demoPINs are the emulated cards' PINs: card 1 keeps the factory default
// so the registry shows the default-PIN flag; the others were changed.
var demoPINs = []string{"123456", "27496158", "85033712", "61349027", "90271684"}

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A full 2-of-3 Backup Key generate on three emulated cards, printed",
		Long: `Run a whole Backup Key generate on new emulated cards, with a simulated
operator who makes a wrong PIN entry and a corrected typo on the way, and
print every prompt, the events and the card registry.

The demo starts from new cards and a new event store. By default both go
into a new temporary directory; --dir DIR puts them in DIR/data and
DIR/cards; --data-dir and --cards-dir place each on its own (the other
then goes into a new temporary directory). A directory given must be new
or empty. 'ceremony demo --data-dir ceremony-data' leaves the default
event store holding the demo ceremony, for 'ceremony list', 'show' and
'audit'. The demo ignores $CEREMONY_DATA_DIR: it never writes into an
existing store directory.

--nats URL[,URL...] runs the demo against the event store on an existing
NATS server or cluster instead (with the same credentials and TLS flags as
every other command): the demo's ceremony, under a new random id, is then
added to that store, next to what it holds.`,
		Example: `  ceremony demo
  ceremony demo --data-dir demo-data && ceremony list --data-dir demo-data
  ceremony demo --nats nats://node-a:4222,nats://node-b:4222,nats://node-c:4222 --nats-creds ceremony.creds
  ceremony demo --quorum 3-of-5 --hsm pkcs11 --pkcs11-token demo --pkcs11-pin-file demo.pin`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	dir := fs.String("dir", "", "working directory for the demo's event store (DIR/data) and card images (DIR/cards); default: a new temporary directory")
	dataDir := fs.String("data-dir", "", "event store directory, new or empty (default: DIR/data of --dir or of a new temporary directory)")
	cardsDir := fs.String("cards-dir", "", "directory for the demo's new card images, new or empty (default: DIR/cards of --dir or of a new temporary directory)")
	quorum := fs.String("quorum", "2-of-3", "quorum: 2-of-3 or 3-of-5")
	var syncMode string
	syncFlag(fs, &syncMode)
	var nf natsFlags
	nf.register(fs)
	var hf hsmFlags
	hf.register(fs)
	var bf backupFlags
	bf.register(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		q, err := backupkey.ParseQuorum(*quorum)
		if err != nil {
			return usagef("--quorum: %v", err)
		}
		if q.Shares > len(demoPINs) {
			return usagef("--quorum %s: the demo has %d emulated cards; use 2-of-3 or 3-of-5", q, len(demoPINs))
		}
		backup, err := bf.autoBackup(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if err := demoDirs(dir, dataDir, cardsDir); err != nil {
			return err
		}
		c := &common{dataDir: *dataDir, sync: syncMode, nats: nf, flags: fs}
		box := newCardBox(*cardsDir)
		hsm, closeHSM, err := hf.open(ctx, nil)
		if err != nil {
			return err
		}
		defer closeHSM()
		where := c.dataDir
		if len(nf.urls) > 0 {
			where = "the NATS servers " + strings.Join(nf.urls, ",")
		}
		fmt.Fprintf(out, "Demo: Backup Key generate %s on emulated cards, HSM %s.\n  event store: %s\n  card images: %s\n\n", q, hsm.Name(), where, box.dir)

		var names []string
		for i := 0; i < q.Shares; i++ {
			name := fmt.Sprintf("card%d", i+1)
			if _, err := box.create(name, uint32(0x1001+i), demoPINs[i]); err != nil {
				return err
			}
			names = append(names, name)
		}
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		a.writer, a.out, a.backup = true, out, backup // a checkpoint at close
		defer a.close()
		if err := a.useHSMAuditKey(ctx, hsm, out); err != nil {
			fmt.Fprintf(out, "WARNING: checkpoints: %v\n", err)
		}

		// The operator's script: write cards 1..n (a wrong PIN on card 2, a
		// Clear on card 3), then read k cards back starting with the last one,
		// still in the reader.
		entries := []pinpad.Entry{{Kind: pinpad.OK}}
		plan := append([]string(nil), names...)
		for i := range names {
			entries = append(entries, pinpad.Entry{Kind: pinpad.OK})
			switch i {
			case 1: // a wrong PIN: the counter drops and is shown
				entries = append(entries, pinpad.Entry{Kind: pinpad.PIN, PIN: "00000000"})
			case 2: // a typo corrected with the yellow Clear key
				entries = append(entries, pinpad.Entry{Kind: pinpad.Clear, PIN: "850"})
			}
			entries = append(entries, pinpad.Entry{Kind: pinpad.PIN, PIN: demoPINs[i]})
		}
		entries = append(entries, pinpad.Entry{Kind: pinpad.OK})
		for j := 0; j < q.Threshold; j++ {
			i := (q.Shares - 1 - j*2 + 2*q.Shares) % q.Shares // last, then every other one backwards
			plan = append(plan, names[i])
			entries = append(entries, pinpad.Entry{Kind: pinpad.OK}, pinpad.Entry{Kind: pinpad.PIN, PIN: demoPINs[i]})
		}
		reader, port := rehearsal.NewReader("Emulated cyberJack e-com 00")
		pad := pinpad.NewScripted(out, entries...)
		h := &rehearsal.Hand{Reader: reader, Card: box.get, Log: out, Choose: rehearsal.Plan(plan...)}
		pad.OnShow = h.OnShow
		station := &ceremonies.Station{Pad: pad, Reader: port, HSM: hsm, StepTimeout: time.Minute}

		id := "gen-" + engine.RandomID()[:8]
		inst, err := a.eng.Start(ctx, backupkey.KindGenerate, id, events.SourceOperator, &events.GenerateStarted{
			Operator: "demo-operator", Threshold: q.Threshold, Shares: q.Shares, Reader: port.Name(), HSM: station.HSM.Name(),
		})
		if err != nil {
			return err
		}
		if err := inst.Record(ctx, events.SourceOperator, (&stationFlags{cardsDir: box.dir}).describeStation(station)); err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started.\n", id)
		runner := &backupkey.Runner{Env: ceremonies.Env{Engine: a.eng, Inventory: a.views.Inventory, Station: station, Rand: rand.Reader, Say: sayTo(out)}}
		if err := engine.HoldRunner(ctx, a.eng.Leases(), id, func(ctx context.Context) error { return runner.Run(ctx, inst) }); err != nil {
			return fmt.Errorf("ceremony %s: %w", id, err)
		}
		if err := h.Err(); err != nil {
			return err
		}
		if outcome(inst) == nil {
			a.backupAfter(ctx, out)
		}
		fmt.Fprintf(out, "\nEvents of ceremony %s:\n", id)
		if err := printEvents(ctx, a, id, out); err != nil {
			return err
		}
		fmt.Fprintln(out, "\nCard registry:")
		if err := printCards(a.views.Inventory, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nCeremony %s: %s. Inspect it with: ceremony show %s --data-dir %s\n", id, inst.Phase(), id, c.dataDir)
		return outcome(inst)
	}
	return cmd
}

// demoDirs places the demo's event store and cards: in dir/data and
// dir/cards, or where --data-dir and --cards-dir say, or in a new
// temporary directory. Each must be new or empty.
func demoDirs(dir, dataDir, cardsDir *string) error {
	if *dir != "" && (*dataDir != "" || *cardsDir != "") {
		return usagef("give --dir, or --data-dir and --cards-dir, not both")
	}
	if *dir != "" {
		if !emptyDir(*dir) {
			return usagef("--dir %s is not empty: the demo starts from new cards and a new event store; give a new directory", *dir)
		}
		*dataDir, *cardsDir = filepath.Join(*dir, "data"), filepath.Join(*dir, "cards")
		return nil
	}
	for _, d := range []struct {
		flag, what string
		path       *string
	}{{"--data-dir", "a new event store", dataDir}, {"--cards-dir", "new cards", cardsDir}} {
		if *d.path != "" && !emptyDir(*d.path) {
			return usagef("%s %s is not empty: the demo starts from %s; give a new directory", d.flag, *d.path, d.what)
		}
	}
	if *dataDir != "" && *cardsDir != "" {
		return nil
	}
	tmp, err := os.MkdirTemp("", "ceremony-demo-")
	if err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = filepath.Join(tmp, "data")
	}
	if *cardsDir == "" {
		*cardsDir = filepath.Join(tmp, "cards")
	}
	return nil
}

// emptyDir reports whether dir is missing or holds nothing.
func emptyDir(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err != nil || len(ents) == 0
}
