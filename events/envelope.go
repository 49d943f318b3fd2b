package events

import (
	"encoding/json"
	"time"
)

// Source says who or what produced an event (ARCHITECTURE.md, "Events").
type Source string

// The sources an event can have.
const (
	SourceOperator Source = "operator"
	SourceReader   Source = "reader"
	SourceCard     Source = "card"
	SourceHSM      Source = "hsm"
	SourceEngine   Source = "engine"
)

func (s Source) valid() bool {
	switch s {
	case SourceOperator, SourceReader, SourceCard, SourceHSM, SourceEngine:
		return true
	}
	return false
}

// Envelope is one stored event. Field order here is the order of the JSON
// encoding and of the hash input; do not reorder.
type Envelope struct {
	ID          string          `json:"id"`
	CeremonyID  string          `json:"ceremony_id"`
	Kind        string          `json:"kind"`
	Type        string          `json:"type"`
	Version     int             `json:"version"`
	Position    uint64          `json:"position"`
	Time        time.Time       `json:"time"`
	Source      Source          `json:"source"`
	CausationID string          `json:"causation_id,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

// Record is an envelope as read back from a store, with the store's own
// sequence number and the exact bytes that were stored.
type Record struct {
	Seq  uint64 // stream sequence, increasing over all ceremonies
	Data []byte // the stored bytes, as appended
	Envelope
}
