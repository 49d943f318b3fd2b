//go:build unix

package jetstream

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// lockDir takes an exclusive lock on the file path, so that two stores
// (in this process or another) never run on one directory: each would
// check expectations against its own state, and both would write the same
// files. The lock is held until release; the OS drops it if the process
// dies. The holder writes who it is into the file (pid, command line,
// since when), so that a refused process can name it.
func lockDir(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jetstream: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("jetstream: %w: %s (lock %s)", ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("jetstream: lock %s: %w", path, err)
	}
	if err := writeHolder(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("jetstream: lock file %s: %w", path, err)
	}
	return func() error {
		// Say nobody holds it before letting go.
		terr := f.Truncate(0)
		return errors.Join(terr, f.Close())
	}, nil
}

// writeHolder replaces the lock file's content with this process's pid,
// command line and the time.
func writeHolder(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	text := fmt.Sprintf("pid %d, command %q, since %s", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
	_, err := f.WriteAt([]byte(text+"\n"), 0)
	return err
}

// readHolder returns what the holder wrote, or says it is unknown.
func readHolder(f *os.File) string {
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if text := strings.TrimSpace(string(b)); err == nil && text != "" {
		return "held by " + text
	}
	return "held by a process that did not say who it is"
}
