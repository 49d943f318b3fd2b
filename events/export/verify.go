package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/ceremony-hsm/ceremony/events"
)

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("the export does not verify")

func invalid(format string, a ...any) error {
	return fmt.Errorf("export: %w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Verify checks the export in dir against the public key: the manifest's
// signature, every event (hash, chain per ceremony, counts and first/last
// hashes as stated), the CSV against the events, and the files' SHA-256.
// The error names the file and line of the first problem. Files other
// than the export's are a failure, named; only regular files are read, a
// line at most MaxLine bytes long (see openRegular). It stops when ctx
// ends (ctx's error, not ErrInvalid).
func Verify(ctx context.Context, dir string, pub ed25519.PublicKey) (*Manifest, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, invalid("%s is not a directory: give the export's directory", dir)
	}
	mb, err := readSmall(dir, ManifestFile)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, invalid("%s: %v", ManifestFile, err)
	}
	if m.Format != format || m.Version != version {
		return nil, invalid("%s: format %q version %d, this build verifies %q version %d", ManifestFile, m.Format, m.Version, format, version)
	}
	if m.PublicKey != hex.EncodeToString(pub) {
		return nil, invalid("%s: signed by key %s, not by the key given (%s)", ManifestFile, m.Fingerprint, Fingerprint(pub))
	}
	sig, err := hex.DecodeString(m.Signature)
	msg, merr := m.signedBytes()
	if err != nil || merr != nil || !ed25519.Verify(pub, msg, sig) {
		return nil, invalid("%s: the signature does not verify (the manifest was altered or signed by another key)", ManifestFile)
	}
	if err := unexpectedFiles(dir, &m); err != nil {
		return nil, err
	}
	if err := verifyFiles(ctx, dir, &m); err != nil {
		return nil, err
	}
	if m.Checkpoint != nil {
		if err := verifyCheckpoint(ctx, dir, &m); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// hashedFile is an export file being read with its running SHA-256.
type hashedFile struct {
	f   *os.File
	sum hash.Hash
	r   *bufio.Reader
}

func openHashed(dir, name string) (*hashedFile, error) {
	f, r, err := openRegular(dir, name)
	if err != nil {
		return nil, err
	}
	h := &hashedFile{f: f, sum: sha256.New()}
	h.r = bufio.NewReaderSize(io.TeeReader(r, h.sum), 1<<16)
	return h, nil
}

// checkEvery is how many lines Verify reads between two looks at its
// context.
const checkEvery = 1024

// StoppedError is Verify stopped by its context while reading File: no
// verdict on the export.
type StoppedError struct {
	Dir, File string
	Line      int // the line it would have read next
	Err       error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("export: verify %s: stopped at line %d of %s: %v", e.Dir, e.Line, e.File, e.Err)
}

func (e *StoppedError) Unwrap() error { return e.Err }

// verifyFiles reads events.jsonl and events.csv side by side, once, in
// memory that does not grow with the number of events: each event is
// checked against its ceremony's chain and the manifest, each CSV row
// against its event, and the files' SHA-256 against the manifest.
func verifyFiles(ctx context.Context, dir string, m *Manifest) error {
	digests := map[string]string{}
	for _, f := range m.Files {
		if f.Name != JSONLFile && f.Name != CSVFile {
			return invalid("%s names an unknown file %q", ManifestFile, f.Name)
		}
		digests[f.Name] = f.SHA256
	}
	jf, err := openHashed(dir, JSONLFile)
	if err != nil {
		return err
	}
	defer jf.f.Close()
	cf, err := openHashed(dir, CSVFile)
	if err != nil {
		return err
	}
	defer cf.f.Close()
	cr := csv.NewReader(cf.r)
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil {
		return invalid("%s: %v", CSVFile, err)
	}
	ev := newEventChecker(m)
	n := 0
	for line := 1; ; line++ {
		if line%checkEvery == 0 && ctx.Err() != nil {
			return &StoppedError{Dir: dir, File: JSONLFile, Line: line, Err: ctx.Err()}
		}
		b, err := jf.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it.
			long := append([]byte(nil), b...)
			for err == bufio.ErrBufferFull {
				b, err = jf.r.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err == io.EOF && len(b) == 0 {
			break
		}
		if errors.Is(err, ErrInvalid) {
			return fmt.Errorf("%w (line %d)", err, line)
		}
		if err != nil && err != io.EOF {
			return invalid("%s line %d: %v", JSONLFile, line, err)
		}
		if err == io.EOF {
			return invalid("%s line %d: the last line has no end (the file was truncated)", JSONLFile, line)
		}
		evHash, err := ev.check(b, line)
		if err != nil {
			return err
		}
		n++
		row, err := cr.Read()
		if err == io.EOF {
			return invalid("%s: %d rows, the events file has more events", CSVFile, n-1)
		}
		if err != nil {
			return invalid("%s: %v", CSVFile, err)
		}
		if len(row) != len(csvHeader) || row[len(row)-1] != evHash {
			return invalid("%s line %d: not the event of %s line %d", CSVFile, n+1, JSONLFile, n)
		}
	}
	if err := ev.finish(n); err != nil {
		return err
	}
	if _, err := cr.Read(); err != io.EOF {
		return invalid("%s: more rows than the events file has events (%d)", CSVFile, n)
	}
	for _, h := range []struct {
		name string
		f    *hashedFile
	}{{JSONLFile, jf}, {CSVFile, cf}} {
		if _, err := io.Copy(io.Discard, h.f.r); err != nil { // what the readers left
			return invalid("read %s: %v", h.name, err)
		}
		if hex.EncodeToString(h.f.sum.Sum(nil)) != digests[h.name] {
			return invalid("%s: SHA-256 differs from the manifest (the file was changed, truncated or comes from another export)", h.name)
		}
	}
	return nil
}

// eventChecker follows each ceremony's chain against the manifest.
type eventChecker struct {
	m    *Manifest
	want map[string]CeremonyRange
	seen map[string]*chain
}

type chain struct {
	count    int
	position uint64
	hash     string
}

func newEventChecker(m *Manifest) *eventChecker {
	c := &eventChecker{m: m, want: map[string]CeremonyRange{}, seen: map[string]*chain{}}
	for _, r := range m.Ceremonies {
		c.want[r.ID] = r
	}
	return c
}

// check verifies one line and returns the event's hash.
func (v *eventChecker) check(b []byte, line int) (string, error) {
	e, derr := events.Decode(b)
	if derr != nil {
		return "", invalid("%s line %d: %v", JSONLFile, line, derr)
	}
	c, ok := v.want[e.CeremonyID]
	if !ok {
		return "", invalid("%s line %d: ceremony %s is not in the manifest (an inserted event, or files of two exports mixed)", JSONLFile, line, e.CeremonyID)
	}
	ch := v.seen[e.CeremonyID]
	if ch == nil {
		if e.Position != c.FirstPosition || e.PrevHash != c.FirstPrevHash || e.Hash != c.FirstHash {
			return "", invalid("%s line %d: ceremony %s starts at position %d, the manifest says it starts at %d with another event (deleted, inserted or reordered events)", JSONLFile, line, e.CeremonyID, e.Position, c.FirstPosition)
		}
		ch = &chain{}
		v.seen[e.CeremonyID] = ch
	} else if e.Position != ch.position+1 || e.PrevHash != ch.hash {
		return "", invalid("%s line %d: ceremony %s position %d does not follow position %d (an event was deleted, inserted or two were swapped)", JSONLFile, line, e.CeremonyID, e.Position, ch.position)
	}
	ch.count++
	ch.position, ch.hash = e.Position, e.Hash
	return e.Hash, nil
}

// finish checks the counts and last hashes the manifest states.
func (v *eventChecker) finish(n int) error {
	for id, c := range v.want {
		ch := v.seen[id]
		switch {
		case ch == nil:
			return invalid("%s: no event of ceremony %s, the manifest states %d (deleted, or a truncated file)", JSONLFile, id, c.Count)
		case ch.count != c.Count || ch.hash != c.LastHash:
			return invalid("%s: ceremony %s has %d events ending with hash %.12s…, the manifest states %d ending with %.12s… (deleted events or a truncated file)", JSONLFile, id, ch.count, ch.hash, c.Count, c.LastHash)
		}
	}
	if n != v.m.Events {
		return invalid("%s: %d events, the manifest states %d", JSONLFile, n, v.m.Events)
	}
	return nil
}
