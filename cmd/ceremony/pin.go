package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// cmdPIN runs "pin change".
func cmdPIN(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 || args[0] != "change" {
		return usagef("pin takes a subcommand: change --slot backup|user")
	}
	fs, c := newFlags("pin change", out)
	var sf stationFlags
	sf.register(fs)
	slot := fs.String("slot", "", "which PIN: backup (the Backup Key share slot) or user (the PKCS#11 user slot)")
	id := fs.String("id", "", "ceremony id (default: pin-<random>)")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if *slot != string(ceremonies.BackupSlot) && *slot != string(ceremonies.UserSlot) {
		return usagef("--slot %q: use backup or user (each slot has its own PIN)", *slot)
	}
	if sf.operator == "" {
		return usagef("--operator is required: the events record who ran the ceremony")
	}
	if *id == "" {
		*id = "pin-" + engine.RandomID()[:8]
	}
	b, err := sf.openBench(ctx, c, in, out, false)
	if err != nil {
		return err
	}
	defer b.close()
	station, h, a := b.station, b.hand, b.app
	inst, err := a.eng.Start(ctx, pinchange.Kind, *id, events.SourceOperator, &events.PINChangeStarted{Operator: sf.operator, Reader: station.Reader.Name(), Slot: *slot})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s started.\n", inst.ID())
	runner := &pinchange.Runner{Engine: a.eng, Station: station, Say: sayTo(out)}
	return drive(ctx, inst, h, out, runner.Run)
}
