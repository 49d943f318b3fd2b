package events

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// The stored form of an event is canonical: exactly what Encode writes
// (json.Marshal of the Envelope: fields in struct order, no white space,
// causation_id omitted when empty, the payload compact with <, > and &
// escaped). parseCanonical reads that form in one pass without
// reflection; anything it does not recognise goes to the slower strict
// decoder, which gives the precise error. Both accept exactly the same
// inputs: the slow path refuses a valid but non-canonical event.

// parseCanonical returns the envelope, its time as written (aliasing
// data), and true if data is in the fast canonical form (ASCII strings
// without escapes). same (nil: none) is what the event before, if it took
// this fast path, gives each text field to repeat (see repeats): a field
// whose text is that string is that string, its bytes known to be safe
// ASCII without scanning them again. The other fields share one copy of
// their bytes (one allocation per event, the payload and the field names
// left out). The payload aliases data.
func parseCanonical(data []byte, same *[8]string) (Envelope, []byte, bool) {
	if same == nil {
		same = &[8]string{}
	}
	c := cursor{b: data, ok: true}
	var e Envelope
	var text [8]span // id, ceremony_id, kind, type, source, causation_id, prev_hash, hash
	var out [8]string
	c.lit(`{"id":`)
	text[0] = c.str()
	c.lit(`,"ceremony_id":`)
	text[1] = c.strOr(same[1], &out[1])
	c.lit(`,"kind":`)
	text[2] = c.strOr(same[2], &out[2])
	c.lit(`,"type":`)
	text[3] = c.strOr(same[3], &out[3])
	c.lit(`,"version":`)
	e.Version = int(c.uint())
	c.lit(`,"position":`)
	e.Position = c.uint()
	c.lit(`,"time":`)
	ts := c.str()
	c.lit(`,"source":`)
	text[4] = c.strOr(same[4], &out[4])
	if c.peek(`,"causation_id":`) {
		c.lit(`,"causation_id":`)
		if text[5] = c.strOr(same[5], &out[5]); text[5].empty() {
			return Envelope{}, nil, false // omitempty would not write it
		}
	}
	c.lit(`,"payload":`)
	e.Payload = c.object()
	c.lit(`,"prev_hash":`)
	text[6] = c.strOr(same[6], &out[6])
	c.lit(`,"hash":`)
	text[7] = c.str()
	c.lit(`}`)
	if !c.ok || c.i != len(data) {
		return Envelope{}, nil, false
	}
	t, ok := parseUTC(data[ts.from:ts.to])
	if !ok {
		return Envelope{}, nil, false
	}
	e.Time = t
	n := 0
	for k, f := range text {
		if out[k] == "" {
			n += f.to - f.from
		}
	}
	if n > 0 {
		var sb strings.Builder
		sb.Grow(n)
		for k, f := range text {
			if out[k] == "" {
				sb.Write(data[f.from:f.to])
			}
		}
		all, at := sb.String(), 0
		for k, f := range text {
			if out[k] == "" {
				out[k] = all[at : at+f.to-f.from]
				at += f.to - f.from
			}
		}
	}
	e.ID, e.CeremonyID, e.Kind, e.Type = out[0], out[1], out[2], out[3]
	e.Source, e.CausationID, e.PrevHash, e.Hash = Source(out[4]), out[5], out[6], out[7]
	return e, data[ts.from:ts.to], true
}

// repeats returns what the event after e usually repeats of it, for
// parseCanonical's same: its ceremony id, kind, type and source; its
// causation id is e's id, its previous hash e's hash.
func repeats(e Envelope) [8]string {
	return [8]string{1: e.CeremonyID, 2: e.Kind, 3: e.Type, 4: string(e.Source), 5: e.ID, 6: e.Hash}
}

// span is where a string's text is in the data: data[from:to].
type span struct{ from, to int }

func (s span) empty() bool { return s.from == s.to }

