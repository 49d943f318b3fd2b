package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Bounds on what Verify reads: a line of an export's files (an event, a
// CSV row, an inclusion proof) and the small files (the manifest, the
// checkpoint). A file is read at most up to the size it had when opened.
const (
	MaxLine      = 1 << 20
	maxSmallFile = 64 << 20
)

// openRegular opens name in dir for reading. Anything but a regular file
// (a FIFO, a device, a directory, or a symlink to one) is refused before
// it is opened for reading, as reading one could block or never end; the
// open itself does not block (O_NONBLOCK) and the opened file is checked
// again. The reader stops at the size the file had when opened.
func openRegular(dir, name string) (*os.File, io.Reader, error) {
	path := filepath.Join(dir, name)
	if err := checkRegular(path); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, invalid("read %s: %v", name, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, invalid("%s is not a regular file (it changed while being opened): an export holds regular files only", name)
	}
	return f, &lineLimiter{r: io.LimitReader(f, st.Size()), name: name}, nil
}

// checkRegular refuses a path that is not a regular file, naming what it is.
func checkRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return invalid("read %s: %v", filepath.Base(path), err)
	}
	if st.Mode().IsRegular() {
		return nil
	}
	what := "a special file"
	switch m := st.Mode(); {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	}
	if lst, err := os.Lstat(path); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		what = "a symlink to " + what
	}
	return invalid("%s is %s, not a regular file: an export holds regular files only (copy the export's files, not links to them)", filepath.Base(path), what)
}

// readSmall reads a small file of the export (the manifest, the
// checkpoint), at most maxSmallFile bytes.
func readSmall(dir, name string) ([]byte, error) {
	f, r, err := openRegular(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxSmallFile+1))
	if err != nil {
		return nil, invalid("read %s: %v", name, err)
	}
	if len(b) > maxSmallFile {
		return nil, invalid("%s is larger than %d MiB: not a file of an export", name, maxSmallFile>>20)
	}
	return b, nil
}

// lineLimiter fails a read that would make a line longer than MaxLine
// bytes, so that no reader above it gathers an unbounded line.
type lineLimiter struct {
	r    io.Reader
	name string
	run  int // bytes since the last newline
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for b := p[:n]; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.run += len(b)
			break
		}
		l.run, b = 0, b[i+1:]
	}
	if l.run > MaxLine {
		return n, invalid("%s: a line longer than %d KiB: not a file of an export", l.name, MaxLine>>10)
	}
	return n, err
}

// unexpectedFiles lists the entries of dir an export made with m does not
// hold.
func unexpectedFiles(dir string, m *Manifest) error {
	want := []string{ManifestFile, JSONLFile, CSVFile}
	if m.Checkpoint != nil {
		want = append(want, CheckpointFile, ProofsFile)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return invalid("list %s: %v", dir, err)
	}
	var extra []string
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			extra = append(extra, e.Name())
		}
	}
	if len(extra) > 0 {
		return invalid("unexpected files in the export: %s (an export holds only %s: find out who put them there)", strings.Join(extra, ", "), strings.Join(want, ", "))
	}
	return nil
}

// CheckDir refuses an export directory that exists and is not empty (or
// is no directory): an export is written only into a new or empty one.
func CheckDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("export: %s: %v: give a new or empty directory", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("export: %s is not empty (%d entries, such as %q): give a new or empty directory", dir, len(entries), entries[0].Name())
	}
	return nil
}
