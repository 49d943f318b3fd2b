//go:build unix

package translog

import (
	"fmt"
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
