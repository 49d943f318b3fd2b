package jetstream

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// removeLeftovers removes the copies a killed process left in dataDir.
func removeLeftovers(dataDir string) error {
	old, err := filepath.Glob(filepath.Join(dataDir, checkDirPrefix+"*"))
	if err != nil {
		return err
	}
	for _, d := range old {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("jetstream: remove the leftover check copy %s: %w", d, err)
		}
	}
	return nil
}

// makeCheckCopy copies the store directory src into a new directory in
// dataDir (the same disk as the store), or in the system's temporary
// directory when that disk is full.
func makeCheckCopy(dataDir, src string) (string, error) {
	tmp, err := copyStore(dataDir, src)
	if err == nil {
		return tmp, nil
	}
	if !errors.Is(err, syscall.ENOSPC) {
		return "", err
	}
	tmp, err2 := copyStore(os.TempDir(), src)
	if err2 != nil {
		return "", fmt.Errorf("jetstream: no room to check the store's files: the disk holding %s is full (%v), and so is %s (%v): free space, then run the command again", dataDir, err, os.TempDir(), err2)
	}
	return tmp, nil
}

func copyStore(parent, src string) (string, error) {
	tmp, err := os.MkdirTemp(parent, checkDirPrefix)
	if err != nil {
		return "", fmt.Errorf("jetstream: make a copy of the store's files to check them: %w", err)
	}
	dst := filepath.Join(tmp, "jetstream")
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if rel == "store.lock" {
			return nil
		}
		return copyOne(p, filepath.Join(dst, rel))
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("jetstream: copy the store's files to %s to check them: %w", parent, err)
	}
	return tmp, nil
}

func copyOne(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// fileSum is a file's size and SHA-256.
type fileSum struct {
	size int64
	sum  [32]byte
}

// inStream reports whether a store file (jetstream/jetstream/ACCOUNT/
// streams/STREAM/...) belongs to the event stream.
func inStream(file, stream string) bool {
	parts := strings.Split(filepath.ToSlash(file), "/")
	return len(parts) > 5 && parts[3] == "streams" && parts[4] == stream
}

// digestDir hashes every file under dir but the lock's holder file.
func digestDir(dir string) (map[string]fileSum, error) {
	out := map[string]fileSum{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "store.lock" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		var sum fileSum
		sum.size = n
		copy(sum.sum[:], h.Sum(nil))
		out[rel] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: read the store's files under %s: %w", dir, err)
	}
	return out, nil
}

// compareDigests says what changed from a (under dirA) to b (under dirB).
func compareDigests(a, b map[string]fileSum, dirA, dirB string) []FileChange {
	var out []FileChange
	for rel, x := range a {
		y, ok := b[rel]
		switch {
		case !ok:
			out = append(out, FileChange{File: rel, What: "removed", OldSize: x.size})
		case x != y:
			off := firstDiff(filepath.Join(dirA, rel), filepath.Join(dirB, rel))
			what := "rewritten"
			if y.size < x.size && off == y.size {
				what = "cut"
			}
			out = append(out, FileChange{File: rel, What: what, OldSize: x.size, NewSize: y.size, FirstOff: off})
		}
	}
	for rel, y := range b {
		if _, ok := a[rel]; !ok {
			out = append(out, FileChange{File: rel, What: "added", NewSize: y.size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// firstDiff returns the offset of the first byte that differs between two
// files (the shorter one's length when one is a prefix of the other).
func firstDiff(a, b string) int64 {
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	n := min(len(x), len(y))
	for i := 0; i < n; i++ {
		if x[i] != y[i] {
			return int64(i)
		}
	}
	return int64(n)
}
