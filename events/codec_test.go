package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	cases := []struct {
		name   string
		change func(*events.Envelope)
	}{
		{"first event, no causation", func(e *events.Envelope) { e.CausationID = "" }},
		{"with causation id", nil},
		{"time in another zone", func(e *events.Envelope) { e.Time = e.Time.In(paris) }},
		{"whole seconds", func(e *events.Envelope) { e.Time = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"every source", func(e *events.Envelope) { e.Source = events.SourceHSM }},
		{"payload with escaped characters", func(e *events.Envelope) {
			e.Type = "hsm.load_failed"
			e.Payload = mustMarshal(t, events.HSMLoadFailed{HSM: "softhsm2", Error: `KCV <a1b2c3> & "quoted" é`})
		}},
		{"empty object payload", func(e *events.Envelope) {
			e.Type = "backupkey.write_confirmed"
			e.Payload = json.RawMessage(`{}`)
		}},
		{"large position and version", func(e *events.Envelope) { e.Position, e.Version = 1<<53, 7 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testEnvelope(2, strings.Repeat("ab", 32), c.change)
			b, err := events.Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := events.Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !sameEnvelope(got, e) {
				t.Errorf("Decode(Encode(e)) = %+v, want %+v", got, e)
			}
			again, err := events.Encode(got)
			if err != nil {
				t.Fatalf("Encode of the decoded envelope: %v", err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("re-encoding is not byte-exact:\n got %s\nwant %s", again, b)
			}
		})
	}
}

func TestDecodeAcceptsTrailingNewline(t *testing.T) {
	b, err := events.Encode(testEnvelope(1, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Decode(append(b, '\n')); err != nil {
		t.Errorf("Decode of a JSON Lines line with its newline: %v", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := testEnvelope(2, strings.Repeat("cd", 32), nil)
	goodBytes, err := events.Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	// resealed builds stored bytes of an envelope changed and sealed again,
	// so that only the changed rule can refuse it.
	resealed := func(change func(*events.Envelope)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			return rawJSON(t, testEnvelope(2, good.PrevHash, change))
		}
	}
	// edited replaces old by new in the good bytes, which must contain old.
	edited := func(old, new string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			if !bytes.Contains(goodBytes, []byte(old)) {
				t.Fatalf("test bug: %q not in %s", old, goodBytes)
			}
			return bytes.Replace(goodBytes, []byte(old), []byte(new), 1)
		}
	}
	fixed := func(b string) func(t *testing.T) []byte {
		return func(*testing.T) []byte { return []byte(b) }
	}
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"empty input", fixed("")},
		{"JSON null", fixed("null")},
		{"an array", fixed("[]")},
		{"unknown field", edited(`{"id":`, `{"extra":1,"id":`)},
		{"unknown field in the middle", edited(`,"source":`, `,"signature":"x","source":`)},
		{"trailing object", func(*testing.T) []byte { return append(append([]byte{}, goodBytes...), `{}`...) }},
		{"trailing brace", func(*testing.T) []byte { return append(append([]byte{}, goodBytes...), `}`...) }},
		{"trailing bracket", func(*testing.T) []byte { return append(append([]byte{}, goodBytes...), "\n]"...) }},
		{"trailing word", func(*testing.T) []byte { return append(append([]byte{}, goodBytes...), ` x`...) }},
		{"second event on the line", func(*testing.T) []byte { return append(append([]byte{}, goodBytes...), goodBytes...) }},
		{"truncated by one byte", func(*testing.T) []byte { return goodBytes[:len(goodBytes)-1] }},
		{"truncated in the payload", func(*testing.T) []byte { return goodBytes[:bytes.Index(goodBytes, []byte(`"payload"`))+15] }},
		{"empty id", resealed(func(e *events.Envelope) { e.ID = "" })},
		{"empty ceremony id", resealed(func(e *events.Envelope) { e.CeremonyID = "" })},
		{"ceremony id with a dot", resealed(func(e *events.Envelope) { e.CeremonyID = "bkg.1" })},
		{"ceremony id with a space", resealed(func(e *events.Envelope) { e.CeremonyID = "bkg 1" })},
		{"ceremony id with a wildcard", resealed(func(e *events.Envelope) { e.CeremonyID = "bkg-*" })},
		{"ceremony id of 65 characters", resealed(func(e *events.Envelope) { e.CeremonyID = strings.Repeat("a", 65) })},
		{"empty kind", resealed(func(e *events.Envelope) { e.Kind = "" })},
		{"empty type", resealed(func(e *events.Envelope) { e.Type = "" })},
		{"version 0", resealed(func(e *events.Envelope) { e.Version = 0 })},
		{"negative version", resealed(func(e *events.Envelope) { e.Version = -1 })},
		{"position 0", resealed(func(e *events.Envelope) { e.Position = 0 })},
		{"zero time", resealed(func(e *events.Envelope) { e.Time = time.Time{} })},
		{"unknown source", resealed(func(e *events.Envelope) { e.Source = "robot" })},
		{"empty source", resealed(func(e *events.Envelope) { e.Source = "" })},
		{"missing payload", edited(`"payload":{"reader":"Virtual PCD 00 00","serial":"000500001234"},`, ``)},
		{"payload not compact", resealed(func(e *events.Envelope) { e.Payload = json.RawMessage(`{"reader": "r"}`) })},
		{"payload with unescaped <", resealed(func(e *events.Envelope) { e.Payload = json.RawMessage(`{"reader":"<r>"}`) })},
		{"changed kind", edited(`"kind":"backup-key-generate"`, `"kind":"backup-key-load"`)},
		{"changed payload value", edited(`"serial":"000500001234"`, `"serial":"000500009999"`)},
		{"changed position", edited(`"position":2`, `"position":3`)},
		{"changed time", edited(`"time":"2025-03-14T09:30:02.123456789Z"`, `"time":"2025-03-14T09:30:03.123456789Z"`)},
		{"changed source", edited(`"source":"reader"`, `"source":"card"`)},
		{"changed causation id", edited(`"causation_id":"evt-0001"`, `"causation_id":"evt-0000"`)},
		{"removed causation id", edited(`"causation_id":"evt-0001",`, ``)},
		{"changed prev hash", edited(`"prev_hash":"cdcd`, `"prev_hash":"cdce`)},
		{"empty hash", edited(`"hash":"`+good.Hash+`"`, `"hash":""`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data(t)
			got, err := events.Decode(data)
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Decode(%s) = %+v, %v; want an error wrapping ErrMalformed", data, got, err)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	cases := []struct {
		name   string
		change func(*events.Envelope)
	}{
		{"empty id", func(e *events.Envelope) { e.ID = "" }},
		{"bad ceremony id", func(e *events.Envelope) { e.CeremonyID = "a.b" }},
		{"empty kind", func(e *events.Envelope) { e.Kind = "" }},
		{"empty type", func(e *events.Envelope) { e.Type = "" }},
		{"version 0", func(e *events.Envelope) { e.Version = 0 }},
		{"position 0", func(e *events.Envelope) { e.Position = 0 }},
		{"zero time", func(e *events.Envelope) { e.Time = time.Time{} }},
		{"unknown source", func(e *events.Envelope) { e.Source = "robot" }},
		{"no payload", func(e *events.Envelope) { e.Payload = nil }},
		{"invalid payload JSON", func(e *events.Envelope) { e.Payload = json.RawMessage(`{"reader":`) }},
		// json.Marshal would store U+FFFD instead of the hashed byte.
		{"id not UTF-8", func(e *events.Envelope) { e.ID = "evt-\xe3" }},
		{"causation id not UTF-8", func(e *events.Envelope) { e.CausationID = "\xff" }},
		{"type not UTF-8", func(e *events.Envelope) { e.Type = "card.\xc3" }},
		// Encode would compact this: the stored bytes would not match the hash.
		{"payload not compact", func(e *events.Envelope) { e.Payload = json.RawMessage("{\n  \"reader\": \"r\"\n}") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testEnvelope(1, "", c.change)
			b, err := events.Encode(e)
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Encode = %s, %v; want an error wrapping ErrMalformed", b, err)
			}
		})
	}
}

func TestValidCeremonyID(t *testing.T) {
	cases := []struct {
		id   string
		want bool
	}{
		{"bkg-20250314_01", true},
		{"a", true},
		{strings.Repeat("Z9", 32), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a.b", false},
		{"a b", false},
		{"a>", false},
		{"a*", false},
		{"é", false},
	}
	for _, c := range cases {
		if got := events.ValidCeremonyID(c.id); got != c.want {
			t.Errorf("ValidCeremonyID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

func mustMarshal(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
