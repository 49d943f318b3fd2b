package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

// serveCheckpointEvery is the longest time between two projection
// checkpoints of the service while events arrive.
const serveCheckpointEvery = 30 * time.Second

// startServeEngine runs the service's engine (ARCHITECTURE.md, "Engine
// rules"): opened from the projection checkpoint, following the stream so
// that its read models hold what every process and node stores, and
// writing the projection checkpoint after every `every` new events, at
// least every serveCheckpointEvery while events arrive, and at stop. It
// is passive: the runners own their deadlines. stop waits for both.
func startServeEngine(ctx context.Context, st *jetstream.Store, every uint64, log io.Writer) (stop func(), err error) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cp, why := loadCheckpoint(octx, st)
	views := kinds.NewViews()
	if cp != nil {
		if views, err = cp.Restore(); err != nil {
			return nil, err
		}
	}
	ecfg := views.EngineConfig(st)
	ecfg.Passive = true
	eng, err := engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	saved := uint64(0)
	if cp != nil {
		saved = cp.Seq
		err = eng.OpenFrom(octx, cp.Baseline())
	} else {
		fmt.Fprintf(log, "serve: no usable projection checkpoint (%s): replaying the whole stream\n", why)
		err = eng.Open(octx)
	}
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("serve: replay the event store: %w", err)
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
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		seq, err := writeProjection(sctx, st)
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
