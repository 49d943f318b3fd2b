// Package export writes and verifies the compliance export of the event
// log: events.jsonl (one stored event per line, exactly as stored:
// canonical JSON, stable field order), events.csv (the same events for
// spreadsheets) and manifest.json (what the export covers, per-ceremony
// counts and first/last hashes, the files' SHA-256, signed with Ed25519).
// ARCHITECTURE.md, "Audit".
//
// Rules a caller must know:
//   - Verify needs only the export directory and the public key: it
//     re-checks every event's hash, each ceremony's chain, the counts and
//     hashes the manifest states, the files' SHA-256 and the signature, and
//     names the line of the first problem it finds.
//   - Events carry no secret (ARCHITECTURE.md, "Events"), so neither does an export.
package export

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// File names inside an export directory.
const (
	JSONLFile    = "events.jsonl"
	CSVFile      = "events.csv"
	ManifestFile = "manifest.json"
	format       = "ceremony-audit-export"
	version      = 1
)

// Filter selects the events of an export; zero fields select everything.
type Filter struct {
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to,omitzero"`
	CeremonyID string    `json:"ceremony_id,omitempty"`
	Kind       string    `json:"kind,omitempty"`
}

// Match reports whether the filter selects e.
func (f Filter) Match(e events.Envelope) bool {
	return (f.From.IsZero() || !e.Time.Before(f.From)) && (f.To.IsZero() || e.Time.Before(f.To)) &&
		(f.CeremonyID == "" || e.CeremonyID == f.CeremonyID) && (f.Kind == "" || e.Kind == f.Kind)
}

// CeremonyRange is what the manifest states about one ceremony's events.
type CeremonyRange struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	Count         int    `json:"count"`
	FirstPosition uint64 `json:"first_position"`
	LastPosition  uint64 `json:"last_position"`
	FirstPrevHash string `json:"first_prev_hash"`
	FirstHash     string `json:"first_hash"`
	LastHash      string `json:"last_hash"`
}

// FileDigest names one exported file.
type FileDigest struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Lines  int    `json:"lines"`
}

// Manifest describes and signs an export.
type Manifest struct {
	Format      string          `json:"format"`
	Version     int             `json:"version"`
	Tool        string          `json:"tool"`
	Created     time.Time       `json:"created"`
	Filter      Filter          `json:"filter"`
	FirstSeq    uint64          `json:"first_seq"`
	LastSeq     uint64          `json:"last_seq"`
	Events      int             `json:"events"`
	Ceremonies  []CeremonyRange `json:"ceremonies"`
	Files       []FileDigest    `json:"files"`
	PublicKey   string          `json:"public_key"`
	Fingerprint string          `json:"public_key_fingerprint"`
	Signature   string          `json:"signature,omitempty"`
}

// signedBytes is what the signature covers: the manifest's canonical JSON
// without the signature.
func (m Manifest) signedBytes() ([]byte, error) {
	m.Signature = ""
	return json.Marshal(m)
}

// Signer signs a manifest (a key file, or an HSM key).
type Signer interface {
	Public() ed25519.PublicKey
	Sign(msg []byte) ([]byte, error)
}

// Fingerprint names a public key: the first 16 bytes of its SHA-256, hex.
func Fingerprint(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:16])
}

// Write exports the records the filter selects into dir (which must not
// hold an export yet) and returns the signed manifest.
func Write(dir string, recs []events.Record, f Filter, tool string, now time.Time, signer Signer) (*Manifest, error) {
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("export: %s already holds an export: choose a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m := &Manifest{Format: format, Version: version, Tool: tool, Created: now.UTC(), Filter: f}
	var jsonl, csvBuf bytes.Buffer
	cw := csv.NewWriter(&csvBuf)
	cw.Write(csvHeader)
	byID := map[string]*CeremonyRange{}
	var order []string
	for _, r := range recs {
		if !f.Match(r.Envelope) {
			continue
		}
		if m.Events == 0 {
			m.FirstSeq = r.Seq
		}
		m.LastSeq = r.Seq
		m.Events++
		jsonl.Write(r.Data)
		jsonl.WriteByte('\n')
		cw.Write(csvRow(r))
		cr, ok := byID[r.CeremonyID]
		if !ok {
			cr = &CeremonyRange{ID: r.CeremonyID, Kind: r.Kind, FirstPosition: r.Position, FirstPrevHash: r.PrevHash, FirstHash: r.Hash}
			byID[r.CeremonyID] = cr
			order = append(order, r.CeremonyID)
		}
		cr.Count++
		cr.LastPosition, cr.LastHash = r.Position, r.Hash
	}
	cw.Flush()
	for _, id := range order {
		m.Ceremonies = append(m.Ceremonies, *byID[id])
	}
	for _, file := range []struct {
		name  string
		data  []byte
		lines int
	}{{JSONLFile, jsonl.Bytes(), m.Events}, {CSVFile, csvBuf.Bytes(), m.Events + 1}} {
		if err := os.WriteFile(filepath.Join(dir, file.name), file.data, 0o644); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		sum := sha256.Sum256(file.data)
		m.Files = append(m.Files, FileDigest{Name: file.name, SHA256: hex.EncodeToString(sum[:]), Lines: file.lines})
	}
	m.PublicKey = hex.EncodeToString(signer.Public())
	m.Fingerprint = Fingerprint(signer.Public())
	msg, err := m.signedBytes()
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("export: sign the manifest: %w", err)
	}
	m.Signature = hex.EncodeToString(sig)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

var csvHeader = []string{"stream_seq", "ceremony_id", "kind", "position", "time", "type", "version", "source", "causation_id", "payload", "prev_hash", "hash"}

func csvRow(r events.Record) []string {
	return []string{strconv.FormatUint(r.Seq, 10), r.CeremonyID, r.Kind, strconv.FormatUint(r.Position, 10), r.Time.UTC().Format(time.RFC3339Nano),
		r.Type, strconv.Itoa(r.Version), string(r.Source), r.CausationID, string(r.Payload), r.PrevHash, r.Hash}
}
