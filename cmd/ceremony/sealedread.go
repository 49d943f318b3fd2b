package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// readSealed answers a read command (list, cards) without starting the
// embedded server (ARCHITECTURE.md, "Engine rules": a read without a
// server): from the projection checkpoint an orderly shutdown of a writer
// copied next to the store's seal, when no service runs on the data
// directory, the seal matches the stream's files exactly, and the copy
// names that seal and covers the sealed last sequence. It returns the
// checkpoint's parts named (and the meta), having written the notes the
// store's opening prints; nil when anything does not match, and
// CEREMONY_DEBUG=1 says why: the caller then opens the store as before.
func (c *common) readSealed(out io.Writer, parts ...string) *kinds.Checkpoint {
	t0 := time.Now()
	cfg, notes, ok := c.sealedConfig("sealed projection file")
	if !ok {
		return nil
	}
	sp, err := jetstream.ReadSealedProjection(cfg, append([]string{kinds.PartMeta}, parts...)...)
	if err != nil {
		debugf("sealed projection file not used (%v): starting the event store", err)
		return nil
	}
	cp, err := decodeSealed(sp, parts...)
	if err != nil {
		debugf("sealed projection file not used (%v): starting the event store", err)
		return nil
	}
	debugf("sealed projection file used: stream sequence %d, read in %v without starting the event store", cp.Seq, time.Since(t0))
	out.Write(notes)
	return &cp
}

// sealedConfig returns the configuration of the store for a read without
// a server (what, the file it would read, names it in the debug notes)
// and the notes the store's opening prints; false when there is none: a
// flag the store's opening refuses, a service's or a cluster's store.
func (c *common) sealedConfig(what string) (jetstream.Config, []byte, bool) {
	var notes bytes.Buffer
	cfg, _, err := c.storeConfig(&notes)
	if err != nil {
		return jetstream.Config{}, nil, false // opening the store says what is wrong
	}
	if cfg.DataDir == "" {
		debugf("%s not used (the store is a service's or a cluster's): connecting", what)
		return jetstream.Config{}, nil, false
	}
	return cfg, notes.Bytes(), true
}

// decodeSealed decodes the named parts of a sealed projection, which must
// cover the sealed stream's last sequence.
func decodeSealed(sp jetstream.SealedProjection, parts ...string) (kinds.Checkpoint, error) {
	cp, err := kinds.DecodeCheckpoint(sp.Parts, sp.Stream, parts...)
	if err != nil {
		return kinds.Checkpoint{}, err
	}
	if cp.Seq != sp.LastSeq {
		return kinds.Checkpoint{}, fmt.Errorf("the sealed projection covers stream sequence %d, the sealed stream ends at %d", cp.Seq, sp.LastSeq)
	}
	return cp, nil
}

// sealProjection asks the store's orderly shutdown to copy the projection
// checkpoint next to the seal (jetstream.Store.SealProjection) when it
// covers the stream's last event. Only a writer calls it, after
// saveProjection; a failure is a debug note (the next read command starts
// the server).
func sealProjection(ctx context.Context, st *jetstream.Store) {
	why := func() string {
		data, err := st.LoadProjection(ctx)
		if err != nil || data == nil {
			return fmt.Sprintf("no projection checkpoint (%v)", err)
		}
		seq, hash, err := kinds.CheckpointCovers(data, st.StreamName())
		if err != nil {
			return err.Error()
		}
		last, err := st.LastSeq(ctx)
		if err != nil {
			return err.Error()
		}
		if seq != last {
			return fmt.Sprintf("it covers stream sequence %d, the stream ends at %d", seq, last)
		}
		if seq > 0 {
			r, err := st.RecordAt(ctx, seq)
			if err != nil {
				return err.Error()
			}
			if r.Hash != hash {
				return fmt.Sprintf("stream sequence %d holds another event than the one it covers", seq)
			}
		}
		st.SealProjection(data, seq)
		return ""
	}()
	if why != "" {
		debugf("projection checkpoint not copied next to the seal: %s", why)
	}
}

