package main

import (
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies/pgpwords"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// exportCheckpoint gives the export w the checkpoint of the stream (see
// translog.Log.Current) and returns the function that adds the records it
// covers. Without an audit key the export has no checkpoint, and says so.
func exportCheckpoint(a *app, w *export.Writer, out io.Writer) (func(events.Record) error, error) {
	if a.tlog == nil {
		fmt.Fprintln(out, "Note: no audit key: the export holds no checkpoint of the event store; 'ceremony audit key --create' makes one.")
		return w.Add, nil
	}
	c, signed, stored, err := a.tlog.Current()
	if err != nil {
		return nil, fmt.Errorf("audit export: the checkpoint of the event store: %w", err)
	}
	if err := w.SetCheckpoint(export.Checkpointed{Signed: signed, Checkpoint: c, Public: a.tlog.Public(), Tree: a.tlog.Tree()}); err != nil {
		return nil, err
	}
	how := "the newest in " + string(a.tlog.Dir())
	if !stored {
		how = "signed for this export"
	}
	fmt.Fprintf(out, "Checkpoint (%s): %s\n", how, checkpointLine(c))
	size := uint64(c.Size)
	return func(r events.Record) error {
		if r.Seq > size {
			return nil // appended after the checkpoint: the next export has it
		}
		return w.Add(r)
	}, nil
}

// checkpointLine names a checkpoint: size, root hash in hex and as PGP
// words (read aloud, as for the ceremony's hashes).
func checkpointLine(c translog.Checkpoint) string {
	return fmt.Sprintf("%d events, root %s (%s)", c.Size, c.RootHex(), pgpwords.Encode(c.Root[:]))
}

// reportCheckpoint is the checkpoint a ceremony report lists.
type reportCheckpoint struct {
	Origin, Root, Words, How string
	Size                     int64
}

// reportCheckpointOf returns the signed checkpoint of the stream that
// covers stream sequence last (the ceremony's last event), or nil when
// the station has no audit key.
func reportCheckpointOf(a *app, last uint64) (*reportCheckpoint, error) {
	if a.tlog == nil {
		return nil, nil
	}
	c, _, stored, err := a.tlog.Current()
	if err != nil {
		return nil, fmt.Errorf("report: the checkpoint of the event store: %w", err)
	}
	if uint64(c.Size) < last {
		return nil, fmt.Errorf("report: the checkpoint of %d events does not cover the ceremony's last event (stream sequence %d): run the command again", c.Size, last)
	}
	how := "the newest in " + string(a.tlog.Dir())
	if !stored {
		how = "signed for this report, stored nowhere"
	}
	return &reportCheckpoint{Origin: c.Origin, Root: c.RootHex(), Words: pgpwords.Encode(c.Root[:]), How: how, Size: c.Size}, nil
}
