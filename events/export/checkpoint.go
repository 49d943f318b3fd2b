package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// Files of an export's checkpoint: the signed checkpoint (C2SP
// tlog-checkpoint) and, one line per event of events.jsonl in the same
// order, the event's stream sequence and its inclusion proof in the
// checkpoint's tree (RFC 6962, section 2.1.1, as golang.org/x/mod/sumdb/tlog
// computes it).
const (
	CheckpointFile = "checkpoint"
	ProofsFile     = "inclusion.jsonl"
)

// CheckpointRef is what the manifest states about the export's checkpoint.
// The manifest's signature covers it, so the checkpoint's key is the one
// the export's signer vouches for.
type CheckpointRef struct {
	Origin       string `json:"origin"`
	Size         int64  `json:"size"`
	RootHash     string `json:"root_hash"`
	PublicKey    string `json:"public_key"`
	ProofsSHA256 string `json:"proofs_sha256"`
}

// Checkpointed is a signed checkpoint with the tree that proves events
// part of it.
type Checkpointed struct {
	Signed     []byte
	Checkpoint translog.Checkpoint
	Public     ed25519.PublicKey
	Tree       *translog.Tree // holds at least Checkpoint.Size leaves
}

// proofLine is one line of inclusion.jsonl.
type proofLine struct {
	Seq   uint64           `json:"seq"`
	Proof tlog.RecordProof `json:"proof"`
}

// SetCheckpoint makes the export carry cp and an inclusion proof of each
// event it holds in cp's tree. Call it before the first Add; an event
// after the checkpoint is then an error.
func (w *Writer) SetCheckpoint(cp Checkpointed) error {
	if w.m.Events > 0 || w.proofs != nil {
		return fmt.Errorf("export: SetCheckpoint after Add")
	}
	if cp.Tree == nil || cp.Tree.Size() < cp.Checkpoint.Size {
		return fmt.Errorf("export: the tree does not cover the checkpoint of %d events", cp.Checkpoint.Size)
	}
	ef, err := createFile(w.dir, ProofsFile)
	if err != nil {
		w.abort()
		return err
	}
	w.proofs, w.cp = ef, &cp
	return nil
}

// addProof writes the inclusion proof of r.
func (w *Writer) addProof(r events.Record) error {
	c := w.cp.Checkpoint
	if r.Seq == 0 || int64(r.Seq) > c.Size {
		return fmt.Errorf("export: the event at stream sequence %d is not covered by the checkpoint of %d events", r.Seq, c.Size)
	}
	p, err := w.cp.Tree.ProveInclusion(c.Size, int64(r.Seq)-1)
	if err != nil {
		return fmt.Errorf("export: inclusion proof of stream sequence %d: %w", r.Seq, err)
	}
	b, err := json.Marshal(proofLine{Seq: r.Seq, Proof: p})
	if err != nil {
		return err
	}
	w.proofs.buf.Write(b)
	return w.proofs.buf.WriteByte('\n')
}

// closeCheckpoint finishes the proofs, writes the checkpoint and states
// both in the manifest.
func (w *Writer) closeCheckpoint() error {
	if w.cp == nil {
		return nil
	}
	d, err := w.proofs.finish(w.m.Events)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(w.dir, CheckpointFile), w.cp.Signed, 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	c := w.cp.Checkpoint
	w.m.Checkpoint = &CheckpointRef{Origin: c.Origin, Size: c.Size, RootHash: c.RootHex(), PublicKey: hex.EncodeToString(w.cp.Public), ProofsSHA256: d.SHA256}
	return nil
}

