package jetstream

import (
	"errors"
	"fmt"
	"os"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// ErrStorage is wrapped by a *StorageError: the store's disk refused a
// write (full, read-only, not writable by this user).
var ErrStorage = errors.New("the event store cannot write to its disk")

// errCodeInsufficientResources is JetStream's "insufficient resources"
// (nats-server JSInsufficientResourcesErr): the server had no room for
// the message.
const errCodeInsufficientResources = 10023

// probeSize is written (and removed) to tell a full disk from others.
const probeSize = 64 << 10

// StorageError says why the store's disk refused an append and what to
// do: it is returned at once, without the retries of a lost
// acknowledgement. The event is not stored.
type StorageError struct {
	Dir        string // the store directory ("" on a remote server)
	CeremonyID string
	Problem    string // "full", "read-only", "permission", "server"
	Free       uint64 // bytes free on Dir's file system (full)
	Err        error  // what the server or the probe said
}

func (e *StorageError) Unwrap() []error { return []error{ErrStorage, e.Err} }

func (e *StorageError) Error() string {
	then := fmt.Sprintf("then 'ceremony resume %s' (the event was not stored)", e.CeremonyID)
	if e.CeremonyID == "" {
		then = "then run the command again"
	}
	switch e.Problem {
	case "full":
		return fmt.Sprintf("the disk holding %s is full (%d bytes free): free space, %s: %v", e.Dir, e.Free, then, e.Err)
	case "read-only":
		return fmt.Sprintf("the file system holding %s is read-only: remount it read-write (or move the data directory to a writable disk), %s: %v", e.Dir, then, e.Err)
	case "permission":
		return fmt.Sprintf("%s cannot be written by this user (uid %d): give the data directory back to it (chown/chmod), %s: %v", e.Dir, os.Getuid(), then, e.Err)
	}
	return fmt.Sprintf("the server has no room for the event (JetStream: insufficient resources): free space on the servers' disks, %s: %v", then, e.Err)
}

// storageError returns a *StorageError when an append's failure (cause)
// comes from the disk, or nil. On the embedded server it probes the store
// directory: a read-only file system, a write refused for permissions, a
// full disk. On a remote server it reads JetStream's "insufficient
// resources".
func (s *Store) storageError(ceremonyID string, cause error) error {
	var apiErr *natsjs.APIError
	noRoom := errors.As(cause, &apiErr) && apiErr.ErrorCode == errCodeInsufficientResources
	switch {
	case s.storeDir == "" && noRoom:
		return &StorageError{CeremonyID: ceremonyID, Problem: "server", Err: cause}
	case s.storeDir == "":
		return nil
	}
	if err := probeDir(s.storeDir, ceremonyID, cause); err != nil {
		return err
	}
	if noRoom {
		// The server keeps to its share of the disk (JetStream's
		// max_file_store, by default taken from the free space at start).
		var st unix.Statfs_t
		unix.Statfs(s.storeDir, &st)
		return &StorageError{Dir: s.storeDir, CeremonyID: ceremonyID, Problem: "full", Free: st.Bavail * uint64(st.Bsize), Err: cause}
	}
	return nil
}

// probeDir checks that dir's file system takes a write of probeSize.
func probeDir(dir, ceremonyID string, cause error) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil
	}
	free := st.Bavail * uint64(st.Bsize)
	if st.Flags&unix.ST_RDONLY != 0 {
		return &StorageError{Dir: dir, CeremonyID: ceremonyID, Problem: "read-only", Err: cause}
	}
	f, err := os.CreateTemp(dir, ".write-probe-")
	if err == nil {
		_, err = f.Write(make([]byte, probeSize))
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		os.Remove(f.Name())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return &StorageError{Dir: dir, CeremonyID: ceremonyID, Problem: "full", Free: free, Err: errors.Join(cause, err)}
	case errors.Is(err, unix.EROFS):
		return &StorageError{Dir: dir, CeremonyID: ceremonyID, Problem: "read-only", Err: errors.Join(cause, err)}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return &StorageError{Dir: dir, CeremonyID: ceremonyID, Problem: "permission", Err: errors.Join(cause, err)}
	}
	return nil
}

// openStorageError returns a *StorageError when opening the store in dir
// failed (err) for its disk: read-only, not writable, full.
func openStorageError(dir string, err error) error {
	switch {
	case errors.Is(err, unix.EROFS):
		return &StorageError{Dir: dir, Problem: "read-only", Err: err}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return &StorageError{Dir: dir, Problem: "permission", Err: err}
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		var st unix.Statfs_t
		unix.Statfs(dir, &st)
		return &StorageError{Dir: dir, Problem: "full", Free: st.Bavail * uint64(st.Bsize), Err: err}
	}
	return err
}
