package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// Clock is the fixed time of the first test event; event n is n seconds later.
var Clock = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// TestKind and TestType are the ceremony kind and event type of test events.
// The type has dots, as the real ones do.
const (
	TestKind = "test"
	TestType = "test.appended"
)

// Event returns the encoded form of a valid, sealed event of ceremonyID with
// id eventID at position pos, chained after prevHash ("" for position 1),
// and its hash. The payload is {"n":1}: a store does not decode payloads.
func Event(tb testing.TB, ceremonyID, eventID string, pos uint64, prevHash string) (data []byte, hash string) {
	tb.Helper()
	return EventWithPayload(tb, ceremonyID, eventID, pos, prevHash, json.RawMessage(`{"n":1}`))
}

// EventWithPayload is Event with a caller-chosen JSON payload (for example
// to make events of a given size in benchmarks).
func EventWithPayload(tb testing.TB, ceremonyID, eventID string, pos uint64, prevHash string, payload json.RawMessage) (data []byte, hash string) {
	tb.Helper()
	e := events.Envelope{
		ID:         eventID,
		CeremonyID: ceremonyID,
		Kind:       TestKind,
		Type:       TestType,
		Version:    1,
		Position:   pos,
		Time:       Clock.Add(time.Duration(pos) * time.Second),
		Source:     events.SourceEngine,
		Payload:    payload,
	}
	events.Seal(&e, prevHash)
	data, err := events.Encode(e)
	if err != nil {
		tb.Fatalf("storetest: build event %s of ceremony %s: %v", eventID, ceremonyID, err)
	}
	return data, e.Hash
}

// Chain builds the events of one ceremony in order: positions 1, 2, 3…,
// each chained to the one before, with ids "<ceremony>-<position>".
type Chain struct {
	CeremonyID string
	pos        uint64
	prev       string
}

// NewChain starts the events of ceremonyID at position 1.
func NewChain(ceremonyID string) *Chain { return &Chain{CeremonyID: ceremonyID} }

// Next returns the id and the encoded bytes of the next event.
func (c *Chain) Next(tb testing.TB) (eventID string, data []byte) {
	tb.Helper()
	c.pos++
	eventID = fmt.Sprintf("%s-%d", c.CeremonyID, c.pos)
	data, c.prev = Event(tb, c.CeremonyID, eventID, c.pos, c.prev)
	return eventID, data
}
