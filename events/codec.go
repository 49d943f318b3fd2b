package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// ValidCeremonyID reports whether id can name a ceremony: 1-64 letters,
// digits, '-' or '_'. It becomes a subject token in the store, so no dots,
// wildcards or spaces.
func ValidCeremonyID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// Encode returns the stored form of e: compact JSON, fields in struct
// order, exactly the bytes json.Marshal writes for the Envelope (written
// here field by field; TestEncodeIsJSONMarshal and FuzzEncodeDecode
// compare the two).
func Encode(e Envelope) ([]byte, error) {
	if err := check(e); err != nil {
		return nil, err
	}
	ts, err := e.Time.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("events: encode ceremony %s position %d: %w", e.CeremonyID, e.Position, err)
	}
	b := make([]byte, 0, 256+len(e.Payload))
	b = appendString(append(b, `{"id":`...), e.ID)
	b = appendString(append(b, `,"ceremony_id":`...), e.CeremonyID)
	b = appendString(append(b, `,"kind":`...), e.Kind)
	b = appendString(append(b, `,"type":`...), e.Type)
	b = strconv.AppendInt(append(b, `,"version":`...), int64(e.Version), 10)
	b = strconv.AppendUint(append(b, `,"position":`...), e.Position, 10)
	b = append(append(b, `,"time":`...), ts...)
	b = appendString(append(b, `,"source":`...), string(e.Source))
	if e.CausationID != "" {
		b = appendString(append(b, `,"causation_id":`...), e.CausationID)
	}
	b = append(append(b, `,"payload":`...), e.Payload...) // canonical: check
	b = appendString(append(b, `,"prev_hash":`...), e.PrevHash)
	b = appendString(append(b, `,"hash":`...), e.Hash)
	return append(b, '}'), nil
}

// Decode parses stored bytes into an envelope and checks its own hash. It
// does not decode the payload (see Registry.DecodePayload) so that tools
// that only move events (export, verify) need no payload types. Only the
// canonical form Encode writes is accepted (trailing white space aside).
func Decode(data []byte) (Envelope, error) {
	e, _, err := decodeAfter(data, nil)
	return e, err
}

// A Decoder decodes a sequence of events, such as one ceremony's in
// order: Decode, except that a text field equal to the one it repeats in
// the event decoded before (the ceremony id, kind, type and source; the
// causation id, which is the previous event's id; the previous hash, the
// previous event's hash) is that event's string rather than a new copy,
// and its bytes, already checked, are compared rather than scanned again.
// The envelopes and errors are the same; a read allocates and scans less.
// The zero Decoder is ready; it keeps those strings of the last event
// decoded (not its payload, nor its bytes). Not for use by more than one
// goroutine at a time.
type Decoder struct {
	same [8]string // repeats of the last event, if it took the fast path
}

// Decode is Decode, sharing strings with the last event d decoded.
func (d *Decoder) Decode(data []byte) (Envelope, error) {
	e, fast, err := decodeAfter(data, &d.same)
	switch {
	case err == nil && fast:
		d.same = repeats(e)
	case err == nil:
		d.same = [8]string{} // not checked as safe ASCII: not to compare with
	}
	return e, err
}

// decodeAfter is Decode; same (nil: none) is parseCanonical's. fast
// reports whether data took parseCanonical's fast path.
func decodeAfter(data []byte, same *[8]string) (Envelope, bool, error) {
	for len(data) > 0 && isSpace(data[len(data)-1]) { // a JSON Lines line may keep its newline
		data = data[:len(data)-1]
	}
	e, ts, fast := parseCanonical(data, same)
	var match bool
	if fast {
		// parseCanonical took printable ASCII only: no UTF-8 to check.
		if err := checkScalars(e); err != nil {
			return Envelope{}, false, err
		}
		match = hashMatches(e, ts)
	} else {
		var err error
		if e, err = decodeSlow(data); err != nil {
			return Envelope{}, false, err
		}
		match = hashMatches(e, e.Time.UTC().Format(time.RFC3339Nano))
	}
	if !match {
		return Envelope{}, false, fmt.Errorf("events: decode ceremony %s position %d: %w: hash does not match the content (altered or truncated)", e.CeremonyID, e.Position, ErrMalformed)
	}
	return e, fast, nil
}