// parseUTC parses the form time.Time.MarshalJSON writes for a UTC time
// with a four-digit year (RFC 3339, "Z", the fraction without trailing
// zeros): exactly the strings t.Format(time.RFC3339Nano) returns for the
// t it gives. Anything else reports false (the strict decoder decides).
func parseUTC[T ~string | ~[]byte](s T) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(v T) int {
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
	if frac := s[19 : len(s)-1]; len(frac) != 0 {
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
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	// What time.Date gives for these fields in UTC (the same Time value,
	// TestParseUTCIsTimeDate), without its normalisation.
	unix := (daysSinceEpoch(year, month, day)*24+int64(hour))*3600 + int64(minute)*60 + int64(sec)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysIn returns the number of days of month (1-12) in year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the days from 1970-01-01 to the given date of
// the proleptic Gregorian calendar (year >= 0), by H. Hinnant's
// days_from_civil ("chrono-Compatible Low-Level Date Algorithms").
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400                                    // [0, 399]
	doy := (153*int64((month+9)%12)+2)/5 + int64(day) - 1 // [0, 365], from 1 March
	doe := yoe*365 + yoe/4 - yoe/100 + doy                // [0, 146096]
	return era*146097 + doe - 719468
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
func safe(b byte) bool { return safeByte[b] }

// safeByte[b] is true for the printable ASCII bytes json.Marshal writes
// unescaped in a string: all but '"', '\\', '<', '>' and '&'.
var safeByte = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// strOr reads a string as str does, except that a string whose text is
// want (non-empty safe ASCII, already checked) is not scanned again: then
// *got is set to want.
func (c *cursor) strOr(want string, got *string) span {
	if end := c.i + 1 + len(want); want != "" && c.ok && end < len(c.b) &&
		c.b[c.i] == '"' && c.b[end] == '"' && string(c.b[c.i+1:end]) == want {
		*got = want
		c.i = end + 1
		return span{end - len(want), end}
	}
	return c.str()
}

// str reads a string of safe ASCII bytes only (others take the slow path)
// and returns where its text is.
func (c *cursor) str() span {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '"' {
		c.ok = false
		return span{}
	}
	start := c.i + 1
	for j := start; j < len(c.b); j++ {
		if !safeByte[c.b[j]] {
			if c.b[j] == '"' {
				c.i = j + 1
				return span{start, j}
			}
			break
		}
	}
	c.ok = false
	return span{}
}

// uint reads a decimal without leading zeros that fits in 63 bits.
func (c *cursor) uint() uint64 {
	if !c.ok {
		return 0
	}
	j := c.i
	for j < len(c.b) && c.b[j] >= '0' && c.b[j] <= '9' {
		j++
	}
	s := c.b[c.i:j]
	if len(s) == 0 || (len(s) > 1 && s[0] == '0') || len(s) > 19 {
		c.ok = false
		return 0
	}
	var n uint64 // at most 19 digits: below 2^64
	for _, d := range s {
		n = n*10 + uint64(d-'0')
	}
	if n > math.MaxInt64 {
		c.ok = false
		return 0
	}
	c.i = j
	return n
}

// object reads a JSON object with no white space outside strings and only
// safe ASCII or escapes inside them, checking the JSON grammar in the same
// pass (what json.Valid accepts; FuzzCompactValue compares the two).
func (c *cursor) object() json.RawMessage {
	if !c.ok || c.i >= len(c.b) || c.b[c.i] != '{' {
		c.ok = false
		return nil
	}
	end, ok := compactValue(c.b, c.i, 0)
	if !ok {
		c.ok = false
		return nil
	}
	raw := c.b[c.i:end]
	c.i = end
	return raw // aliases data, which the caller keeps unchanged
}

// maxCompactDepth bounds the nesting compactValue follows; deeper values
// take the strict decoder.
const maxCompactDepth = 64

// compactValue checks the JSON value at b[i:] as json.Marshal writes it
// compactly (no white space, strings of safe ASCII or escapes, no <, >
// or &) and returns where it ends. Anything else reports false.
func compactValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxCompactDepth {
		return 0, false
	}
	switch b[i] {
	case '{':
		i++
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			var ok bool
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			if i, ok = compactString(b, i); !ok || i >= len(b) || b[i] != ':' {
				return 0, false
			}
			if i, ok = compactValue(b, i+1, depth+1); !ok || i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '[':
		i++
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = compactValue(b, i, depth+1); !ok || i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '"':
		return compactString(b, i)
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	default:
		return compactNumber(b, i)
	}
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// compactString checks the string at b[i] (a '"'): safe ASCII bytes and
// JSON escapes only.
func compactString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\':
			if j+1 >= len(b) {
				return 0, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(b) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) || !isHex(b[j+5]) {
					return 0, false
				}
				j += 5
			default:
				return 0, false
			}
		case !safe(c):
			return 0, false
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// compactNumber checks a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func compactNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}
