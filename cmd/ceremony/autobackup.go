package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/spf13/pflag"

	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// backupFlags ask for an automatic store backup after every completed
// ceremony (ARCHITECTURE.md, "Audit").
type backupFlags struct {
	dir  string
	keep int
	fs   *pflag.FlagSet
}

func (b *backupFlags) register(fs *pflag.FlagSet) {
	b.fs = fs
	fs.StringVar(&b.dir, "backup-dir", "", "after every completed ceremony, back the event store up (as 'ceremony store backup') into a new directory under DIR, meant for another disk; a failed backup is a warning and a health finding, never a failed ceremony")
	fs.IntVar(&b.keep, "backup-keep", 7, "with --backup-dir: how many automatic backups to keep; older ones are deleted after a new one is complete, never the newest good one")
}

// autoBackup returns the automatic backup the flags ask for, nil for
// none, or a usage error. warn is where a failure is said (stderr).
func (b *backupFlags) autoBackup(warn io.Writer) (*autoBackup, error) {
	if b.dir == "" {
		if b.fs != nil && b.fs.Changed("backup-keep") {
			return nil, usagef("--backup-keep needs --backup-dir DIR")
		}
		return nil, nil
	}
	if b.keep < 1 {
		return nil, usagef("--backup-keep %d: keep at least 1 backup", b.keep)
	}
	return &autoBackup{dir: b.dir, keep: b.keep, warn: warn}, nil
}

// autoBackup makes a store backup into a new directory under dir after
// every completed ceremony and keeps the last keep of them.
type autoBackup struct {
	dir  string
	keep int
	warn io.Writer
}

