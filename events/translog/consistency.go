package translog

import (
	"crypto/ed25519"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// NotExtendedError says a checkpoint does not extend an older one: the
// log's history was rewritten or shrank between them.
type NotExtendedError struct {
	Old, New         Checkpoint
	OldFile, NewFile string
	Why              string
}

func (e *NotExtendedError) Error() string {
	return fmt.Sprintf("checkpoint %s (%d events, root %s) does not extend checkpoint %s (%d events, root %s): %s",
		e.NewFile, e.New.Size, e.New.RootHex(), e.OldFile, e.Old.Size, e.Old.RootHex(), e.Why)
}

// ProveFilesConsistent checks offline that the signed checkpoint in
// newFile extends the one in oldFile: both must verify under pub and be of
// the same log, and a consistency proof (RFC 6962, section 2.1.2) computed
// from the tree's stored hashes in hashesPath (a copy of a data
// directory's checkpoints/tree.hashes) must take the old root to the new
// one. The hash file is not trusted: tlog.CheckTree checks the proof
// against the two signed roots, so a changed file can only fail the check.
// A failure of the history is a *NotExtendedError; an unreadable input is
// another error.
func ProveFilesConsistent(oldFile, newFile, hashesPath string, pub ed25519.PublicKey) (Checkpoint, Checkpoint, tlog.TreeProof, error) {
	older, err := ReadFile(oldFile, pub)
	if err != nil {
		return Checkpoint{}, Checkpoint{}, nil, err
	}
	newer, err := ReadFile(newFile, pub)
	if err != nil {
		return Checkpoint{}, Checkpoint{}, nil, err
	}
	fail := func(format string, a ...any) (Checkpoint, Checkpoint, tlog.TreeProof, error) {
		return older, newer, nil, &NotExtendedError{Old: older, New: newer, OldFile: oldFile, NewFile: newFile, Why: fmt.Sprintf(format, a...)}
	}
	if older.Origin != newer.Origin {
		return fail("they are checkpoints of two logs (%q and %q)", older.Origin, newer.Origin)
	}
	if newer.Size < older.Size {
		return fail("it is shorter: events %d-%d of the older checkpoint are gone", newer.Size+1, older.Size)
	}
	if newer.Size == older.Size || older.Size == 0 {
		if newer.Size == older.Size && newer.Root != older.Root {
			return fail("same size, another root: the history was rewritten")
		}
		return older, newer, nil, nil
	}
	if _, err := os.Stat(hashesPath); err != nil {
		return older, newer, nil, fmt.Errorf("the tree's hashes %s (the proof is computed from them): %w", hashesPath, err)
	}
	t, err := LoadHashes(hashesPath)
	if err != nil {
		return older, newer, nil, err
	}
	if t.Size() < newer.Size {
		return older, newer, nil, fmt.Errorf("the tree's hashes %s cover %d events, the newer checkpoint %d: take the file from a data directory at least as new as the checkpoint", hashesPath, t.Size(), newer.Size)
	}
	if root, err := t.Root(newer.Size); err != nil || root != newer.Root {
		return fail("the tree's hashes %s do not give the newer checkpoint's root (the file is of another log or was changed): no proof can be made from it", hashesPath)
	}
	p, err := t.ProveConsistency(newer.Size, older.Size)
	if err != nil {
		return older, newer, nil, fmt.Errorf("compute the consistency proof from %s: %w", hashesPath, err)
	}
	if err := tlog.CheckTree(p, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return fail("the consistency proof does not take the old root to the new one (%v): the first %d events were changed, or the hash file %s is not of this log", err, older.Size, hashesPath)
	}
	return older, newer, p, nil
}