// readSealedOne loads ceremony id for show or events without starting the
// embedded server (ARCHITECTURE.md, "A read without a server"): its
// records from the stream's block files through the locator an orderly
// shutdown wrote next to the seal (jetstream.ReadSealedCeremony, which
// checks each record), folded by a passive engine as OpenCeremony folds
// them. used is false when anything does not match, and CEREMONY_DEBUG=1
// says why: the caller then opens the store as before. The records must
// be as many as the sealed projection's summary of the ceremony counts
// (nothing left out); a ceremony in neither is not found, as through the
// server. A ceremony whose step deadline has passed is left to the
// server path, which records the timeout.
func (c *common) readSealedOne(ctx context.Context, out io.Writer, id string) (one oneCeremony, used bool, err error) {
	t0 := time.Now()
	cfg, notes, ok := c.sealedConfig("locator")
	if !ok {
		return oneCeremony{}, false, nil
	}
	fallBack := func(format string, args ...any) (oneCeremony, bool, error) {
		debugf("locator not used ("+format+"): starting the event store", args...)
		return oneCeremony{}, false, nil
	}
	sc, err := jetstream.ReadSealedCeremony(cfg, id, kinds.PartMeta, kinds.PartCeremonies)
	if err != nil {
		return fallBack("%v", err)
	}
	sp := sc.Projection
	cp, err := decodeSealed(sp, kinds.PartCeremonies)
	if err != nil {
		return fallBack("%v", err)
	}
	i := slices.IndexFunc(cp.Ceremonies, func(s engine.CeremonySummary) bool { return s.ID == id })
	switch {
	case i < 0 && len(sc.Records) == 0:
		debugf("locator used: no ceremony %s at stream sequence %d, read in %v without starting the event store", id, sp.LastSeq, time.Since(t0))
		out.Write(notes)
		return oneCeremony{}, true, notFound(id)
	case i < 0:
		return fallBack("the locator has %d events of ceremony %s, the sealed projection has no such ceremony", len(sc.Records), id)
	case uint64(len(sc.Records)) != cp.Ceremonies[i].Events:
		return fallBack("the locator has %d events of ceremony %s, the sealed projection counts %d", len(sc.Records), id, cp.Ceremonies[i].Events)
	}
	ecfg := kinds.NewViews().EngineConfig(sealedRecords{id: id, recs: sc.Records})
	ecfg.Passive = true // a read changes nothing
	eng, err := engine.New(ecfg)
	if err != nil {
		return fallBack("%v", err)
	}
	inst, err := eng.OpenCeremony(ctx, id)
	if err != nil {
		eng.Close()
		return fallBack("%v", err)
	}
	got, want := inst.Summary(), cp.Ceremonies[i]
	if got.Kind != want.Kind || got.Phase != want.Phase || got.Ended != want.Ended || got.OpenStep != want.OpenStep {
		eng.Close()
		return fallBack("ceremony %s folds to %s/%s, the sealed projection says %s/%s", id, got.Kind, got.Phase, want.Kind, want.Phase)
	}
	if got.OpenStep != "" && !got.Deadline.After(time.Now()) {
		eng.Close()
		return fallBack("step %s of ceremony %s is past its deadline, which the event store records", got.OpenStep, id)
	}
	debugf("locator used: %d events of ceremony %s at stream sequence %d, read in %v without starting the event store", len(sc.Records), id, sp.LastSeq, time.Since(t0))
	out.Write(notes)
	records := func(context.Context) ([]events.Record, error) { return sc.Records, nil }
	return oneCeremony{inst: inst, records: records, close: func() { eng.Close() }}, true, nil
}

// sealedRecords is a read-only events.Store of one ceremony's records,
// read from the block files (readSealedOne).
type sealedRecords struct {
	id   string
	recs []events.Record
}

var errSealedReadOnly = errors.New("the ceremony was read from the sealed store's files: nothing can be appended or replayed")

func (s sealedRecords) Append(context.Context, string, string, uint64, []byte) (uint64, error) {
	return 0, errSealedReadOnly
}

func (s sealedRecords) Load(_ context.Context, id string) ([]events.Record, error) {
	if id != s.id {
		return nil, nil
	}
	return s.recs, nil
}

func (s sealedRecords) Replay(context.Context, uint64, func(events.Record) error) error {
	return errSealedReadOnly
}
