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

// parseCanonical returns the envelope, its time as written, and true if
// data is in the fast canonical form (ASCII strings without escapes). The
// text fields share one copy of data (one allocation per event); the
// payload aliases data.
func parseCanonical(data []byte) (Envelope, string, bool) {
	c := cursor{b: data, s: string(data), ok: true}
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
			return Envelope{}, "", false // omitempty would not write it
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
		return Envelope{}, "", false
	}
	t, ok := parseUTC(ts)
	if !ok {
		return Envelope{}, "", false
	}
	e.Time = t
	return e, ts, true
}

// parseUTC parses the form time.Time.MarshalJSON writes for a UTC time
// with a four-digit year (RFC 3339, "Z", the fraction without trailing
// zeros): exactly the strings t.Format(time.RFC3339Nano) returns for the
// t it gives. Anything else reports false (the strict decoder decides).
func parseUTC(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(v string) int {
		n := 0
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return -1
			}
			n = n*10 + int(v[i]-'0')
		}
		return n
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		digits := frac[1:]
		if frac[0] != '.' || len(digits) < 1 || len(digits) > 9 || digits[len(digits)-1] == '0' {
			return time.Time{}, false
		}
		if nsec = num(digits); nsec < 0 {
			return time.Time{}, false
		}
		for range 9 - len(digits) {
			nsec *= 10
		}
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 30 February and the like: time.Date normalises
		return time.Time{}, false
	}
	return t, true
}

type cursor struct {
	b  []byte
	s  string // b as a string: the text fields are its substrings
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
			return c.s[start:j]
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
	n, err := strconv.ParseUint(c.s[c.i:j], 10, 63)
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
