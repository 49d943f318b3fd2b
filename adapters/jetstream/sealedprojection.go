package jetstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// sealedProjectionFile, in the data directory next to the seal, is a copy
// of the projection checkpoint (the parts SaveProjection stores) that
// covers the stream's last sequence as an orderly shutdown left it, and
// names that shutdown's seal by its SHA-256 (ARCHITECTURE.md, "Engine
// rules": a read without a server). While the seal holds and the file
// names it, the file is what the KV bucket would give a read command that
// started the server, with no event after it: ReadSealedProjection
// answers without starting one.
const sealedProjectionFile = "store-seal-projection.bin"

// sealedFormat is the first field of the file's header.
const sealedFormat = "ceremony sealed projection v1"

// sealedHeader is the file's first line (JSON); the parts' bytes follow
// it, in the order listed.
type sealedHeader struct {
	Format     string       `json:"format"`
	SealSHA256 string       `json:"seal_sha256"`
	Stream     string       `json:"stream"`
	LastSeq    uint64       `json:"last_seq"`
	Parts      []sealedPart `json:"parts"`
}

type sealedPart struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SealedProjection is the projection checkpoint read from the data
// directory's file: its parts, of stream Stream, whose last sequence at
// the sealed shutdown was LastSeq.
type SealedProjection struct {
	Stream  string
	LastSeq uint64
	Parts   map[string][]byte
}

// SealProjection asks the orderly shutdown of the embedded server (Close)
// to copy parts, a projection checkpoint covering stream sequence seq,
// into the data directory next to the seal it writes. It is written only
// when seq is then still the stream's last sequence and no other client
// could append: the server has no TCP listener (a service's clients could
// append between the check and the shutdown). Otherwise the file is
// removed, so that no copy of an older checkpoint stays next to the seal.
// Only a writer calls it: a read command changes no file.
func (s *Store) SealProjection(parts map[string][]byte, seq uint64) {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	s.sealParts, s.sealSeq = parts, seq
}

// sealedProjectionToWrite returns the parts to write after the shutdown,
// or nil and why none is written. Called before the connection drains.
func (s *Store) sealedProjectionToWrite() (map[string][]byte, uint64, string) {
	s.sealMu.Lock()
	parts, seq := s.sealParts, s.sealSeq
	s.sealMu.Unlock()
	switch {
	case parts == nil:
		return nil, 0, ""
	case s.srv == nil:
		return nil, 0, "the store is remote"
	case s.srv.Addr() != nil:
		return nil, 0, "the server listens for other clients, which could append before it stops"
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Sprintf("the stream's last sequence: %v", err)
	}
	if info.State.LastSeq != seq {
		return nil, 0, fmt.Sprintf("it covers stream sequence %d, the stream ends at %d", seq, info.State.LastSeq)
	}
	return parts, seq, ""
}

