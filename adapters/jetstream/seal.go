package jetstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// sealFile, in the data directory, describes the event stream's files as
// the embedded server left them at its last orderly shutdown
// (ARCHITECTURE.md, "Events": a damaged store is never made worse).
//
// The trial start on a copy (precheck) costs a copy and a read of the
// whole stream, which grows with history. When every file of the stream
// is still exactly as the seal describes it (name, size, modification
// and inode change times, inode), the server finds what it left and has
// nothing to repair, so the trial is skipped. Any write to a file, and
// any touch that restores its modification time, changes its inode
// change time, which no user process can set back. A crash leaves no
// fresh seal, so the next open runs the trial. The stream's index
// (msgs/index.db) is left out: the server rewrites it from the blocks.
//
// The seal is not signed: someone who can rewrite the store's files and
// the seal together can make an open skip the trial. The transparency
// log's check after the open still refuses a shortened or changed tail,
// and 'ceremony audit verify-store' recomputes the whole tree.
const sealFile = "store-seal.json"

// sealEntry is one file of the stream.
type sealEntry struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
	Inode uint64 `json:"inode"`
}

// streamSeal lists the stream's files under the store directory, sorted
// by path; nil when the stream has no directory yet.
func streamSeal(storeDir, stream string) ([]sealEntry, error) {
	dirs, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", stream))
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	var out []sealEntry
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() == "index.db" {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			e := sealEntry{Size: info.Size(), MTime: info.ModTime().UnixNano()}
			e.Path, _ = filepath.Rel(storeDir, p)
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				e.CTime = st.Ctim.Nano()
				e.Inode = st.Ino
			}
			out = append(out, e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("jetstream: list the stream's files under %s: %w", dir, err)
		}
	}
	slices.SortFunc(out, func(a, b sealEntry) int {
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return out, nil
}

// sealDigest names a seal in the files written beside it (the sealed
// projection, the locator): the hex SHA-256 of the seal file's bytes.
func sealDigest(seal []byte) string {
	sum := sha256.Sum256(seal)
	return hex.EncodeToString(sum[:])
}

// sealHolds reports whether the data directory's seal describes the
// stream's files exactly as they are now.
func sealHolds(cfg Config) bool {
	data, err := os.ReadFile(filepath.Join(cfg.DataDir, sealFile))
	if err != nil {
		return false
	}
	var sealed []sealEntry
	if json.Unmarshal(data, &sealed) != nil || len(sealed) == 0 {
		return false
	}
	now, err := streamSeal(cfg.storeDir(), cfg.streamName())
	return err == nil && slices.Equal(sealed, now)
}

// writeSeal records the stream's files after an orderly shutdown of the
// server. It writes nothing when the seal already says so (a read
// command changes no file), and replaces the file atomically otherwise.
func writeSeal(dataDir, storeDir, stream string) error {
	entries, err := streamSeal(storeDir, stream)
	if err != nil || len(entries) == 0 {
		return err
	}
	data, err := json.MarshalIndent(entries, "", " ")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, sealFile)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return replaceFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// replaceFile writes path (mode 0600) through write into path.new,
// fsynced, then renames it over path: a reader finds the old file or the
// whole new one.
func replaceFile(path string, write func(io.Writer) error) error {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("jetstream: write %s: %w", path, err)
	}
	werr := write(f)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("jetstream: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("jetstream: write %s: %w", path, err)
	}
	return nil
}
