package events_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// bytes that decode again to the same envelope and encode to the same
// bytes (the stored form is stable, and its hash still matches).
func FuzzDecode(f *testing.F) {
	for _, line := range readGoldenLines(f) {
		f.Add(line)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := events.Decode(data)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Decode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		b, err := events.Encode(e)
		if err != nil {
			t.Fatalf("Encode of a decoded envelope: %v\ninput %q", err, data)
		}
		e2, err := events.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))): %v\ninput   %q\nencoded %q", err, data, b)
		}
		if !sameEnvelope(e, e2) {
			t.Fatalf("re-decoded envelope differs:\n%+v\n%+v", e, e2)
		}
		b2, err := events.Encode(e2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second encoding differs (%v):\n%q\n%q", err, b, b2)
		}
	})
}

// FuzzDecodePayload: DecodePayload never panics, fails only with the
// package's sentinel errors, and a decoded payload marshals to a payload
// that decodes and marshals to the same bytes.
func FuzzDecodePayload(f *testing.F) {
	reg := kinds.Registry()
	for _, line := range readGoldenLines(f) {
		e, err := events.Decode(line)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Type, e.Version, []byte(e.Payload))
	}
	f.Add("card.presented", 1, []byte(`null`))
	f.Add("card.presented", 2, []byte(`{"reader":"r","reader_class":"class3-pinpad","serial":"s","slot":1}`))
	f.Add("step.deadline_set", 1, []byte(`{"step":"s","deadline":"2025-01-01T00:00:00Z"}`))
	f.Add("nope", 1, []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, version int, raw []byte) {
		e := payloadEnvelope(typ, version, string(raw))
		p, err := reg.DecodePayload(e)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrUnknownType) && !errors.Is(err, events.ErrUnknownVersion) {
				t.Fatalf("DecodePayload error wraps no sentinel: %v", err)
			}
			return
		}
		if string(e.Payload) != string(raw) {
			t.Fatalf("DecodePayload changed the envelope's payload")
		}
		typ2, v2, raw2, err := reg.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of a decoded payload: %v", err)
		}
		if typ2 != typ {
			t.Fatalf("decoded %q, marshals as %q", typ, typ2)
		}
		p2, err := reg.DecodePayload(payloadEnvelope(typ2, v2, string(raw2)))
		if err != nil {
			t.Fatalf("DecodePayload(Marshal(p)) = %v\npayload %s", err, raw2)
		}
		// Compared in marshalled form: a time decoded from "+00:00" and
		// one decoded from "Z" are the same instant in other Locations.
		_, _, raw3, err := reg.Marshal(p2)
		if err != nil || !bytes.Equal(raw2, raw3) {
			t.Fatalf("payload changed on a round trip (%v):\n%s\n%s", err, raw2, raw3)
		}
	})
}

// FuzzEncodeDecode: an envelope that Encode accepts decodes back to the
// same envelope and encodes to the same bytes. (FuzzDecode rarely gets
// past the hash check; this one reaches the rest of Decode.)
func FuzzEncodeDecode(f *testing.F) {
	f.Add("evt-1", "bkg-1", "backup-key-generate", "card.removed", 1, uint64(1), int64(1741944600123456789), "reader", "", []byte(`{"reader":"r","serial":"s"}`), "")
	f.Add("evt-2", "bkg-1", "k", "t", 2, uint64(2), int64(0), "hsm", "evt-1", []byte(`{"e":"<&>"}`), "ab")
	// Found by this fuzzer: json.Marshal stored U+FFFD for invalid UTF-8.
	f.Add("0", "0", "0", "0", 1, uint64(20), int64(1741944600123456698), "reader", "", []byte(`{}`), "\xe3")
	// Found by review: Encode compacted a payload that was hashed uncompacted.
	f.Add("0", "0", "0", "0", 1, uint64(1), int64(1), "card", "", []byte(`{"a": 1}`), "")
	f.Fuzz(func(t *testing.T, id, ceremonyID, kind, typ string, version int, position uint64, unixNano int64, source, causation string, payload []byte, prev string) {
		e := events.Envelope{
			ID: id, CeremonyID: ceremonyID, Kind: kind, Type: typ, Version: version, Position: position,
			Time: time.Unix(0, unixNano).UTC(), Source: events.Source(source), CausationID: causation,
			Payload: payload,
		}
		events.Seal(&e, prev)
		b, err := events.Encode(e)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Encode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		d, err := events.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(e)): %v\nencoded %q", err, b)
		}
		if !sameEnvelope(d, e) {
			t.Fatalf("Decode(Encode(e)) differs:\n%+v\n%+v", d, e)
		}
		if b2, err := events.Encode(d); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second encoding differs (%v):\n%q\n%q", err, b, b2)
		}
	})
}
