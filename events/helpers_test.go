package events_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// testTime is the time of the first test event.
var testTime = time.Date(2025, 3, 14, 9, 30, 0, 123456789, time.UTC)

// testEnvelope returns a valid, sealed envelope at position pos of
// ceremony "bkg-1", chained after prev. change, if not nil, is applied
// before sealing.
func testEnvelope(pos uint64, prev string, change func(*events.Envelope)) events.Envelope {
	e := events.Envelope{
		ID:         fmt.Sprintf("evt-%04d", pos),
		CeremonyID: "bkg-1",
		Kind:       "backup-key-generate",
		Type:       "card.removed",
		Version:    1,
		Position:   pos,
		Time:       testTime.Add(time.Duration(pos) * time.Second),
		Source:     events.SourceReader,
		Payload:    json.RawMessage(`{"reader":"Virtual PCD 00 00","serial":"000500001234"}`),
	}
	if pos > 1 {
		e.CausationID = fmt.Sprintf("evt-%04d", pos-1)
	}
	if change != nil {
		change(&e)
	}
	events.Seal(&e, prev)
	return e
}

// testChain returns n sealed, chained envelopes at positions 1..n.
func testChain(n int) []events.Envelope {
	out := make([]events.Envelope, 0, n)
	prev := ""
	for i := 1; i <= n; i++ {
		e := testEnvelope(uint64(i), prev, nil)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// rawJSON marshals e as Encode would, without Encode's checks, so that
// tests can build stored bytes that Encode itself refuses to write.
func rawJSON(t *testing.T, e events.Envelope) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal test envelope: %v", err)
	}
	return b
}

// sameEnvelope reports whether a and b are equal, comparing times as
// instants (a decoded time carries its zone, not the original Location).
func sameEnvelope(a, b events.Envelope) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a.ID == b.ID && a.CeremonyID == b.CeremonyID && a.Kind == b.Kind &&
		a.Type == b.Type && a.Version == b.Version && a.Position == b.Position &&
		a.Source == b.Source && a.CausationID == b.CausationID &&
		string(a.Payload) == string(b.Payload) && a.PrevHash == b.PrevHash && a.Hash == b.Hash
}
