package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
)

// ceremonyIDPattern is what a ceremony id may look like: it becomes a
// subject token in the store, so no dots, wildcards or spaces.
var ceremonyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidCeremonyID reports whether id can name a ceremony.
func ValidCeremonyID(id string) bool { return ceremonyIDPattern.MatchString(id) }

// Encode returns the stored form of e: compact JSON, fields in struct order.
func Encode(e Envelope) ([]byte, error) {
	if err := check(e); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode ceremony %s position %d: %w", e.CeremonyID, e.Position, err)
	}
	return b, nil
}

// Decode parses stored bytes into an envelope and checks its own hash. It
// does not decode the payload (see Registry.DecodePayload) so that tools
// that only move events (export, verify) need no payload types.
func Decode(data []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("events: decode (%d bytes): %w: %v", len(data), ErrMalformed, err)
	}
	if dec.More() {
		return Envelope{}, fmt.Errorf("events: decode: %w: trailing data after the event", ErrMalformed)
	}
	if err := check(e); err != nil {
		return Envelope{}, err
	}
	if got := ComputeHash(e); got != e.Hash {
		return Envelope{}, fmt.Errorf("events: decode ceremony %s position %d: %w: hash does not match the content (altered or truncated)", e.CeremonyID, e.Position, ErrMalformed)
	}
	return e, nil
}

func check(e Envelope) error {
	bad := func(what string) error {
		return fmt.Errorf("events: ceremony %q position %d: %w: %s", e.CeremonyID, e.Position, ErrMalformed, what)
	}
	switch {
	case e.ID == "":
		return bad("empty event id")
	case !ValidCeremonyID(e.CeremonyID):
		return bad("ceremony id must be 1-64 letters, digits, '-' or '_'")
	case e.Kind == "":
		return bad("empty ceremony kind")
	case e.Type == "":
		return bad("empty event type")
	case e.Version < 1:
		return bad("schema version must be >= 1")
	case e.Position < 1:
		return bad("position must be >= 1")
	case e.Time.IsZero():
		return bad("zero time")
	case !e.Source.valid():
		return bad(fmt.Sprintf("unknown source %q", e.Source))
	case len(e.Payload) == 0 || !json.Valid(e.Payload):
		return bad("payload is not valid JSON")
	}
	return nil
}
