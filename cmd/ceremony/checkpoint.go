package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// checkpointInterval is the longest time between two checkpoints while
// events arrive.
const checkpointInterval = time.Minute

// cpDirFor is the checkpoints directory of the store c opens: the data
// directory's checkpoints/; with --nats (the stream is on the cluster)
// this station's own: --checkpoint-dir, else checkpoints/ in the data
// directory this station would use ($CEREMONY_DATA_DIR, else
// ./ceremony-data). Each station keeps the checkpoints it signs of the
// cluster's stream (ARCHITECTURE.md, "Audit").
func (c *common) cpDirFor() translog.Dir {
	if len(c.nats.urls) == 0 {
		return translog.Dir(filepath.Join(c.dataDir, translog.DirName))
	}
	if c.nats.checkpointDir != "" {
		return translog.Dir(c.nats.checkpointDir)
	}
	dir := os.Getenv(dataDirEnv)
	if dir == "" {
		dir = defaultDataDir
	}
	return translog.Dir(filepath.Join(dir, translog.DirName))
}

// openTranslog returns the transparency log of a checkpoints directory.
// Its checkpoints verify under the key recorded in the directory
// (translog.KeyFileName), or, before the first checkpoint, under the
// station's audit key file (the default key file, 'ceremony audit key
// --create'). The key file signs new checkpoints when it is that key; a
// log whose key is the HSM's signs only once the HSM is open
// (useHSMAuditKey). nil: no key recorded and no key file (a writer says
// so at close: see checkpoint).
func openTranslog(dir translog.Dir, stream string) (*translog.Log, error) {
	rec, recorded, err := dir.RecordedKey()
	if err != nil {
		return nil, err
	}
	var s translog.Signer
	path, err := defaultKeyFile()
	if err != nil && !recorded {
		return nil, err
	}
	if err == nil {
		if _, serr := os.Stat(path); serr == nil {
			ks, _, err := keyfile.LoadOrCreate(path)
			if err != nil {
				return nil, fmt.Errorf("the audit key for checkpoints: %w", err)
			}
			s = ks
		}
	}
	switch {
	case recorded && s != nil && s.Public().Equal(rec):
		return translog.NewLogAt(dir, stream, rec, s), nil
	case recorded:
		return translog.NewLogAt(dir, stream, rec, nil), nil
	case s != nil:
		return translog.NewLogAt(dir, stream, s.Public(), s), nil
	}
	return nil, nil
}

// useHSMAuditKey makes the audit key in the HSM h sign the store's
// checkpoints (see withHSMAuditKey). Call it after the store is open.
func (a *app) useHSMAuditKey(ctx context.Context, h ceremonies.HSM, out io.Writer) error {
	tl, err := withHSMAuditKey(ctx, h, a.cpDir, a.store.StreamName(), a.tlog, out)
	if err != nil {
		return err
	}
	a.tlog = tl
	return nil
}

// withHSMAuditKey returns the log of dir whose checkpoints the audit key
// in the HSM h (a PKCS#11 token; made there on first use, as for exports)
// signs, when no other key does: none is recorded for the directory and
// no checkpoint is written yet, or the recorded key is the token's.
// Otherwise tl stays as it is (a software HSM has no audit key); a
// recorded key that is not the token's is an error naming both.
func withHSMAuditKey(ctx context.Context, h ceremonies.HSM, dir translog.Dir, stream string, tl *translog.Log, out io.Writer) (*translog.Log, error) {
	p, ok := h.(*pkcs11hsm.HSM)
	if !ok {
		return tl, nil
	}
	rec, recorded, err := dir.RecordedKey()
	if err != nil {
		return tl, err
	}
	files, err := dir.Files()
	if err != nil {
		return tl, err
	}
	if tl != nil && tl.CanSign() && (recorded || len(files) > 0) {
		return tl, nil // the key file signs this store's checkpoints
	}
	s, created, err := p.AuditSigner(ctx)
	if err != nil {
		return tl, fmt.Errorf("the HSM's audit key for checkpoints: %w", err)
	}
	if created {
		fmt.Fprintf(out, "created the audit signing key in %s (Ed25519, not extractable): it signs the checkpoints\n", h.Name())
	}
	if recorded {
		if !rec.Equal(s.Public()) {
			return tl, &translog.KeyMismatchError{Dir: dir, Recorded: rec, Given: s.Public()}
		}
		return tl, tl.SetSigner(s)
	}
	return translog.NewLogAt(dir, stream, s.Public(), s), nil
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

// damageAdvice says what to do about a damaged store.
const damageAdvice = "restore the data directory from a backup ('ceremony store restore BACKUP --data-dir NEW-DIR') or ask a cluster peer, and keep the damaged directory as it is for investigation"

// historyCheck checks the history a store holds against the data
// directory's transparency log (the tree's hashes, the newest
// checkpoint). Open runs it on a copy of the store's files before the
// server starts on them (jetstream.Config.Check).
func historyCheck(dir translog.Dir) func(context.Context, *jetstream.Store) error {
	return func(ctx context.Context, s *jetstream.Store) error {
		tl, err := openTranslog(dir, s.StreamName())
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
	if errors.Is(err, translog.ErrNoSigner) {
		fmt.Fprintf(out, "Note: no checkpoint written (%s): the checkpoints in %s are signed by the audit key %x, which this command has not: give --hsm pkcs11 with the token that holds it, or let 'ceremony serve' (which has it) write them.\n", why, a.cpDir, []byte(a.tlog.Public()))
		return
	}
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
