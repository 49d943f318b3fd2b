package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

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