// backupName names an automatic backup: its time and the events it
// holds; names sort in the order the backups were made.
var backupName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9]{12}$`)

// partialPrefix starts the name of a backup being written: it is renamed
// to its backupName once complete and fsynced.
const partialPrefix = ".partial-"

// run backs the store up (r read in order, tl the log, synced, whose
// checkpoint the backup holds) into a new directory under b.dir, then
// deletes the oldest complete backups beyond b.keep. A failure is said on
// b.warn and recorded for 'ceremony health' in statusDir; it never fails
// the caller.
func (b *autoBackup) run(ctx context.Context, r translog.Replayer, tl *translog.Log, statusDir string, out io.Writer, now time.Time) {
	path, cp, err := b.make(ctx, r, tl, now)
	st := backupStatus{Time: now.UTC(), Dir: b.dir, OK: err == nil}
	if err != nil {
		st.Error = err.Error()
		fmt.Fprintf(b.warn, "WARNING: the automatic backup into %s failed: %v; the ceremony is not affected; 'ceremony health' lists it until a backup succeeds\n", b.dir, err)
	} else {
		st.Path, st.Events = path, cp.Size
		fmt.Fprintf(out, "Automatic backup: %d events to %s; checkpoint: %s\n", cp.Size, path, checkpointLine(cp))
		if err := b.prune(filepath.Base(path)); err != nil {
			fmt.Fprintf(b.warn, "WARNING: the automatic backup is complete, the old ones are not all deleted: %v\n", err)
		}
	}
	if err := writeBackupStatus(statusDir, st); err != nil {
		fmt.Fprintf(b.warn, "WARNING: %v\n", err)
	}
}

// make writes the backup into DIR/.partial-NAME and renames it DIR/NAME
// once its files are fsynced; the directory is fsynced after.
func (b *autoBackup) make(ctx context.Context, r translog.Replayer, tl *translog.Log, now time.Time) (string, translog.Checkpoint, error) {
	if tl == nil {
		return "", translog.Checkpoint{}, errors.New("the station has no audit key, and a backup holds the checkpoint signed with it: 'ceremony audit key --create'")
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return "", translog.Checkpoint{}, fmt.Errorf("create the backup directory: %w", err)
	}
	cp, _, _, err := tl.Current()
	if err != nil {
		return "", translog.Checkpoint{}, err
	}
	name := fmt.Sprintf("%s-%012d", now.UTC().Format("20060102T150405.000000000Z"), cp.Size)
	partial := filepath.Join(b.dir, partialPrefix+name)
	if _, _, err := writeBackup(ctx, r, tl, partial); err != nil {
		if rerr := os.RemoveAll(partial); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("%w (the partial backup %s is left: delete it)", err, partial)
		}
		return "", translog.Checkpoint{}, err
	}
	final := filepath.Join(b.dir, name)
	if err := os.Rename(partial, final); err != nil {
		return "", translog.Checkpoint{}, fmt.Errorf("complete the backup: %w", err)
	}
	if err := syncDirectory(b.dir); err != nil {
		return "", translog.Checkpoint{}, err
	}
	return final, cp, nil
}

// prune deletes the oldest complete automatic backups beyond b.keep,
// never newest (the one just made).
func (b *autoBackup) prune(newest string) error {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && backupName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var errs []error
	for len(names) > b.keep {
		old := names[0]
		names = names[1:]
		if old == newest {
			continue
		}
		if err := os.RemoveAll(filepath.Join(b.dir, old)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return syncDirectory(b.dir)
	}
	return errors.Join(errs...)
}

func syncDirectory(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", dir, err)
	}
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// backupStatusFile, in the station's directory (the data directory; with
// --nats the directory holding the checkpoints directory), records the
// last automatic backup: 'ceremony health' reports a failed one.
const backupStatusFile = "autobackup.json"

type backupStatus struct {
	Time   time.Time `json:"time"`
	Dir    string    `json:"dir"`
	OK     bool      `json:"ok"`
	Path   string    `json:"path,omitempty"`
	Events int64     `json:"events,omitempty"`
	Error  string    `json:"error,omitempty"`
}

func writeBackupStatus(dir string, st backupStatus) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("record the automatic backup's outcome: %w", err)
	}
	tmp := filepath.Join(dir, "."+backupStatusFile+".tmp")
	_ = os.Remove(tmp)
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("record the automatic backup's outcome in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, backupStatusFile)); err != nil {
		return fmt.Errorf("record the automatic backup's outcome: %w", err)
	}
	return syncDirectory(dir)
}

// backupFindings returns a finding when the last automatic backup
// recorded in dir failed.
func backupFindings(dir string) []health.Finding {
	b, err := os.ReadFile(filepath.Join(dir, backupStatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var st backupStatus
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return []health.Finding{{Severity: health.Warning, Subject: "automatic backup", What: fmt.Sprintf("the record of the last automatic backup, %s, cannot be read: %v", filepath.Join(dir, backupStatusFile), err), Recovery: "run 'ceremony store backup DIR' by hand and check the backup disk"}}
	}
	if st.OK {
		return nil
	}
	return []health.Finding{{Severity: health.Warning, Subject: "automatic backup",
		What:     fmt.Sprintf("last automatic backup failed: %s (at %s, into %s)", st.Error, st.Time.Format(time.RFC3339), st.Dir),
		Recovery: fmt.Sprintf("make %s writable and give it space (another disk), then run 'ceremony store backup DIR' by hand; the next completed ceremony backs up again", st.Dir)}}
}

// backupAfter makes the automatic backup, when one is asked for, after
// a completed ceremony: first a checkpoint of what is stored, when this
// command has the audit key.
func (a *app) backupAfter(ctx context.Context, out io.Writer) {
	if a.backup == nil {
		return
	}
	if a.tlog != nil {
		if a.tlog.CanSign() {
			a.checkpoint(ctx, out, "for the automatic backup")
		} else if err := a.tlog.Sync(ctx, a.store); err != nil {
			fmt.Fprintf(a.backup.warn, "WARNING: read the stream for the automatic backup: %v\n", err)
		}
	}
	a.backup.run(context.WithoutCancel(ctx), a.store, a.tlog, filepath.Dir(string(a.cpDir)), out, time.Now())
}