// verifyCheckpoint checks the export's checkpoint against the manifest
// and the key it names, and each event's inclusion proof in its tree.
func verifyCheckpoint(ctx context.Context, dir string, m *Manifest) error {
	ref := m.Checkpoint
	pub, err := hex.DecodeString(ref.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return invalid("%s: the checkpoint's public key %q is not an Ed25519 key in hex", ManifestFile, ref.PublicKey)
	}
	msg, err := readSmall(dir, CheckpointFile)
	if err != nil {
		return fmt.Errorf("%w (the manifest states a checkpoint of %d events)", err, ref.Size)
	}
	c, err := translog.Open(msg, pub)
	if err != nil {
		return invalid("%s: %v", CheckpointFile, err)
	}
	if c.Origin != ref.Origin || c.Size != ref.Size || c.RootHex() != ref.RootHash {
		return invalid("%s: %d events, root %s of %q; the manifest states %d events, root %s of %q", CheckpointFile, c.Size, c.RootHex(), c.Origin, ref.Size, ref.RootHash, ref.Origin)
	}
	jf, jin, err := openRegular(dir, JSONLFile)
	if err != nil {
		return err
	}
	defer jf.Close()
	pf, pin, err := openRegular(dir, ProofsFile)
	if err != nil {
		return fmt.Errorf("%w (the manifest states a checkpoint)", err)
	}
	defer pf.Close()
	sum := sha256.New()
	jr := bufio.NewReaderSize(jin, 1<<16)
	pr := bufio.NewReaderSize(io.TeeReader(pin, sum), 1<<16)
	var last uint64
	n := 0
	for line := 1; ; line++ {
		if line%checkEvery == 0 && ctx.Err() != nil {
			return &StoppedError{Dir: dir, File: ProofsFile, Line: line, Err: ctx.Err()}
		}
		ev, jerr := jr.ReadBytes('\n')
		pl, perr := pr.ReadBytes('\n')
		if jerr == io.EOF && len(ev) == 0 {
			if perr != io.EOF || len(pl) != 0 {
				return invalid("%s line %d: a proof with no event in %s", ProofsFile, line, JSONLFile)
			}
			break
		}
		if jerr != nil {
			return invalid("%s line %d: %v", JSONLFile, line, jerr)
		}
		if perr != nil {
			return invalid("%s line %d: no inclusion proof for the event of %s line %d (%v)", ProofsFile, line, JSONLFile, line, perr)
		}
		var p proofLine
		dec := json.NewDecoder(bytes.NewReader(pl))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return invalid("%s line %d: %v", ProofsFile, line, err)
		}
		if p.Seq <= last || p.Seq == 0 || int64(p.Seq) > c.Size {
			return invalid("%s line %d: stream sequence %d is not after %d and within the checkpoint's %d events", ProofsFile, line, p.Seq, last, c.Size)
		}
		if line == 1 && p.Seq != m.FirstSeq {
			return invalid("%s line 1: stream sequence %d, the manifest's first is %d", ProofsFile, p.Seq, m.FirstSeq)
		}
		leaf := tlog.RecordHash(ev[:len(ev)-1])
		if err := tlog.CheckRecord(p.Proof, c.Size, c.Root, int64(p.Seq)-1, leaf); err != nil {
			return invalid("%s line %d: the event of %s line %d is not stream sequence %d of the checkpointed log (root %s): %v", ProofsFile, line, JSONLFile, line, p.Seq, c.RootHex(), err)
		}
		last = p.Seq
		n++
	}
	if n != m.Events || (n > 0 && last != m.LastSeq) {
		return invalid("%s: %d proofs ending at stream sequence %d, the manifest states %d events ending at %d", ProofsFile, n, last, m.Events, m.LastSeq)
	}
	if hex.EncodeToString(sum.Sum(nil)) != ref.ProofsSHA256 {
		return invalid("%s: SHA-256 differs from the manifest (the file was changed)", ProofsFile)
	}
	return nil
}

// FingerprintHex is Fingerprint of a key in hex, or the text itself when it
// is not hex.
func FingerprintHex(pubHex string) string {
	b, err := hex.DecodeString(pubHex)
	if err != nil {
		return pubHex
	}
	return Fingerprint(b)
}
