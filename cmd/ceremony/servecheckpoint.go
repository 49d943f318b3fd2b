package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// endingEvents returns, per kind, the event types that end a ceremony
// (ends) and those that complete it (completes: the kind's Completed
// phase): those of a transition to such a phase, and the first one of a
// kind whose first phase is one (ARCHITECTURE.md, "Engine rules"). It
// loops over kinds.List(); no kind is named.
func endingEvents() (ends, completes map[string]map[string]bool) {
	ends, completes = map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, k := range kinds.List() {
		d := k.Definition
		ends[d.Kind], completes[d.Kind] = map[string]bool{}, map[string]bool{}
		if d.IsTerminal(d.Initial) { // a ceremony of one event
			ends[d.Kind][d.First] = true
			completes[d.Kind][d.First] = d.Initial == k.Completed
		}
		for _, t := range d.Transitions {
			if d.IsTerminal(t.To) {
				ends[d.Kind][t.Event] = true
			}
			if t.To == k.Completed {
				completes[d.Kind][t.Event] = true
			}
		}
	}
	return ends, completes
}

// endingQueue hands the ceremony ends the follower sees to the checkpoint
// writer without ever blocking the follower: ends that arrive while the
// writer is busy are taken together, so a burst of them costs one
// checkpoint (which covers them all), and one backup if any completed.
type endingQueue struct {
	mu        sync.Mutex
	n         int      // ends not yet taken
	first     []string // the first few of them, for the log
	completed bool     // one of them completed its ceremony
	ready     chan struct{}
}

// endingsNamed is how many ceremony ids a checkpoint's log line names.
const endingsNamed = 3

func newEndingQueue() *endingQueue { return &endingQueue{ready: make(chan struct{}, 1)} }

// push adds the end of ceremony id.
func (q *endingQueue) push(id string, completed bool) {
	q.mu.Lock()
	q.n++
	if len(q.first) < endingsNamed {
		q.first = append(q.first, id)
	}
	q.completed = q.completed || completed
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // already signalled: the writer takes this one too
	}
}

// take returns what was pushed since the last take: why a checkpoint is
// written, and whether a ceremony completed (n is 0 when nothing was).
func (q *endingQueue) take() (n int, why string, completed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, completed = q.n, q.completed
	switch {
	case n == 1:
		why = "end of ceremony " + q.first[0]
	case n > len(q.first):
		why = fmt.Sprintf("end of %d ceremonies: %s, ...", n, strings.Join(q.first, ", "))
	case n > 1:
		why = fmt.Sprintf("end of %d ceremonies: %s", n, strings.Join(q.first, ", "))
	}
	q.n, q.first, q.completed = 0, nil, false
	return n, why, completed
}

// serveCheckpoints writes the signed checkpoints of the service's store
// into the data directory's checkpoints/: at start (what was stored
// before), after every event that ends a ceremony, every minute while
// events arrive, and at shutdown (the returned stop function, which
// waits). The key is the audit key of hsm (the service's --hsm pkcs11
// token, serveHSM), else with hsm nil the station's audit key file (see
// openTranslog). A failed checkpoint is a
// warning in the log; the service goes on. With backup, a completed
// ceremony is also backed up (autoBackup.run) after its checkpoint.
func serveCheckpoints(ctx context.Context, st *jetstream.Store, dataDir string, hsm ceremonies.HSM, backup *autoBackup, log io.Writer) (stop func(), err error) {
	dir := translog.Dir(filepath.Join(dataDir, translog.DirName))
	tl, err := openTranslog(dir, st.StreamName())
	if err != nil {
		return nil, err
	}
	if hsm != nil {
		if tl, err = withHSMAuditKey(ctx, hsm, dir, st.StreamName(), tl, log); err != nil {
			return nil, fmt.Errorf("serve: checkpoints: %w", err)
		}
	}
	if tl == nil {
		fmt.Fprintln(log, "serve: Note: no audit key: the service writes no checkpoints of the event store (and, with --backup-dir, no backups: a backup holds a checkpoint); 'ceremony audit key --create' makes one, or give --hsm pkcs11")
		return func() {}, nil
	}
	if !tl.CanSign() {
		fmt.Fprintf(log, "serve: Note: the checkpoints in %s are signed by the audit key %x, which the service has not: give --hsm pkcs11 with the token that holds it; no checkpoint (and no automatic backup) is written\n", dir, []byte(tl.Public()))
		return func() {}, nil
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

	ending, completing := endingEvents()
	from := uint64(tl.Tree().Size()) + 1
	fctx, cancel := context.WithCancel(ctx)
	endings := newEndingQueue()
	var grew atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := st.Follow(fctx, from, func(r events.Record) error {
			grew.Store(true)
			if ending[r.Envelope.Kind][r.Envelope.Type] {
				endings.push(r.CeremonyID, completing[r.Envelope.Kind][r.Envelope.Type])
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
			case <-endings.ready:
				n, why, completed := endings.take()
				if n == 0 {
					continue
				}
				grew.Store(false)
				write(why)
				if completed && backup != nil {
					backup.run(context.WithoutCancel(ctx), st, tl, dataDir, prefixed{log}, time.Now())
				}
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
	}, nil
}

// prefixed writes each message with the service's "serve: " prefix.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte("serve: "), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}
