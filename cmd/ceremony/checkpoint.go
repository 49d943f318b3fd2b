package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// checkpointInterval is the longest time between two checkpoints while
// events arrive.
const checkpointInterval = time.Minute

// openTranslog returns the transparency log of a data directory, signed by
// the station's audit key (the default key file, 'ceremony audit key
// --create'), or nil when the station has no audit key (a writer says so
// at close: see checkpoint).
func openTranslog(dataDir, stream string) (*translog.Log, error) {
	path, err := defaultKeyFile()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	s, _, err := keyfile.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("the audit key for checkpoints: %w", err)
	}
	return translog.NewLog(dataDir, stream, s), nil
}

// checkLog recomputes the log's tree from the whole stream and checks it
// against the tree's hash file, the newest checkpoint and the given
// checkpoint files ('audit verify-store', 'store restore').
func (a *app) checkLog(ctx context.Context, extra ...string) error {
	if a.tlog == nil {
		return nil
	}
	a.tlog.Reset()
	return a.verifyLog(ctx, a.tlog.Sync, extra...)
}

// resumeLog, at every open, takes the tree from its hash file, checks the
// file's last leaf and the events after it, and the newest checkpoint
// (ARCHITECTURE.md, "Audit"): opening does not grow with history.
func (a *app) resumeLog(ctx context.Context) error {
	if a.tlog == nil {
		return nil
	}
	return a.verifyLog(ctx, a.tlog.Resume)
}

func (a *app) verifyLog(ctx context.Context, sync func(context.Context, translog.Replayer) error, extra ...string) error {
	if err := sync(ctx, a.store); err != nil {
		return &codeError{exitAltered, fmt.Errorf("the event store's history: %w; restore the data directory from a backup ('ceremony store restore') or ask a cluster peer", err)}
	}
	if err := a.tlog.Check(extra...); err != nil {
		return &codeError{exitAltered, fmt.Errorf("%w; restore the data directory from a backup ('ceremony store restore') or ask a cluster peer", err)}
	}
	return nil
}

// checkpoint writes a signed checkpoint of the stream when it grew, and
// says so on out. Only a command that writes the store calls it.
func (a *app) checkpoint(ctx context.Context, out io.Writer, why string) {
	if a.tlog == nil {
		if why == "at shutdown" && a.dataDir != "" {
			fmt.Fprintln(out, "Note: no audit key: no checkpoint of the event store was written; 'ceremony audit key --create' makes one.")
		}
		return
	}
	c, _, path, err := a.tlog.Checkpoint(context.WithoutCancel(ctx), a.store, time.Now())
	if err != nil {
		fmt.Fprintf(out, "WARNING: no checkpoint written (%s): %v\n", why, err)
		return
	}
	if path != "" {
		fmt.Fprintf(out, "Checkpoint (%s): %d events, root %s, %s\n", why, c.Size, c.RootHex(), path)
	}
}

// checkpointEvery writes a checkpoint every interval while the stream
// grows, until ctx is done.
func (a *app) checkpointEvery(ctx context.Context, out io.Writer) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.checkpoint(ctx, out, "every minute")
		}
	}
}
