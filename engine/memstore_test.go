package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// memStore is an in-memory events.Store for pure unit tests (replaying a
// golden log without a server). It is a fake: the engine's behaviour
// against the real store is tested with adapters/jetstream. It passes the
// same acceptance suite as the real store (TestMemStoreAcceptance).
type memStore struct {
	mu   sync.Mutex
	recs []events.Record
}

var _ events.Store = (*memStore)(nil)

// memStoreOf returns a store holding data (stored event bytes) in order.
func memStoreOf(t *testing.T, data [][]byte) *memStore {
	t.Helper()
	s := &memStore{}
	last := map[string]uint64{}
	for i, b := range data {
		e, err := events.Decode(b)
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		seq, err := s.Append(context.Background(), e.CeremonyID, e.ID, last[e.CeremonyID], b)
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		last[e.CeremonyID] = seq
	}
	return s
}

func (s *memStore) Append(_ context.Context, ceremonyID, eventID string, expected uint64, data []byte) (uint64, error) {
	e, err := events.Decode(data)
	if err != nil {
		return 0, fmt.Errorf("memstore: append: %w", err)
	}
	if e.CeremonyID != ceremonyID || e.ID != eventID {
		return 0, fmt.Errorf("memstore: append: the bytes are event %s of ceremony %s, not %s of %s", e.ID, e.CeremonyID, eventID, ceremonyID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var last uint64
	for _, r := range s.recs {
		if r.CeremonyID == ceremonyID {
			last = r.Seq
		}
	}
	if last != expected {
		return 0, &events.ConflictError{CeremonyID: ceremonyID, Expected: expected}
	}
	seq := uint64(len(s.recs) + 1)
	s.recs = append(s.recs, events.Record{Seq: seq, Data: append([]byte(nil), data...), Envelope: e})
	return seq, nil
}

func (s *memStore) Load(_ context.Context, ceremonyID string) ([]events.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []events.Record
	for _, r := range s.recs {
		if r.CeremonyID == ceremonyID {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *memStore) Replay(ctx context.Context, from uint64, fn func(events.Record) error) error {
	s.mu.Lock()
	recs := append([]events.Record(nil), s.recs...)
	s.mu.Unlock()
	for _, r := range recs {
		if r.Seq < from {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// TestMemStoreAcceptance keeps the fake honest: it must meet the same
// contract as the real store.
func TestMemStoreAcceptance(t *testing.T) {
	var mu sync.Mutex
	byDir := map[string]*memStore{}
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, dir string) events.Store {
			mu.Lock()
			defer mu.Unlock()
			if s, ok := byDir[dir]; ok {
				return s
			}
			s := &memStore{}
			byDir[dir] = s
			return s
		},
		Close: func(*testing.T, events.Store) {},
	})
}
