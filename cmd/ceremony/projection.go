package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

// debugEnv turns on the debug notes on stderr (which projection
// checkpoint was used or ignored, and why).
const debugEnv = "CEREMONY_DEBUG"

func debugf(format string, args ...any) {
	if os.Getenv(debugEnv) != "" {
		fmt.Fprintf(os.Stderr, "debug: "+format+"\n", args...)
	}
}

// openViews opens the store for a command that reads the read models
// and the ceremony list (list, cards, health): from the projection
// checkpoint and the events after it, or by replaying the whole stream
// when there is no usable checkpoint (ARCHITECTURE.md, "Engine rules").
// The engine is passive: nothing is written.
func (c *common) openViews(ctx context.Context, out io.Writer) (*app, error) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	a, where, err := c.connect(octx, out)
	if err != nil {
		return nil, err
	}
	debugf("connected to the event store in %v", time.Since(t0))
	t0 = time.Now()
	cp, why := loadCheckpoint(octx, a.store)
	debugf("projection checkpoint read in %v", time.Since(t0))
	t0 = time.Now()
	views := kinds.NewViews()
	if cp != nil {
		views = cp.Restore()
	}
	if err := a.setViews(views, true); err != nil {
		a.close()
		return nil, err
	}
	if cp != nil {
		debugf("projection checkpoint: stream sequence %d, %d ceremonies; applying the events after it", cp.Seq, len(cp.Ceremonies))
		err = a.eng.OpenFrom(octx, cp.Baseline())
	} else {
		debugf("projection checkpoint not used (%s): replaying the whole stream", why)
		err = a.eng.Open(octx)
	}
	if err != nil {
		a.close()
		return nil, fmt.Errorf("replay the event store %s: %w", where, err)
	}
	debugf("engine opened at stream sequence %d in %v", a.eng.Applied(), time.Since(t0))
	t0 = time.Now()
	if err := a.resumeLog(octx); err != nil {
		a.close()
		return nil, fmt.Errorf("the event store %s: %w", where, err)
	}
	debugf("transparency log checked in %v", time.Since(t0))
	return a, nil
}

// setViews replaces the app's engine (nothing opened yet) by one feeding
// views.
func (a *app) setViews(views *kinds.Views, passive bool) error {
	ecfg := views.EngineConfig(a.store)
	ecfg.Leases = a.leases
	ecfg.Passive = passive
	eng, err := engine.New(ecfg)
	if err != nil {
		return err
	}
	a.eng.Close()
	a.eng, a.views = eng, views
	return nil
}

// loadCheckpoint returns the store's projection checkpoint, or nil and
// why it cannot be used: none, unreadable, another version, schema or
// stream, or not of this history (past the stream's end, or another
// event at its sequence). Reading it changes nothing.
func loadCheckpoint(ctx context.Context, st *jetstream.Store) (*kinds.Checkpoint, string) {
	data, err := st.LoadProjection(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if data == nil {
		return nil, "there is none yet"
	}
	cp, err := kinds.DecodeCheckpoint(data, st.StreamName())
	if err != nil {
		return nil, err.Error()
	}
	last, err := st.LastSeq(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if cp.Seq > last {
		return nil, fmt.Sprintf("it covers stream sequence %d, the stream ends at %d", cp.Seq, last)
	}
	if cp.Seq > 0 {
		r, err := st.RecordAt(ctx, cp.Seq)
		if err != nil {
			return nil, err.Error()
		}
		if r.Hash != cp.SeqHash {
			return nil, fmt.Sprintf("stream sequence %d holds another event than the one it covers", cp.Seq)
		}
	}
	return &cp, ""
}

// buildCheckpoint folds the events after the store's projection
// checkpoint (all of them when there is none) into fresh read models on a
// passive engine, and returns the new checkpoint, or nil when no event
// came since. It does not touch the app's own engine.
func buildCheckpoint(ctx context.Context, st *jetstream.Store) (*kinds.Checkpoint, error) {
	cp, why := loadCheckpoint(ctx, st)
	views := kinds.NewViews()
	if cp != nil {
		views = cp.Restore()
	} else {
		debugf("projection checkpoint not used (%s): building one from the whole stream", why)
	}
	ecfg := views.EngineConfig(st)
	ecfg.Passive = true
	eng, err := engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	if cp != nil {
		err = eng.OpenFrom(ctx, cp.Baseline())
	} else {
		err = eng.Open(ctx)
	}
	if err != nil {
		return nil, err
	}
	seq := eng.Applied()
	if cp != nil && seq == cp.Seq {
		return nil, nil
	}
	var hash string
	if seq > 0 {
		r, err := st.RecordAt(ctx, seq)
		if err != nil {
			return nil, err
		}
		hash = r.Hash
	}
	next := views.Checkpoint(st.StreamName(), eng, hash)
	return &next, nil
}

// saveProjection writes a new projection checkpoint when events came
// since the last one. Only a command that writes the store calls it; a
// failure is a note (the next reader replays more), never an error.
func saveProjection(ctx context.Context, st *jetstream.Store, out io.Writer) {
	if _, err := writeProjection(ctx, st); err != nil {
		fmt.Fprintf(out, "Note: no projection checkpoint written (list, cards and health will replay more events): %v\n", err)
	}
}

// writeProjection writes a new projection checkpoint when events came
// since the last one, and returns the stream sequence it covers (0 when
// none was needed).
func writeProjection(ctx context.Context, st *jetstream.Store) (uint64, error) {
	cp, err := buildCheckpoint(ctx, st)
	if err != nil || cp == nil {
		return 0, err
	}
	data, err := cp.Encode()
	if err != nil {
		return 0, err
	}
	if err := st.SaveProjection(ctx, data); err != nil {
		return 0, err
	}
	debugf("projection checkpoint written: stream sequence %d, %d ceremonies, %d bytes", cp.Seq, len(cp.Ceremonies), len(data))
	return cp.Seq, nil
}
