package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// Files of a store backup: every stored event's bytes in stream order, one
// a line, and the signed checkpoint of them.
const (
	backupEvents     = "events.jsonl"
	backupCheckpoint = "checkpoint"
)

func newStoreCmd() *cobra.Command {
	return group("store", "Back up the event store and restore it",
		`Back up the event store to a directory (backup) and restore a backup into
an empty data directory (restore). A backup holds every stored event in
stream order and the signed checkpoint of them; a restore is checked
against that checkpoint before anything is written.`,
		newStoreBackupCmd(), newStoreRestoreCmd())
}

func newStoreBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Back up the event store into a new directory DIR",
		Long: `Write a consistent backup of the event store into DIR (new or empty):
events.jsonl holds every stored event, byte for byte, in stream order, up
to the signed checkpoint in checkpoint (the newest stored one when it
covers the stream, otherwise one signed for the backup). The store is
checked against its tree hashes and checkpoints first, and no file of the
data directory is changed. Needs the station's audit key ('ceremony audit
key --create'): the checkpoint is what a restore is checked against.`,
		Example: `  ceremony store backup /mnt/backup/ceremony-2026-12-02`,
		Args:    oneArg("the backup directory"),
	}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		dir := pos[0]
		if err := newOrEmptyDir(dir); err != nil {
			return err
		}
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		if a.tlog == nil {
			return usagef("store backup needs the station's audit key (the backup's checkpoint is signed with it): 'ceremony audit key --create'")
		}
		cp, n, err := writeBackup(ctx, a.store, a.tlog, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "backed up %d events to %s; checkpoint: %s\n", n, dir, checkpointLine(cp))
		return nil
	}
	return cmd
}

func newStoreRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore DIR",
		Short: "Restore a backup into an empty data directory (--data-dir)",
		Long: `Restore the backup in DIR ('ceremony store backup') into --data-dir, which
must be new or empty. The backup's checkpoint is checked with the
station's audit key and its events against the checkpoint's root hash
before anything is written; then the events are stored in their order,
the restored store is checked against the checkpoint again, and the
checkpoint is kept in the new data directory. A backup that fails a check
exits 6 naming what differs, and writes nothing.

The checkpoint's key is the station's audit key file, or --public-key:
the key that signs the station's checkpoints when it is the HSM's ('audit
key --hsm pkcs11' prints it); the backup's checkpoint is then kept as it
is, and that key is recorded for the new data directory's checkpoints.`,
		Example: `  ceremony store restore /mnt/backup/ceremony-2026-12-02 --data-dir /var/lib/ceremony-restored`,
		Args:    oneArg("the backup directory"),
	}
	c := storeFlags(cmd)
	pubKey := cmd.Flags().String("public-key", "", "the public key (hex or a file holding it) that signed the backup's checkpoint, when it is not the audit key file's (the HSM's audit key)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if c.dataDir == "" || len(c.nats.urls) > 0 {
			return usagef("store restore needs --data-dir of a new or empty directory (not --nats)")
		}
		if err := newOrEmptyDir(c.dataDir); err != nil {
			return err
		}
		var pub ed25519.PublicKey
		if *pubKey != "" {
			var err error
			if pub, err = keyfile.ParsePublic(*pubKey); err != nil {
				return usagef("--public-key: %v", err)
			}
		} else {
			keyPath, err := defaultKeyFile()
			if err != nil {
				return err
			}
			if _, err := os.Stat(keyPath); err != nil {
				return usagef("store restore checks the backup with the station's audit key %s: %v; give --public-key when the HSM's key signs the checkpoints", keyPath, err)
			}
			signer, _, err := keyfile.LoadOrCreate(keyPath)
			if err != nil {
				return fmt.Errorf("store restore: the audit key: %w", err)
			}
			pub = signer.Public()
		}
		msg, err := os.ReadFile(filepath.Join(pos[0], backupCheckpoint))
		if err != nil {
			return fmt.Errorf("store restore: %w (is %s a backup?)", err, pos[0])
		}
		// Check the backup against its checkpoint before any write,
		// reading the events file as a stream (a pass to check, a pass to
		// store), never whole into memory.
		eventsPath := filepath.Join(pos[0], backupEvents)
		var tree translog.Tree
		err = eachBackupLine(eventsPath, func(i int, l []byte) error {
			return tree.Append(events.Record{Seq: uint64(i) + 1, Data: l})
		})
		if err != nil {
			return err
		}
		cp, err := translog.Open(msg, pub)
		if err != nil {
			return &codeError{exitAltered, fmt.Errorf("store restore: %s: %w; nothing was restored", backupCheckpoint, err)}
		}
		// The origin names the stream and the key: a backup of another
		// station's log is refused before the data directory is made.
		if want := translog.Origin(jetstream.DefaultStream, pub); cp.Origin != want {
			return &codeError{exitAltered, fmt.Errorf("store restore: %s is of log %q, not of this station's log %q (another station's backup, or another audit key); nothing was restored", backupCheckpoint, cp.Origin, want)}
		}
		if tree.Size() != cp.Size {
			return &codeError{exitAltered, fmt.Errorf("store restore: %s holds %d events, the checkpoint %d (events %s)", backupEvents, tree.Size(), cp.Size, missingOrExtra(tree.Size(), cp.Size))}
		}
		if root, _ := tree.Root(cp.Size); root != cp.Root {
			return &codeError{exitAltered, fmt.Errorf("store restore: the %d events of %s hash to root %x, the checkpoint says %s: an event was changed, inserted or reordered; nothing was restored", cp.Size, backupEvents, root, cp.RootHex())}
		}
		a, _, err := c.connect(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		if a.tlog == nil || !a.tlog.Public().Equal(pub) {
			a.tlog = translog.NewLogAt(a.cpDir, a.store.StreamName(), pub, nil) // it checks; the backup's checkpoint is kept
		}
		if cp.Origin != a.tlog.Origin() {
			return &codeError{exitAltered, fmt.Errorf("store restore: %s is of log %q, not of this station's stream; nothing was restored", backupCheckpoint, cp.Origin)}
		}
		last := map[string]uint64{}
		err = eachBackupLine(eventsPath, func(i int, l []byte) error {
			e, err := events.Decode(l)
			if err != nil {
				return fmt.Errorf("store restore: %s line %d: %w", backupEvents, i+1, err)
			}
			seq, err := a.store.Append(ctx, e.CeremonyID, e.ID, last[e.CeremonyID], l)
			if err != nil {
				return fmt.Errorf("store restore: store %s line %d: %w", backupEvents, i+1, err)
			}
			if seq != uint64(i)+1 {
				return fmt.Errorf("store restore: %s line %d was stored at stream sequence %d: the data directory was not empty", backupEvents, i+1, seq)
			}
			last[e.CeremonyID] = seq
			return nil
		})
		if err != nil {
			return err
		}
		// The restored store, read back, must give the checkpoint's root.
		path := filepath.Join(pos[0], backupCheckpoint)
		if err := a.checkLog(ctx, path); err != nil {
			return err
		}
		if a.tlog.CanSign() {
			a.checkpoint(ctx, out, "after the restore") // the tree's hashes and the checkpoint, in the new data directory
		} else if _, file, err := a.tlog.Adopt(msg, time.Now()); err != nil {
			return fmt.Errorf("store restore: keep the backup's checkpoint: %w", err)
		} else {
			fmt.Fprintf(out, "Checkpoint (the backup's, kept): %s\n", file)
		}
		fmt.Fprintf(out, "restored %d events into %s; checked against the checkpoint: %s\n", cp.Size, c.dataDir, checkpointLine(cp))
		return nil
	}
	return cmd
}

