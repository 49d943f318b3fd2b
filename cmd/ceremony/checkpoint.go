package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
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

// checkLog reads the stream into the log's tree and checks it against the
// tree's hash file, the newest checkpoint and the given checkpoint files.
func (a *app) checkLog(ctx context.Context, extra ...string) error {
	if a.tlog == nil {
		return nil
	}
	if err := a.tlog.Sync(ctx, a.store); err != nil {
		return &codeError{exitAltered, fmt.Errorf("the event store's history: %w; restore the data directory from a backup ('ceremony store restore') or ask a cluster peer", err)}
	}
	if err := a.tlog.Check(extra...); err != nil {
		return &codeError{exitAltered, fmt.Errorf("%w; restore the data directory from a backup ('ceremony store restore') or ask a cluster peer", err)}
	}
	return nil
}

// damageAdvice says what to do about a damaged store.
const damageAdvice = "restore the data directory from a backup ('ceremony store restore BACKUP --data-dir NEW-DIR') or ask a cluster peer, and keep the damaged directory as it is for investigation"

// historyCheck checks the history a store holds against the data
// directory's transparency log (the tree's hashes, the newest
// checkpoint). Open runs it on a copy of the store's files before the
// server starts on them (jetstream.Config.Check).
func historyCheck(dataDir string) func(context.Context, *jetstream.Store) error {
	return func(ctx context.Context, s *jetstream.Store) error {
		tl, err := openTranslog(dataDir, s.StreamName())
		if err != nil || tl == nil {
			return err
		}
		if err := tl.Sync(ctx, s); err != nil {
			return fmt.Errorf("the history it holds: %w", err)
		}
		return tl.Check()
	}
}

// damaged gives a damaged store's error its exit code and advice.
func damaged(where string, err error) error {
	return &codeError{exitAltered, fmt.Errorf("open the event store %s: %w; %s", where, err, damageAdvice)}
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
