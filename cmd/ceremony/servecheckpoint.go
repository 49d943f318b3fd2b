package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// endingEvents returns, per kind, the event types that end a ceremony:
// those of a transition to a terminal phase, and the first one of a kind whose
// first phase is terminal (ARCHITECTURE.md, "Engine
// rules"). It loops over kinds.List(); no kind is named.
func endingEvents() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, k := range kinds.List() {
		d := k.Definition
		out[d.Kind] = map[string]bool{}
		if d.IsTerminal(d.Initial) { // a ceremony of one event
			out[d.Kind][d.First] = true
		}
		for _, t := range d.Transitions {
			if d.IsTerminal(t.To) {
				out[d.Kind][t.Event] = true
			}
		}
	}
	return out
}

// serveCheckpoints writes the signed checkpoints of the service's store
// into the data directory's checkpoints/: at start (what was stored
// before), after every event that ends a ceremony, every minute while
// events arrive, and at shutdown (the returned stop function, which
// waits). The key is the HSM's audit key with --hsm pkcs11, else the
// station's audit key file (see openTranslog). A failed checkpoint is a
// warning in the log; the service goes on.
func serveCheckpoints(ctx context.Context, st *jetstream.Store, dataDir string, h *hsmFlags, log io.Writer) (stop func(), err error) {
	dir := translog.Dir(filepath.Join(dataDir, translog.DirName))
	tl, err := openTranslog(dir, st.StreamName())
	if err != nil {
		return nil, err
	}
	closeHSM := func() {}
	switch h.kind {
	case "pkcs11":
		hsm, done, err := h.open(ctx, nil)
		if err != nil {
			return nil, err
		}
		closeHSM = done
		if tl, err = withHSMAuditKey(ctx, hsm, dir, st.StreamName(), tl, log); err != nil {
			closeHSM()
			return nil, fmt.Errorf("serve: checkpoints: %w", err)
		}
	case "soft":
	default:
		return nil, usagef("--hsm %q: use soft (the audit key file signs the checkpoints) or pkcs11", h.kind)
	}
	if tl == nil {
		fmt.Fprintln(log, "serve: Note: no audit key: the service writes no checkpoints of the event store; 'ceremony audit key --create' makes one, or give --hsm pkcs11")
		return closeHSM, nil
	}
	if !tl.CanSign() {
		fmt.Fprintf(log, "serve: Note: the checkpoints in %s are signed by the audit key %x, which the service has not: give --hsm pkcs11 with the token that holds it; no checkpoint is written\n", dir, []byte(tl.Public()))
		return closeHSM, nil
	}
	write := func(why string) {
		c, _, path, err := tl.Checkpoint(context.WithoutCancel(ctx), st, time.Now())
		switch {
		case err != nil:
			fmt.Fprintf(log, "serve: WARNING: no checkpoint written (%s): %v\n", why, err)
		case path != "":
			fmt.Fprintf(log, "serve: checkpoint (%s): %d events, root %s, %s\n", why, c.Size, c.RootHex(), path)
		}
	}
	write("at start")
	fmt.Fprintf(log, "serve: checkpoints of %s (key %x) go to %s\n", tl.Origin(), []byte(tl.Public()), dir)

	ending := endingEvents()
	from := uint64(tl.Tree().Size()) + 1
	fctx, cancel := context.WithCancel(ctx)
	ended := make(chan string, 64)
	var grew atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := st.Follow(fctx, from, func(r events.Record) error {
			grew.Store(true)
			if ending[r.Envelope.Kind][r.Envelope.Type] {
				select {
				case ended <- r.CeremonyID:
				default: // a burst of endings: the next checkpoint covers them all
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(log, "serve: WARNING: no longer following the stream for checkpoints (one is still written at shutdown): %v\n", err)
		}
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(checkpointInterval)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case id := <-ended:
				grew.Store(false)
				write("end of ceremony " + id)
			case <-t.C:
				if grew.Swap(false) {
					write("every minute")
				}
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		write("at shutdown")
		closeHSM()
	}, nil
}
