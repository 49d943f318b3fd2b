package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// cmdCopy runs "copy": a one-to-one copy of a Backup Key share to another card.
func cmdCopy(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs, c := newFlags("copy", out)
	var sf stationFlags
	sf.register(fs)
	id := fs.String("id", "", "ceremony id (default: copy-<random>)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if sf.operator == "" {
		return usagef("--operator is required: the events record who ran the ceremony")
	}
	if *id == "" {
		*id = "copy-" + engine.RandomID()[:8]
	}
	b, err := sf.openBench(ctx, c, in, out, false)
	if err != nil {
		return err
	}
	defer b.close()
	inst, err := b.app.eng.Start(ctx, sharecopy.Kind, *id, events.SourceOperator, &events.CopyStarted{Operator: sf.operator, Reader: b.station.Reader.Name()})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s started: insert the source card, then the target card.\n", inst.ID())
	runner := &sharecopy.Runner{Engine: b.app.eng, Station: b.station, Say: sayTo(out)}
	return drive(ctx, inst, b.hand, out, runner.Run)
}
