package main

import (
	"context"
	"errors"
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

// openDeadline bounds opening the store and reading the checkpoint;
// replayPerEvent is added for each event a command must apply after the
// checkpoint (or from the start without one): see replayDeadline.
const (
	openDeadline   = 30 * time.Second
	replayPerEvent = 50 * time.Microsecond
)

// readSaveEvents is how many events a read command applies after the
// checkpoint (or from the start without one) before it saves a fresh
// checkpoint at the end, so that the next read does not replay them
// again; fewer are cheaper to replay than to save.
const readSaveEvents = 1000

// openViews opens the store for a command that reads the read models
// and the ceremony list (list, cards, health): openStore on a passive
// engine (no deadline fires, nothing is recorded). With parts
// (kinds.Parts), only those parts of the checkpoint are read and, when
// the checkpoint is used, the read models are not fed (a.views is nil):
// list needs the ceremonies alone. After applying readSaveEvents events
// or more with every read model fed, it saves a fresh checkpoint (a KV
// write, never an event).
func (c *common) openViews(ctx context.Context, out io.Writer, parts ...string) (*app, error) {
	return c.openStore(ctx, out, openMode{parts: parts, passive: true, save: true})
}

// openMode says how openStore opens the engine.
type openMode struct {
	parts   []string // the checkpoint parts to read; none: every part
	passive bool     // no deadline fires, nothing is recorded (read commands)
	save    bool     // save a checkpoint after applying readSaveEvents or more
	full    bool     // replay the whole stream on purpose, checkpoint or not
	// feed are projections fed after the read models (the console's live
	// feed): they see the tail and what follows, not what the checkpoint
	// holds.
	feed []engine.Projection
}

// openStore opens the store (connect) and its engine (openEngine) for
// a command, then checks the transparency log. With m.save, after
// applying readSaveEvents events or more with every read model fed, it
// saves a fresh checkpoint (a KV write, never an event).
func (c *common) openStore(ctx context.Context, out io.Writer, m openMode) (*app, error) {
	t0 := time.Now()
	a, where, err := c.connect(ctx, out)
	if err != nil {
		return nil, err
	}
	debugf("connected to the event store in %v", time.Since(t0))
	o, err := openEngine(ctx, a.store, a.leases, m)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("replay the event store %s: %w", where, err)
	}
	a.eng.Close()
	a.eng, a.views = o.eng, o.views
	rctx, cancel := context.WithTimeout(ctx, replayDeadline(o.applied()))
	defer cancel()
	if applied := o.applied(); m.save && applied >= readSaveEvents {
		if o.views == nil {
			debugf("%d events after the projection checkpoint: not saving one (this command reads the ceremonies only)", applied)
		} else {
			t0 = time.Now()
			if err := saveViews(rctx, a.store, o.views, a.eng); err != nil {
				debugf("no projection checkpoint saved after applying %d events: %v", applied, err)
			} else {
				debugf("projection checkpoint saved at stream sequence %d (%d events applied) in %v", a.eng.Applied(), applied, time.Since(t0))
			}
		}
	}
	t0 = time.Now()
	if err := a.resumeLog(rctx); err != nil {
		a.close()
		return nil, fmt.Errorf("the event store %s: %w", where, err)
	}
	debugf("transparency log checked in %v", time.Since(t0))
	return a, nil
}

// openedEngine is an engine openEngine opened, and how.
type openedEngine struct {
	eng   *engine.Engine
	views *kinds.Views      // the read models it feeds; nil when a partial checkpoint was used
	cp    *kinds.Checkpoint // the checkpoint it started from; nil: a full replay
	why   string            // why no checkpoint was used
}

// applied is how many events the open applied: after the checkpoint, or
// all of them.
func (o *openedEngine) applied() uint64 {
	if o.cp == nil {
		return o.eng.Applied()
	}
	return o.eng.Applied() - o.cp.Seq
}

