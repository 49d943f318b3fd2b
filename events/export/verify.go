package export

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
// The error names the file and line of the first problem.
func Verify(dir string, pub ed25519.PublicKey) (*Manifest, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, invalid("read %s: %v", ManifestFile, err)
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
	jsonl, err := os.ReadFile(filepath.Join(dir, JSONLFile))
	if err != nil {
		return nil, invalid("read %s: %v", JSONLFile, err)
	}
	hashes, err := verifyEvents(jsonl, &m)
	if err != nil {
		return nil, err
	}
	csvData, err := os.ReadFile(filepath.Join(dir, CSVFile))
	if err != nil {
		return nil, invalid("read %s: %v", CSVFile, err)
	}
	if err := verifyCSV(csvData, hashes); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		data := map[string][]byte{JSONLFile: jsonl, CSVFile: csvData}[f.Name]
		if data == nil {
			return nil, invalid("%s names an unknown file %q", ManifestFile, f.Name)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, invalid("%s: SHA-256 differs from the manifest (the file was changed, truncated or comes from another export)", f.Name)
		}
	}
	return &m, nil
}

// verifyEvents checks each line and each ceremony's chain, and returns
// the hashes in line order.
func verifyEvents(jsonl []byte, m *Manifest) ([]string, error) {
	want := map[string]CeremonyRange{}
	for _, c := range m.Ceremonies {
		want[c.ID] = c
	}
	type chain struct {
		count    int
		position uint64
		hash     string
	}
	seen := map[string]*chain{}
	var hashes []string
	r := bufio.NewReader(bytes.NewReader(jsonl))
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF && len(b) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return nil, invalid("%s line %d: %v", JSONLFile, line, err)
		}
		if err == io.EOF {
			return nil, invalid("%s line %d: the last line has no end (the file was truncated)", JSONLFile, line)
		}
		e, derr := events.Decode(b)
		if derr != nil {
			return nil, invalid("%s line %d: %v", JSONLFile, line, derr)
		}
		c, ok := want[e.CeremonyID]
		if !ok {
			return nil, invalid("%s line %d: ceremony %s is not in the manifest (an inserted event, or files of two exports mixed)", JSONLFile, line, e.CeremonyID)
		}
		ch := seen[e.CeremonyID]
		if ch == nil {
			if e.Position != c.FirstPosition || e.PrevHash != c.FirstPrevHash || e.Hash != c.FirstHash {
				return nil, invalid("%s line %d: ceremony %s starts at position %d, the manifest says it starts at %d with another event (deleted, inserted or reordered events)", JSONLFile, line, e.CeremonyID, e.Position, c.FirstPosition)
			}
			ch = &chain{}
			seen[e.CeremonyID] = ch
		} else if e.Position != ch.position+1 || e.PrevHash != ch.hash {
			return nil, invalid("%s line %d: ceremony %s position %d does not follow position %d (an event was deleted, inserted or two were swapped)", JSONLFile, line, e.CeremonyID, e.Position, ch.position)
		}
		ch.count++
		ch.position, ch.hash = e.Position, e.Hash
		hashes = append(hashes, e.Hash)
	}
	for id, c := range want {
		ch := seen[id]
		switch {
		case ch == nil:
			return nil, invalid("%s: no event of ceremony %s, the manifest states %d (deleted, or a truncated file)", JSONLFile, id, c.Count)
		case ch.count != c.Count || ch.hash != c.LastHash:
			return nil, invalid("%s: ceremony %s has %d events ending with hash %.12s…, the manifest states %d ending with %.12s… (deleted events or a truncated file)", JSONLFile, id, ch.count, ch.hash, c.Count, c.LastHash)
		}
	}
	if len(hashes) != m.Events {
		return nil, invalid("%s: %d events, the manifest states %d", JSONLFile, len(hashes), m.Events)
	}
	return hashes, nil
}

// verifyCSV checks that each CSV row is the event of the same line.
func verifyCSV(data []byte, hashes []string) error {
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return invalid("%s: %v", CSVFile, err)
	}
	if len(rows) != len(hashes)+1 {
		return invalid("%s: %d rows, the events file has %d events", CSVFile, len(rows)-1, len(hashes))
	}
	for i, row := range rows[1:] {
		if len(row) != len(csvHeader) || row[len(row)-1] != hashes[i] {
			return invalid("%s line %d: not the event of %s line %d", CSVFile, i+2, JSONLFile, i+1)
		}
	}
	return nil
}
