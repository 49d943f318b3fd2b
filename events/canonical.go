package events

import (
	"encoding/json"
	"strconv"
	"time"
)

// The stored form of an event is canonical: exactly what Encode writes
// (json.Marshal of the Envelope: fields in struct order, no white space,
// causation_id omitted when empty, the payload compact with <, > and &
// escaped). parseCanonical reads that form in one pass without
// reflection; anything it does not recognise goes to the slower strict
// decoder, which gives the precise error. Both accept exactly the same
// inputs: the slow path refuses a valid but non-canonical event.

// parseCanonical returns the envelope and true if data is in the fast
// canonical form (ASCII strings without escapes).
func parseCanonical(data []byte) (Envelope, bool) {
	c := cursor{b: data, ok: true}
	var e Envelope
	c.lit(`{"id":`)
	e.ID = c.str()
	c.lit(`,"ceremony_id":`)
	e.CeremonyID = c.str()
	c.lit(`,"kind":`)
	e.Kind = c.str()
	c.lit(`,"type":`)
	e.Type = c.str()
	c.lit(`,"version":`)
	e.Version = int(c.uint())
	c.lit(`,"position":`)
	e.Position = c.uint()
	c.lit(`,"time":`)
	ts := c.str()
	c.lit(`,"source":`)
	e.Source = Source(c.str())
	if c.peek(`,"causation_id":`) {
		c.lit(`,"causation_id":`)
		e.CausationID = c.str()
		if e.CausationID == "" {
			return Envelope{}, false // omitempty would not write it
		}
	}
	c.lit(`,"payload":`)
	e.Payload = c.object()
	c.lit(`,"prev_hash":`)
	e.PrevHash = c.str()
	c.lit(`,"hash":`)
	e.Hash = c.str()
	c.lit(`}`)
	if !c.ok || c.i != len(data) {
		return Envelope{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || t.Format(time.RFC3339Nano) != ts {
		return Envelope{}, false
	}
	e.Time = t
	return e, true
}

type cursor struct {
	b  []byte
	i  int
	ok bool
}

func (c *cursor) peek(s string) bool {
	return c.ok && len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s
}

func (c *cursor) lit(s string) {
	if !c.peek(s) {
		c.ok = false
		return
	}
	c.i += len(s)
}

// safe reports whether json.Marshal writes byte b unescaped in a string.
func safe(b byte) bool {
	return b >= 0x20 && b < 0x7f && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// str reads a string of safe ASCII bytes only (others take the slow path).
func (c *cursor) str() string {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '"' {
		c.ok = false
		return ""
	}
	start := c.i + 1
	for j := start; j < len(c.b); j++ {
		if c.b[j] == '"' {
			c.i = j + 1
			return string(c.b[start:j])
		}
		if !safe(c.b[j]) {
			break
		}
	}
	c.ok = false
	return ""
}

// uint reads a decimal without leading zeros.
func (c *cursor) uint() uint64 {
	if !c.ok {
		return 0
	}
	j := c.i
	for j < len(c.b) && c.b[j] >= '0' && c.b[j] <= '9' {
		j++
	}
	s := c.b[c.i:j]
	if len(s) == 0 || (len(s) > 1 && s[0] == '0') {
		c.ok = false
		return 0
	}
	n, err := strconv.ParseUint(string(s), 10, 63)
	if err != nil {
		c.ok = false
		return 0
	}
	c.i = j
	return n
}

// object reads a JSON object with no white space outside strings and only
// safe ASCII or escapes inside them, and checks it is valid JSON.
func (c *cursor) object() json.RawMessage {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '{' {
		c.ok = false
		return nil
	}
	start, depth, inStr := c.i, 0, false
	for j := start; j < len(c.b); j++ {
		b := c.b[j]
		if inStr {
			switch {
			case b == '\\':
				j++ // an escape: keep it as written, as json.Marshal does
			case b == '"':
				inStr = false
			case !safe(b):
				c.ok = false
				return nil
			}
			continue
		}
		switch b {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				raw := c.b[start : j+1]
				if !json.Valid(raw) {
					c.ok = false
					return nil
				}
				c.i = j + 1
				return raw // aliases data, which the caller keeps unchanged
			}
		case ' ', '\t', '\n', '\r', '<', '>', '&':
			c.ok = false
			return nil
		}
	}
	c.ok = false
	return nil
}