// writeBackup writes a backup of the stream r into dir (made if missing;
// its files must not exist): every event up to the log's current
// checkpoint (tl.Current: call it after a Sync), byte for byte, one a
// line, and the signed checkpoint with its co-signatures; both files are
// fsynced. The events written must give the checkpoint's root.
func writeBackup(ctx context.Context, r translog.Replayer, tl *translog.Log, dir string) (translog.Checkpoint, int64, error) {
	cp, signed, _, err := tl.Current()
	if err != nil {
		return cp, 0, fmt.Errorf("store backup: the checkpoint of the event store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cp, 0, fmt.Errorf("store backup: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, backupEvents), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return cp, 0, fmt.Errorf("store backup: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	var tree translog.Tree
	rerr := r.Replay(ctx, 1, func(r events.Record) error {
		if int64(r.Seq) > cp.Size {
			return nil // after the checkpoint: the next backup has it
		}
		if err := tree.Append(r); err != nil {
			return err
		}
		w.Write(r.Data)
		return w.WriteByte('\n')
	})
	ferr := w.Flush()
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(rerr, ferr, serr, cerr); err != nil {
		return cp, 0, fmt.Errorf("store backup: write %s: %w (the backup in %s is incomplete: delete it)", f.Name(), err, dir)
	}
	n := tree.Size()
	if n != cp.Size {
		return cp, n, fmt.Errorf("store backup: read %d events, the checkpoint covers %d (the backup in %s is incomplete: delete it)", n, cp.Size, dir)
	}
	if root, err := tree.Root(n); err != nil || root != cp.Root {
		return cp, n, fmt.Errorf("store backup: the %d events read do not give the checkpoint's root %s (the backup in %s is not usable: delete it; 'ceremony audit verify-store' says more)", n, cp.RootHex(), dir)
	}
	if err := writeSynced(filepath.Join(dir, backupCheckpoint), signed); err != nil {
		return cp, n, fmt.Errorf("store backup: %w", err)
	}
	return cp, n, nil
}

// eachBackupLine calls fn with each line of a backup's events file (its
// number from 0, without the newline), reading it as a stream. A last
// line without a newline is a truncated file (exit 6).
func eachBackupLine(path string, fn func(i int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store restore: %w (is %s a backup?)", err, filepath.Dir(path))
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for i := 0; ; i++ {
		l, err := r.ReadBytes('\n')
		if err == io.EOF && len(l) == 0 {
			return nil
		}
		if err == io.EOF {
			return &codeError{exitAltered, fmt.Errorf("store restore: %s line %d has no end: the file was truncated", backupEvents, i+1)}
		}
		if err != nil {
			return fmt.Errorf("store restore: read %s: %w", path, err)
		}
		if err := fn(i, l[:len(l)-1]); err != nil {
			return err
		}
	}
}

func missingOrExtra(have, want int64) string {
	if have < want {
		return fmt.Sprintf("%d-%d are missing", have+1, want)
	}
	return fmt.Sprintf("%d-%d are not in the checkpoint", want+1, have)
}

// newOrEmptyDir refuses a directory that holds anything.
func newOrEmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if len(ents) > 0 {
		return usagef("%s is not empty: give a new or empty directory (nothing in it is overwritten)", dir)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(werr, serr, cerr)
}
