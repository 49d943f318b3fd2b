//go:build unix

package translog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lock takes an exclusive kernel lock (flock) on the checkpoints
// directory, so that two processes writing checkpoints of one store (a
// 'ceremony serve' and a command of its clients) never append to the
// tree's hashes at once. It waits for the other writer. The directory is
// made if missing.
func (d Dir) lock() (unlock func(), err error) {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return nil, fmt.Errorf("translog: create the checkpoints directory %s: %w", d, err)
	}
	f, err := os.Open(string(d))
	if err != nil {
		return nil, fmt.Errorf("translog: open the checkpoints directory %s to lock it: %w", d, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("translog: lock the checkpoints directory %s: %w", d, err)
	}
	return func() { f.Close() }, nil
}

// rlock takes a shared kernel lock on the checkpoints directory, so that
// a reader never sees a checkpoint, a co-signature or the tree's hashes
// half written by another process (which holds lock). A missing
// directory is not made (a read changes nothing): there is nothing to
// read half written.
func (d Dir) rlock() (unlock func(), err error) {
	f, err := os.Open(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("translog: open the checkpoints directory %s to lock it: %w", d, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("translog: lock the checkpoints directory %s: %w", d, err)
	}
	return func() { f.Close() }, nil
}
