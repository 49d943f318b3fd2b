package events

import (
	"context"
	"errors"
	"fmt"
)

// ErrConflict is returned (wrapped in *ConflictError) by Store.Append when
// the expectation about the ceremony's last event is stale: another writer
// appended first. Reload, re-decide, retry.
var ErrConflict = errors.New("append conflict: the ceremony changed since it was read")

// ConflictError says which ceremony and which expectation failed.
type ConflictError struct {
	CeremonyID string
	Expected   uint64 // the stream sequence the caller expected to be last
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("ceremony %s: expected last sequence %d: %v", e.CeremonyID, e.Expected, ErrConflict)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Store is an append-only event store, one ordered log per ceremony inside
// one global order.
type Store interface {
	// Append stores data (an Encode'd envelope of ceremonyID, whose id is
	// eventID) if and only if the last stored event of the ceremony has
	// stream sequence expected (0: the ceremony has no event yet). It
	// returns the new event's stream sequence. On a stale expectation it
	// returns a *ConflictError. An acknowledged append is durable.
	Append(ctx context.Context, ceremonyID, eventID string, expected uint64, data []byte) (uint64, error)
	// Load returns every event of one ceremony in order.
	Load(ctx context.Context, ceremonyID string) ([]Record, error)
	// Replay calls fn for every event of every ceremony with stream
	// sequence >= from, in stream order, and stops at the first error.
	Replay(ctx context.Context, from uint64, fn func(Record) error) error
}

// CeremonyReader is a Store that can hand over one ceremony's events as it
// reads them, so that a caller folds them without holding them all.
type CeremonyReader interface {
	// ReadCeremony calls fn with every event of ceremonyID in order, up to
	// its last event when the read started, and stops at the first error
	// from fn (returned as is). An unknown ceremony calls fn never. fn may
	// run on a goroutine of the store's, one call at a time, never after
	// ReadCeremony returns; a panic in fn is raised again by ReadCeremony.
	ReadCeremony(ctx context.Context, ceremonyID string, fn func(Record) error) error
}

// Follower is a Store that can deliver events as they are appended, by
// any writer (another process, another node).
type Follower interface {
	// Follow calls fn for every event with stream sequence >= from, in
	// stream order, then for each new one as it is stored, until ctx is
	// done (it then returns nil) or fn or the store fails.
	Follow(ctx context.Context, from uint64, fn func(Record) error) error
}
