package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// parseUTC accepts exactly what time.Time.Format(RFC3339Nano) writes for
// the time it returns, and whatever it accepts time.Parse accepts alike.
func checkParseUTC(t *testing.T, s string) {
	t.Helper()
	got, ok := parseUTC(s)
	if !ok {
		return
	}
	if f := got.Format(time.RFC3339Nano); f != s {
		t.Fatalf("parseUTC(%q) = %v, which formats as %q", s, got, f)
	}
	if want, err := time.Parse(time.RFC3339Nano, s); err != nil || !want.Equal(got) {
		t.Fatalf("parseUTC(%q) = %v, time.Parse gives %v, %v", s, got, want, err)
	}
}

func TestParseUTC(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"2026-11-27T12:00:00Z", true},
		{"2026-11-27T12:00:00.1Z", true},
		{"2026-11-27T12:00:00.123456789Z", true},
		{"2028-02-29T23:59:59.5Z", true},
		{"2026-11-27T12:00:00.10Z", false},         // trailing zero
		{"2026-11-27T12:00:00.Z", false},           // empty fraction
		{"2026-11-27T12:00:00.1234567891Z", false}, // 10 digits
		{"2026-11-27T12:00:00+00:00", false},
		{"2026-02-30T12:00:00Z", false},
		{"2027-02-29T12:00:00Z", false},
		{"2026-13-01T12:00:00Z", false},
		{"2026-11-27T24:00:00Z", false},
		{"2026-11-27T12:60:00Z", false},
		{"2026-11-27T12:00:60Z", false},
		{"0000-01-01T00:00:00Z", false},
		{"2026-11-27t12:00:00Z", false},
		{"2026-11-2712:00:00Z", false},
		{"+026-11-27T12:00:00Z", false},
	} {
		_, ok := parseUTC(c.s)
		if ok != c.ok {
			t.Errorf("parseUTC(%q) ok = %v, want %v", c.s, ok, c.ok)
		}
		checkParseUTC(t, c.s)
	}
	for ns := range 1000 { // every fraction length
		tm := time.Date(2026, 11, 27, 12, 0, 0, ns*1_000_003, time.UTC)
		s := tm.Format(time.RFC3339Nano)
		if got, ok := parseUTC(s); !ok || !got.Equal(tm) {
			t.Fatalf("parseUTC(%q) = %v, %v; want %v", s, got, ok, tm)
		}
	}
}

// TestParseUTCIsTimeDate: parseUTC gives the very Time value time.Date
// gives (==, not only Equal), on every day of years around the leap-year
// rules and at the ends of the four-digit years.
func TestParseUTCIsTimeDate(t *testing.T) {
	for _, year := range []int{1, 2, 4, 99, 100, 1600, 1700, 1899, 1900, 1969, 1970, 1971, 2000, 2024, 2026, 2100, 2400, 9999} {
		for d := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == year; d = d.AddDate(0, 0, 1) {
			for _, at := range []time.Time{d, d.Add(23*time.Hour + 59*time.Minute + 59*time.Second + 999999999), d.Add(12*time.Hour + 34*time.Minute + 56*time.Second + 1000)} {
				want := time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), at.Nanosecond(), time.UTC)
				s := want.Format(time.RFC3339Nano)
				if got, ok := parseUTC(s); !ok || got != want {
					t.Fatalf("parseUTC(%q) = %#v, %v; time.Date gives %#v", s, got, ok, want)
				}
			}
		}
	}
}

func FuzzParseUTC(f *testing.F) {
	f.Add("2026-11-27T12:00:00.123456789Z")
	f.Add("2026-02-29T12:00:00Z")
	f.Add("9999-12-31T23:59:59.999999999Z")
	f.Fuzz(checkParseUTC)
}

// canonicalPayload agrees with the definition: json.Marshal leaves the
// bytes as they are.
func checkCanonicalPayload(t *testing.T, p []byte) {
	b, err := json.Marshal(json.RawMessage(p))
	want := err == nil && bytes.Equal(b, p)
	if got := canonicalPayload(p); got != want {
		t.Fatalf("canonicalPayload(%q) = %v, json.Marshal gives %q, %v", p, got, b, err)
	}
}

func FuzzCanonicalPayload(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a": "b"}`, `{"a":"<"}`, `{"a":"\u003c"}`, "{\"a\":\"\u2028\"}", `{"a":"\"\\"}`, `[1,2.5e3,null,true]`, "{\"a\":\"\xff\"}", ` {}`, `{"a":"x\ty"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkCanonicalPayload)
}

// TestEncodeIsJSONMarshal: Encode writes what json.Marshal writes.
func TestEncodeIsJSONMarshal(t *testing.T) {
	e := Envelope{ID: "evt-1 <&> \"ü\"", CeremonyID: "bkg-1", Kind: "backup-key-generate", Type: "card.removed", Version: 3, Position: 12,
		Time: time.Date(2026, 11, 27, 12, 0, 0, 120, time.FixedZone("CET", 3600)), Source: SourceCard,
		Payload: json.RawMessage(`{"reader":"Müller \u003c","n":[1,2]}`), PrevHash: "ab", CausationID: "c\u2028"}
	Seal(&e, "ab")
	for _, c := range []func(*Envelope){func(*Envelope) {}, func(e *Envelope) { e.CausationID = "" }} {
		c(&e)
		got, err := Encode(e)
		want, jerr := json.Marshal(e)
		if err != nil || jerr != nil || !bytes.Equal(got, want) {
			t.Fatalf("Encode =\n%s (%v)\njson.Marshal =\n%s (%v)", got, err, want, jerr)
		}
	}
}

// FuzzCompactValue: what compactValue accepts, json.Valid accepts and
// json.Marshal would write unchanged; and it accepts every such value of
// ASCII text that is not nested too deep (else events take the slow path).
func FuzzCompactValue(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{}`, `[]`, `{"a":[1,-0.5,2e-3,1E+9,true,false,null,{}]}`, `{"a":"\u00e9\n\"\\\/"}`,
		`{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a" :1}`, `{"a":1,}`, `[1,]`, `{"a":tru}`, `{"a":-}`, `"s"`, `[[[[[[]]]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := compactValue(b, 0, 0)
		whole := ok && end == len(b)
		if whole && (!json.Valid(b) || !canonicalPayload(b)) {
			t.Fatalf("compactValue accepts %q, json.Valid %v, canonical %v", b, json.Valid(b), canonicalPayload(b))
		}
		if whole || !json.Valid(b) || !canonicalPayload(b) || bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxCompactDepth {
			return
		}
		for _, c := range b {
			if c >= 0x7f || c < 0x20 { // safe() leaves these to the slow path
				return
			}
		}
		t.Fatalf("compactValue refuses %q (json.Valid and canonical)", b)
	})
}