// openEngine is the one way an engine is opened on the store (commands,
// checkpoint builds, the service; ARCHITECTURE.md, "Engine rules"): from
// the projection checkpoint, whose read models and ceremony summaries are
// restored, and the events after it (the tail), or by replaying the whole
// stream when there is no usable checkpoint or m.full asks for it. Only
// the ceremonies the tail touches are loaded, and, on an active engine,
// those whose summary has an open step, to re-arm its deadline
// (Engine.OpenFrom); the others are known by their summary until app.get
// loads one from its own subject. Reading the checkpoint has
// openDeadline; applying the events has replayDeadline of their number,
// whatever ctx's deadline (cancelling ctx still stops it).
func openEngine(ctx context.Context, st *jetstream.Store, leases engine.Leaser, m openMode) (*openedEngine, error) {
	octx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	o := &openedEngine{why: "the command reads every event"}
	if !m.full {
		t0 := time.Now()
		o.cp, o.why = loadCheckpoint(octx, st, m.parts...)
		debugf("projection checkpoint read in %v", time.Since(t0))
	}
	t0 := time.Now()
	switch {
	case o.cp == nil:
		o.views = kinds.NewViews()
	case o.cp.Complete():
		var err error
		if o.views, err = o.cp.Restore(); err != nil {
			return nil, err
		}
	}
	ecfg := engine.Config{Store: st, Registry: kinds.Registry(), Definitions: kinds.Definitions()}
	if o.views != nil {
		ecfg = o.views.EngineConfig(st)
	}
	ecfg.Projections = append(ecfg.Projections, m.feed...)
	ecfg.Leases = leases
	ecfg.Passive = m.passive
	eng, err := engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	o.eng = eng
	from := uint64(0)
	if o.cp != nil {
		from = o.cp.Seq
	}
	last, err := st.LastSeq(octx)
	if err != nil {
		eng.Close()
		return nil, err
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), replayDeadline(last-min(from, last)))
	defer rcancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			rcancel()
		}
	})
	defer stop()
	if o.cp != nil {
		debugf("projection checkpoint: stream sequence %d, %d ceremonies; applying the events after it", o.cp.Seq, len(o.cp.Ceremonies))
		err = eng.OpenFrom(rctx, o.cp.Baseline())
	} else {
		debugf("projection checkpoint not used (%s): replaying the whole stream", o.why)
		err = eng.Open(rctx)
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	debugf("engine opened at stream sequence %d in %v (%d events applied)", eng.Applied(), time.Since(t0), o.applied())
	return o, nil
}

// replayDeadline is the time allowed to apply n events and check the
// transparency log: openDeadline plus replayPerEvent for each event, so
// that a long replay (after an upgrade that changed the schema) is not
// cut off while it makes progress.
func replayDeadline(n uint64) time.Duration {
	return openDeadline + time.Duration(n)*replayPerEvent
}

// loadCheckpoint returns the store's projection checkpoint (the parts
// named, every part when none is), or nil and why it cannot be used:
// none, unreadable, another version, schema or stream, or not of this
// history (past the stream's end, or another event at its sequence).
// Reading it changes nothing.
func loadCheckpoint(ctx context.Context, st *jetstream.Store, parts ...string) (*kinds.Checkpoint, string) {
	names := []string{kinds.PartMeta}
	if len(parts) == 0 {
		names = append(names, kinds.Parts...)
	} else {
		names = append(names, parts...)
	}
	data, err := st.LoadProjection(ctx, names...)
	if err != nil {
		return nil, err.Error()
	}
	if data == nil {
		return nil, "there is none yet"
	}
	cp, err := kinds.DecodeCheckpoint(data, st.StreamName(), parts...)
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
// passive engine (openEngine, whose deadlines grow with the events to
// apply), and returns the new checkpoint, or nil when no event came
// since. It does not touch the app's own engine.
func buildCheckpoint(ctx context.Context, st *jetstream.Store) (*kinds.Checkpoint, error) {
	debugf("building a projection checkpoint")
	o, err := openEngine(ctx, st, nil, openMode{passive: true})
	if err != nil {
		return nil, err
	}
	defer o.eng.Close()
	if o.cp != nil && o.applied() == 0 {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	return checkpointOf(cctx, st, o.views, o.eng)
}

// checkpointOf returns the checkpoint of views, which eng feeds, at the
// stream sequence eng applied. Nothing may record or follow meanwhile.
func checkpointOf(ctx context.Context, st *jetstream.Store, views *kinds.Views, eng *engine.Engine) (*kinds.Checkpoint, error) {
	var hash string
	if seq := eng.Applied(); seq > 0 {
		r, err := st.RecordAt(ctx, seq)
		if err != nil {
			return nil, err
		}
		hash = r.Hash
	}
	next := views.Checkpoint(st.StreamName(), eng, hash)
	return &next, nil
}

// saveViews saves the checkpoint of views, which the passive engine eng
// feeds (a read command's, after a long replay).
func saveViews(ctx context.Context, st *jetstream.Store, views *kinds.Views, eng *engine.Engine) error {
	cp, err := checkpointOf(ctx, st, views, eng)
	if err != nil {
		return err
	}
	data, err := cp.Encode()
	if err != nil {
		return err
	}
	return st.SaveProjection(ctx, data)
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
// Its deadlines are its own (buildCheckpoint, then openDeadline for the
// write): ctx need not have one.
func writeProjection(ctx context.Context, st *jetstream.Store) (uint64, error) {
	cp, err := buildCheckpoint(ctx, st)
	if err != nil || cp == nil {
		return 0, err
	}
	data, err := cp.Encode()
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	if err := st.SaveProjection(sctx, data); err != nil {
		return 0, err
	}
	size := 0
	for _, b := range data {
		size += len(b)
	}
	debugf("projection checkpoint written: stream sequence %d, %d ceremonies, %d bytes", cp.Seq, len(cp.Ceremonies), size)
	return cp.Seq, nil
}
