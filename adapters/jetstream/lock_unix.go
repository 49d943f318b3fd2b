//go:build unix

package jetstream

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockDir takes an exclusive kernel lock (flock) on the store directory
// itself, through an open descriptor of it, so that two stores (in this
// process or another) never run on one directory: each would check
// expectations against its own state, and both would write the same
// files. A directory in use cannot be removed and replaced by an
// unlocked one while holding files, and deleting the holder file (path)
// releases nothing: the lock is on the directory. The lock is held until
// release; the OS drops it if the process dies. The holder writes who it
// is into path (pid, command line, since when), so that a refused process
// can name it.
func lockDir(path string) (release func() error, err error) {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("jetstream: open store directory %s to lock it: %w", dir, err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		holder := readHolder(path)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("jetstream: %w: %s (lock on directory %s)", ErrLocked, holder, dir)
		}
		return nil, fmt.Errorf("jetstream: lock directory %s: %w", dir, err)
	}
	if err := writeHolder(path); err != nil {
		d.Close()
		return nil, fmt.Errorf("jetstream: holder file %s: %w", path, err)
	}
	return func() error {
		// Say nobody holds it before letting go.
		rerr := os.Remove(path)
		if errors.Is(rerr, os.ErrNotExist) {
			rerr = nil
		}
		return errors.Join(rerr, d.Close())
	}, nil
}

// writeHolder writes this process's pid, command line and the time into
// the holder file.
func writeHolder(path string) error {
	text := fmt.Sprintf("pid %d, command %q, since %s", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
	return os.WriteFile(path, []byte(text+"\n"), 0o600)
}

// readHolder returns what the holder wrote, or says it is unknown.
func readHolder(path string) string {
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, 4096))
		if text := strings.TrimSpace(string(b)); err == nil && text != "" {
			return "held by " + text
		}
	}
	return "held by a process that did not say who it is (its holder file " + path + " is gone)"
}
