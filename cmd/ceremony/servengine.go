package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
)

// serveCheckpointEvery is the longest time between two projection
// checkpoints of the service while events arrive.
const serveCheckpointEvery = 30 * time.Second

// startServeEngine runs the service's engine (ARCHITECTURE.md, "Engine
// rules"): opened from the projection checkpoint (openEngine: without
// one, a full replay whose deadline grows with the stream), following
// the stream so that its read models hold what every process and node
// stores, and
// writing the projection checkpoint after every `every` new events, at
// least every serveCheckpointEvery while events arrive, and at stop. It
// is passive: the runners own their deadlines. stop waits for both.
func startServeEngine(ctx context.Context, st *jetstream.Store, every uint64, log io.Writer) (stop func(), err error) {
	o, err := openEngine(ctx, st, nil, openMode{passive: true})
	if err != nil {
		return nil, fmt.Errorf("serve: replay the event store: %w", err)
	}
	eng := o.eng
	saved := uint64(0)
	if o.cp != nil {
		saved = o.cp.Seq
	} else {
		fmt.Fprintf(log, "serve: no usable projection checkpoint (%s): replayed the whole stream\n", o.why)
	}
	fmt.Fprintf(log, "serve: engine following the stream from sequence %d (%d ceremonies)\n", eng.Applied(), len(eng.Ceremonies()))

	fctx, fcancel := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		if err := eng.Follow(fctx); err != nil {
			fmt.Fprintf(log, "serve: no longer following the stream: %v\n", err)
		}
	}()
	save := func(why string) {
		// writeProjection's deadlines are its own, growing with the
		// events to fold.
		seq, err := writeProjection(context.WithoutCancel(ctx), st)
		switch {
		case err != nil:
			fmt.Fprintf(log, "serve: WARNING: no projection checkpoint written (%s): %v\n", why, err)
		case seq > saved:
			saved = seq
			fmt.Fprintf(log, "serve: projection checkpoint (%s) at stream sequence %d\n", why, seq)
		case seq == 0 && eng.Applied() > saved:
			// A writing command saved one at its close (see saveProjection).
			saved = eng.Applied()
			fmt.Fprintf(log, "serve: projection checkpoint (%s) at stream sequence %d: already saved by the process that wrote it\n", why, saved)
		}
	}
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			switch applied := eng.Applied(); {
			case applied >= saved+every:
				save(fmt.Sprintf("%d new events", applied-saved))
				last = time.Now()
			case applied > saved && time.Since(last) >= serveCheckpointEvery:
				save("every 30 s")
				last = time.Now()
			}
		}
	}()
	return func() {
		fcancel()
		<-followed
		<-checked
		save("at shutdown")
		eng.Close()
	}, nil
}
