package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// demoPINs are the emulated cards' PINs: card 1 keeps the factory default
// so the registry shows the default-PIN flag; the others were changed.
var demoPINs = []string{"123456", "27496158", "85033712", "61349027", "90271684"}

func cmdDemo(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", "", "working directory for the demo's event store (dir/data) and card images (dir/cards); default: a new temporary directory")
	quorum := fs.String("quorum", "2-of-3", "quorum: 2-of-3 or 3-of-5")
	syncMode := fs.String("sync", "always", "fsync policy: always or relaxed")
	var hf hsmFlags
	hf.register(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	q, err := backupkey.ParseQuorum(*quorum)
	if err != nil {
		return usagef("--quorum: %v", err)
	}
	if q.Shares > len(demoPINs) {
		return usagef("--quorum %s: the demo has %d emulated cards; use 2-of-3 or 3-of-5", q, len(demoPINs))
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "ceremony-demo-"); err != nil {
			return err
		}
	} else if ents, err := os.ReadDir(*dir); err == nil && len(ents) > 0 {
		return usagef("--dir %s is not empty: the demo starts from new cards and a new event store; give a new directory", *dir)
	}
	c := &common{dataDir: filepath.Join(*dir, "data"), sync: *syncMode}
	box := newCardBox(filepath.Join(*dir, "cards"))
	hsm, closeHSM, err := hf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer closeHSM()
	fmt.Fprintf(out, "Demo: Backup Key generate %s on emulated cards, HSM %s.\n  event store: %s\n  card images: %s\n\n", q, hsm.Name(), c.dataDir, box.dir)

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
	defer a.close()

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
	fmt.Fprintf(out, "Ceremony %s started.\n", id)
	runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out)}
	if err := runner.Run(ctx, inst); err != nil {
		return fmt.Errorf("ceremony %s: %w", id, err)
	}
	if err := h.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nEvents of ceremony %s:\n", id)
	if err := printEvents(ctx, a, id, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nCard registry:")
	printCards(a.eng, out)
	fmt.Fprintf(out, "\nCeremony %s: %s. Inspect it with: ceremony show %s --data-dir %s\n", id, inst.Phase(), id, c.dataDir)
	return outcome(inst)
}

func sayTo(out io.Writer) func(string) {
	return func(s string) { fmt.Fprintf(out, "  > %s\n", s) }
}
