package translog

import (
	"context"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ceremony-hsm/ceremony/events"
)

// LastSeqer tells the stream's last sequence (the JetStream store has it).
type LastSeqer interface {
	LastSeq(ctx context.Context) (uint64, error)
}

// Resume builds the tree from the hash file instead of recomputing it
// from the whole stream, so that opening does not grow with history
// (ARCHITECTURE.md, "Audit"): it checks that the stream still holds, at
// the hash file's last leaf, the event the file recorded, and appends the
// events after it. A change to an earlier event is not seen here: 'audit
// verify-store' recomputes the whole tree (Reset, Sync). With no hash file
// it is Sync. Check then compares the tree with the newest checkpoint.
func (l *Log) Resume(ctx context.Context, r Replayer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tree.n > 0 {
		return l.syncLocked(ctx, r)
	}
	stored, err := LoadHashes(l.hashPath)
	if err != nil {
		return err
	}
	m := stored.n
	if m == 0 {
		return l.syncLocked(ctx, r)
	}
	want, err := stored.LeafHash(m - 1)
	if err != nil {
		return err
	}
	against := "the tree's hashes " + l.hashPath
	seen := false
	err = r.Replay(ctx, uint64(m), func(rec events.Record) error {
		if !seen {
			seen = true
			switch {
			case rec.Seq != uint64(m):
				return &DamageError{Against: against, D: Divergence{MissingFrom: uint64(m), MissingTo: uint64(m)}}
			case tlog.RecordHash(rec.Data) != want:
				return &DamageError{Against: against, D: Divergence{FirstChanged: uint64(m)}, Ceremony: rec.CeremonyID}
			}
			return nil
		}
		if err := stored.Append(rec); err != nil {
			return err
		}
		l.cer = append(l.cer, rec.CeremonyID)
		return nil
	})
	if err != nil {
		l.cer = nil
		return err
	}
	if !seen {
		from := uint64(1)
		if ls, ok := r.(LastSeqer); ok {
			if last, err := ls.LastSeq(ctx); err == nil {
				from = last + 1
			}
		}
		return &DamageError{Against: against, D: Divergence{MissingFrom: from, MissingTo: uint64(m)}}
	}
	l.tree, l.cerBase, l.resumed = stored, uint64(m), true
	return nil
}

// Reset empties the tree: the next Sync recomputes it from the whole
// stream, and Check compares it with the hash file.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tree, l.cer, l.cerBase, l.resumed = &Tree{}, nil, 0, false
}
