package translog

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DirName is the checkpoints directory in a data directory.
const DirName = "checkpoints"

// Dir is a checkpoints directory: one file per signed checkpoint, named
// for its size and time, created with O_EXCL and fsynced, never
// rewritten.
type Dir string

// Write stores a signed checkpoint and returns its file. The directory is
// made if missing; the file and the directory are fsynced.
func (d Dir) Write(c Checkpoint, signed []byte, now time.Time) (string, error) {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return "", fmt.Errorf("translog: create the checkpoints directory %s: %w", d, err)
	}
	name := fmt.Sprintf("%012d-%s.checkpoint", c.Size, now.UTC().Format("20060102T150405.000000000Z"))
	path := filepath.Join(string(d), name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("translog: create checkpoint %s: %w", path, err)
	}
	_, werr := f.Write(signed)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", fmt.Errorf("translog: write checkpoint %s: %w", path, err)
	}
	if err := syncDir(string(d)); err != nil {
		return "", err
	}
	return path, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("translog: open %s to sync it: %w", dir, err)
	}
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("translog: sync directory %s: %w", dir, err)
	}
	return nil
}

// Files lists the checkpoint files, oldest first (by size, then time).
func (d Dir) Files() ([]string, error) {
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("translog: read the checkpoints directory %s: %w", d, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".checkpoint") && e.Type().IsRegular() {
			out = append(out, filepath.Join(string(d), e.Name()))
		}
	}
	sort.Strings(out) // zero-padded size first, then time
	return out, nil
}

// Newest returns the newest checkpoint signed by pub, its file, and
// whether there is one. A file that does not verify is an error naming
// it: a checkpoint is never passed over in silence.
func (d Dir) Newest(pub ed25519.PublicKey) (Checkpoint, string, bool, error) {
	files, err := d.Files()
	if err != nil || len(files) == 0 {
		return Checkpoint{}, "", false, err
	}
	path := files[len(files)-1]
	c, err := ReadFile(path, pub)
	if err != nil {
		return Checkpoint{}, path, false, err
	}
	return c, path, true, nil
}

// ReadFile reads and verifies a signed checkpoint file.
func ReadFile(path string, pub ed25519.PublicKey) (Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: read checkpoint %s: %w", path, err)
	}
	c, err := Open(b, pub)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}
