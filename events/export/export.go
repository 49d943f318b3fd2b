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
//   - An export made with a checkpoint (Writer.SetCheckpoint) also holds
//     the signed checkpoint of the stream and an inclusion proof of each of
//     its events in the checkpoint's tree; Verify checks them, so that even
//     an export of one ceremony is proven part of the checkpointed log.
//   - Events carry no secret (ARCHITECTURE.md, "Events"), so neither does an export.
package export

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
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
	Checkpoint  *CheckpointRef  `json:"checkpoint,omitempty"`
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

// Writer writes an export in one pass: each event goes straight to the
// files (buffered) and their SHA-256, so memory grows with the number of
// ceremonies (the manifest lists each), not with the number of events.
type Writer struct {
	dir    string
	f      Filter
	m      *Manifest
	signer Signer
	files  [2]*exportFile // events.jsonl, events.csv
	csv    *csv.Writer
	byID   map[string]*CeremonyRange
	order  []string
	row    []string
	closed bool
	proofs *exportFile   // inclusion.jsonl, with a checkpoint
	cp     *Checkpointed // see SetCheckpoint
}

// exportFile is one output file with its running SHA-256.
type exportFile struct {
	name string
	f    *os.File
	buf  *bufio.Writer
	sum  hash.Hash
}

func createFile(dir, name string) (*exportFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("export: %w (choose a new directory)", err)
	}
	ef := &exportFile{name: name, f: f, sum: sha256.New()}
	ef.buf = bufio.NewWriterSize(io.MultiWriter(f, ef.sum), 1<<16)
	return ef, nil
}

// finish flushes and syncs the file and returns its digest.
func (ef *exportFile) finish(lines int) (FileDigest, error) {
	err := ef.buf.Flush()
	if err == nil {
		err = ef.f.Sync()
	}
	if cerr := ef.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileDigest{}, fmt.Errorf("export: write %s: %w", ef.name, err)
	}
	return FileDigest{Name: ef.name, SHA256: hex.EncodeToString(ef.sum.Sum(nil)), Lines: lines}, nil
}

// NewWriter starts an export into dir, which must not hold an export yet.
// Add the records in stream order, then Close.
func NewWriter(dir string, f Filter, tool string, now time.Time, signer Signer) (*Writer, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	w := &Writer{dir: dir, f: f, signer: signer, byID: map[string]*CeremonyRange{},
		m: &Manifest{Format: format, Version: version, Tool: tool, Created: now.UTC(), Filter: f}}
	for i, name := range []string{JSONLFile, CSVFile} {
		ef, err := createFile(dir, name)
		if err != nil {
			w.abort()
			return nil, err
		}
		w.files[i] = ef
	}
	w.csv = csv.NewWriter(w.files[1].buf)
	if err := w.csv.Write(csvHeader); err != nil {
		w.abort()
		return nil, fmt.Errorf("export: write %s: %w", CSVFile, err)
	}
	return w, nil
}

// abort closes the files of an export that failed.
func (w *Writer) abort() {
	w.closed = true
	for _, ef := range append(w.files[:], w.proofs) {
		if ef != nil {
			ef.f.Close()
		}
	}
}

// Discard ends an export that cannot be completed: it closes and removes
// the files written so far, and the directory when it is left empty (the
// Writer was given a new or empty one).
func (w *Writer) Discard() {
	w.abort()
	for _, name := range []string{JSONLFile, CSVFile, ProofsFile, CheckpointFile, ManifestFile} {
		os.Remove(filepath.Join(w.dir, name))
	}
	os.Remove(w.dir)
}

// Add writes r if the filter selects it.
func (w *Writer) Add(r events.Record) error {
	if w.closed {
		return fmt.Errorf("export: add after Close")
	}
	if !w.f.Match(r.Envelope) {
		return nil
	}
	if w.cp != nil {
		if err := w.addProof(r); err != nil {
			w.abort()
			return err
		}
	}
	m := w.m
	if m.Events == 0 {
		m.FirstSeq = r.Seq
	}
	m.LastSeq = r.Seq
	m.Events++
	jl := w.files[0].buf
	jl.Write(r.Data)
	jl.WriteByte('\n')
	w.row = appendCSVRow(w.row[:0], r)
	if err := w.csv.Write(w.row); err != nil {
		w.abort()
		return fmt.Errorf("export: write %s: %w", CSVFile, err)
	}
	cr, ok := w.byID[r.CeremonyID]
	if !ok {
		cr = &CeremonyRange{ID: r.CeremonyID, Kind: r.Kind, FirstPosition: r.Position, FirstPrevHash: r.PrevHash, FirstHash: r.Hash}
		w.byID[r.CeremonyID] = cr
		w.order = append(w.order, r.CeremonyID)
	}
	cr.Count++
	cr.LastPosition, cr.LastHash = r.Position, r.Hash
	return nil
}

// Close finishes the files, signs and writes the manifest, and returns it.
func (w *Writer) Close() (*Manifest, error) {
	if w.closed {
		return nil, fmt.Errorf("export: Close twice")
	}
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		w.abort()
		return nil, fmt.Errorf("export: write %s: %w", CSVFile, err)
	}
	w.closed = true
	m := w.m
	for _, id := range w.order {
		m.Ceremonies = append(m.Ceremonies, *w.byID[id])
	}
	for i, lines := range []int{m.Events, m.Events + 1} {
		d, err := w.files[i].finish(lines)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, d)
	}
	if err := w.closeCheckpoint(); err != nil {
		return nil, err
	}
	m.PublicKey = hex.EncodeToString(w.signer.Public())
	m.Fingerprint = Fingerprint(w.signer.Public())
	msg, err := m.signedBytes()
	if err != nil {
		return nil, err
	}
	sig, err := w.signer.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("export: sign the manifest: %w", err)
	}
	m.Signature = hex.EncodeToString(sig)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w.dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

// Write exports the records the filter selects into dir (which must not
// hold an export yet) and returns the signed manifest (NewWriter, Add for
// each, Close).
func Write(dir string, recs []events.Record, f Filter, tool string, now time.Time, signer Signer) (*Manifest, error) {
	w, err := NewWriter(dir, f, tool, now, signer)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := w.Add(r); err != nil {
			return nil, err
		}
	}
	return w.Close()
}

var csvHeader = []string{"stream_seq", "ceremony_id", "kind", "position", "time", "type", "version", "source", "causation_id", "payload", "prev_hash", "hash"}

func appendCSVRow(row []string, r events.Record) []string {
	return append(row, strconv.FormatUint(r.Seq, 10), r.CeremonyID, r.Kind, strconv.FormatUint(r.Position, 10), r.Time.UTC().Format(time.RFC3339Nano),
		r.Type, strconv.Itoa(r.Version), string(r.Source), r.CausationID, string(r.Payload), r.PrevHash, r.Hash)
}
