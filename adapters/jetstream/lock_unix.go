//go:build unix

package jetstream

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the file path, so that two stores
// (in this process or another) never run on one directory: each would
// check expectations against its own state, and both would write the same
// files. The lock is held until release; the OS drops it if the process dies.
func lockDir(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jetstream: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("jetstream: data directory is in use by another event store (lock %s is held)", path)
		}
		return nil, fmt.Errorf("jetstream: lock %s: %w", path, err)
	}
	return f.Close, nil
}