// decodeSlow is the strict reflection-based decoder: it gives precise
// errors, and refuses a valid event that is not in canonical form.
func decodeSlow(data []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("events: decode (%d bytes): %w: %v", len(data), ErrMalformed, err)
	}
	if !atEOF(dec) {
		return Envelope{}, fmt.Errorf("events: decode: %w: trailing data after the event", ErrMalformed)
	}
	if err := check(e); err != nil {
		return Envelope{}, err
	}
	if canon, err := json.Marshal(e); err != nil || !bytes.Equal(canon, data) {
		return Envelope{}, fmt.Errorf("events: decode ceremony %s position %d: %w: not in the canonical form Encode writes (white space, field order or escaping differ)", e.CeremonyID, e.Position, ErrMalformed)
	}
	return e, nil
}

func check(e Envelope) error {
	if err := checkFields(e); err != nil {
		return err
	}
	switch {
	case len(e.Payload) == 0 || !json.Valid(e.Payload):
		return malformed(e, "payload is not valid JSON")
	case !canonicalPayload(e.Payload):
		return malformed(e, "payload is not compact JSON as json.Marshal writes it (Encode would store other bytes than the hashed ones)")
	}
	return nil
}

func malformed(e Envelope, what string) error {
	return fmt.Errorf("events: ceremony %q position %d: %w: %s", e.CeremonyID, e.Position, ErrMalformed, what)
}

// checkFields checks every field but the payload.
func checkFields(e Envelope) error {
	if err := checkScalars(e); err != nil {
		return err
	}
	if !utf8.ValidString(e.ID) || !utf8.ValidString(e.Kind) || !utf8.ValidString(e.Type) ||
		!utf8.ValidString(e.CausationID) || !utf8.ValidString(e.PrevHash) {
		// json.Marshal would store U+FFFD in place of the hashed bytes.
		return malformed(e, "a text field is not valid UTF-8")
	}
	return nil
}

// checkScalars is checkFields without the UTF-8 check of the text fields.
func checkScalars(e Envelope) error {
	switch {
	case e.ID == "":
		return malformed(e, "empty event id")
	case !ValidCeremonyID(e.CeremonyID):
		return malformed(e, "ceremony id must be 1-64 letters, digits, '-' or '_'")
	case e.Kind == "":
		return malformed(e, "empty ceremony kind")
	case e.Type == "":
		return malformed(e, "empty event type")
	case e.Version < 1:
		return malformed(e, "schema version must be >= 1")
	case e.Position < 1:
		return malformed(e, "position must be >= 1")
	case e.Time.IsZero():
		return malformed(e, "zero time")
	case !e.Source.valid():
		return malformed(e, fmt.Sprintf("unknown source %q", e.Source))
	}
	return nil
}

// canonicalPayload reports whether p is exactly what json.Marshal writes
// for it. Encode re-marshals the payload (compacting it and escaping <, >
// and &), so any other form would be stored as bytes that no longer match
// the hash computed over p.
//
// For valid JSON that means (encoding/json's compact with HTML escaping):
// no white space outside strings, no <, > or & anywhere, no U+2028 or
// U+2029. FuzzCanonicalPayload compares this with json.Marshal.
func canonicalPayload(p json.RawMessage) bool {
	if !json.Valid(p) {
		return false
	}
	inStr := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(p) && p[i+1] == 0x80 && (p[i+2] == 0xA8 || p[i+2] == 0xA9):
			return false
		case inStr && c == '\\':
			i++ // the escaped byte is ASCII in valid JSON
		case c == '"':
			inStr = !inStr
		case !inStr && isSpace(c):
			return false
		}
	}
	return true
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// atEOF reports whether nothing but white space follows the value dec
// decoded. (Decoder.More is not enough: it reports false for a stray '}'
// or ']'.)
func atEOF(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err == io.EOF
}
