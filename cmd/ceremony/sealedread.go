package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
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
	var notes bytes.Buffer
	cfg, _, err := c.storeConfig(&notes)
	if err != nil {
		return nil // opening the store says what is wrong
	}
	if cfg.DataDir == "" {
		debugf("sealed projection file not used (the store is a service's or a cluster's): connecting")
		return nil
	}
	sp, err := jetstream.ReadSealedProjection(cfg, append([]string{kinds.PartMeta}, parts...)...)
	if err != nil {
		debugf("sealed projection file not used (%v): starting the event store", err)
		return nil
	}
	cp, err := kinds.DecodeCheckpoint(sp.Parts, sp.Stream, parts...)
	if err != nil {
		debugf("sealed projection file not used (%v): starting the event store", err)
		return nil
	}
	if cp.Seq != sp.LastSeq {
		debugf("sealed projection file not used (it covers stream sequence %d, the sealed stream ends at %d): starting the event store", cp.Seq, sp.LastSeq)
		return nil
	}
	debugf("sealed projection file used: stream sequence %d, read in %v without starting the event store", cp.Seq, time.Since(t0))
	out.Write(notes.Bytes())
	return &cp
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