// writeSealedProjection writes the file after the seal (writeSeal), naming
// it; it removes the file when parts is nil.
func writeSealedProjection(dataDir, stream string, parts map[string][]byte, seq uint64) error {
	path := filepath.Join(dataDir, sealedProjectionFile)
	if parts == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("jetstream: remove %s: %w", path, err)
		}
		return nil
	}
	seal, err := os.ReadFile(filepath.Join(dataDir, sealFile))
	if err != nil {
		return fmt.Errorf("jetstream: read the seal to name it in %s: %w", path, err)
	}
	h := sealedHeader{Format: sealedFormat, SealSHA256: sealDigest(seal), Stream: stream, LastSeq: seq}
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sum := sha256.Sum256(parts[name])
		h.Parts = append(h.Parts, sealedPart{Name: name, Size: int64(len(parts[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return replaceFile(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		w.Write(hb)
		w.WriteByte('\n')
		for _, name := range names {
			w.Write(parts[name])
		}
		return w.Flush()
	})
}

// removeSealedProjection removes the file: the projection checkpoint in
// the KV bucket is being replaced, so the copy no longer is its copy.
func removeSealedProjection(dataDir string) error {
	return writeSealedProjection(dataDir, "", nil, 0)
}

// ReadSealedProjection reads the named parts (every part when none is
// named) of the data directory's sealed projection file, without starting
// the server, or says why it cannot be used: a remote store, the data
// directory locked by a running store, the seal not matching the stream's
// files exactly (an append, a touched file, a crash), no file, a file
// naming another seal or stream, or a part damaged. It holds the data
// directory's lock while it checks and reads (ARCHITECTURE.md, "Engine
// rules"), so no writer starts in between, and changes no file but the
// lock's holder file, as Open does.
func ReadSealedProjection(cfg Config, names ...string) (SealedProjection, error) {
	seal, _, unlock, err := lockHeldSeal(cfg)
	if err != nil {
		return SealedProjection{}, err
	}
	defer unlock()
	return readSealedParts(cfg, seal, names...)
}

// lockHeldSeal takes the data directory's lock of a local store and
// returns the seal (heldSeal) with the function that releases the lock;
// on an error the lock is not held. A read without a server does its
// checks and reads under it (ARCHITECTURE.md, "A read without a server").
func lockHeldSeal(cfg Config) (seal []byte, entries []sealEntry, unlock func() error, err error) {
	if cfg.remote() {
		return nil, nil, nil, fmt.Errorf("the store is remote")
	}
	if _, err := os.Stat(cfg.storeDir()); err != nil {
		return nil, nil, nil, fmt.Errorf("no store directory: %w", err)
	}
	if unlock, err = lockDir(cfg.lockFile()); err != nil {
		return nil, nil, nil, err
	}
	if seal, entries, err = heldSeal(cfg); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return seal, entries, unlock, nil
}

// heldSeal returns the seal file's bytes and entries when they describe
// the stream's files exactly as they are now (sealHolds). The caller
// holds the data directory's lock.
func heldSeal(cfg Config) ([]byte, []sealEntry, error) {
	seal, err := os.ReadFile(filepath.Join(cfg.DataDir, sealFile))
	if err != nil {
		return nil, nil, fmt.Errorf("no seal: %w", err)
	}
	var sealed []sealEntry
	if err := json.Unmarshal(seal, &sealed); err != nil || len(sealed) == 0 {
		return nil, nil, fmt.Errorf("%s does not decode or lists no file (%v)", sealFile, err)
	}
	now, err := streamSeal(cfg.storeDir(), cfg.streamName())
	if err != nil || !slices.Equal(sealed, now) {
		return nil, nil, fmt.Errorf("the stream's files are not as %s describes them (changed since the last orderly shutdown)", sealFile)
	}
	return seal, sealed, nil
}

// readSealedParts reads the named parts of the sealed projection file,
// which must name seal. The caller holds the data directory's lock.
func readSealedParts(cfg Config, seal []byte, names ...string) (SealedProjection, error) {
	path := filepath.Join(cfg.DataDir, sealedProjectionFile)
	f, err := os.Open(path)
	if err != nil {
		return SealedProjection{}, fmt.Errorf("no sealed projection file: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10) // the header line
	line, err := r.ReadBytes('\n')
	if err != nil {
		return SealedProjection{}, fmt.Errorf("%s: no header: %w", path, err)
	}
	var h sealedHeader
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return SealedProjection{}, fmt.Errorf("%s: the header does not decode: %w", path, err)
	}
	switch {
	case h.Format != sealedFormat:
		return SealedProjection{}, fmt.Errorf("%s: format %q, this build reads %q", path, h.Format, sealedFormat)
	case h.SealSHA256 != sealDigest(seal):
		return SealedProjection{}, fmt.Errorf("%s belongs to another seal than %s", path, sealFile)
	case h.Stream != cfg.streamName():
		return SealedProjection{}, fmt.Errorf("%s is of stream %q, not %q", path, h.Stream, cfg.streamName())
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	// The parts follow the header line; only those asked for are read.
	off := int64(len(line))
	out := SealedProjection{Stream: h.Stream, LastSeq: h.LastSeq, Parts: map[string][]byte{}}
	for _, p := range h.Parts {
		if p.Size < 0 || p.Size > 1<<34 {
			return SealedProjection{}, fmt.Errorf("%s: part %q has size %d", path, p.Name, p.Size)
		}
		if len(names) == 0 || want[p.Name] {
			b := make([]byte, p.Size)
			if _, err := f.ReadAt(b, off); err != nil {
				return SealedProjection{}, fmt.Errorf("%s: part %q is cut short: %w", path, p.Name, err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != p.SHA256 {
				return SealedProjection{}, fmt.Errorf("%s: part %q does not match its SHA-256 (damaged)", path, p.Name)
			}
			out.Parts[p.Name] = b
		}
		off += p.Size
	}
	if info, err := f.Stat(); err != nil || info.Size() != off {
		return SealedProjection{}, fmt.Errorf("%s: its size is not that of its header and parts (cut short or damaged)", path)
	}
	for _, n := range names {
		if _, ok := out.Parts[n]; !ok {
			return SealedProjection{}, fmt.Errorf("%s has no part %q", path, n)
		}
	}
	return out, nil
}
